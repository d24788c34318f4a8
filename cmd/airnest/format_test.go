package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airnest/airnest"
)

// The command refuses a file of a newer airnest format or of another
// application, reading or writing, as the library does.
func TestCommandChecksTheFormat(t *testing.T) {
	bin := airnestBin(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name, pragma, mention string
	}{
		{"newer", "PRAGMA user_version = 99", "format version 99, newer than this release's 1"},
		{"foreign", "PRAGMA application_id = 1234", "not an airnest file"},
	} {
		path := filepath.Join(dir, tc.name+".db")
		s, err := airnest.Open(context.Background(), path, nil)
		if err != nil {
			t.Fatal(err)
		}
		db, err := s.DB()
		if err == nil {
			_, err = db.Exec(tc.pragma)
		}
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"ls", path}, {"verify", path}, {"stats", path}} {
			r := run(t, bin, args...)
			if r.code != 1 || !strings.Contains(r.stdout+r.stderr, tc.mention) {
				t.Fatalf("airnest %v on a %s file: exit %d\n%s%s", args, tc.name, r.code, r.stdout, r.stderr)
			}
		}
	}
}
