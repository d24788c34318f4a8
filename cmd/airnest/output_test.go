package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airnest/airnest"
)

// Ref holds airnest IDs in every shape a field can take.
type Ref struct {
	ID     airnest.ID[Ref]
	Ptr    *airnest.ID[User]
	Many   []airnest.ID[User]
	Fixed  [2]airnest.ID[User]
	ByName map[string]airnest.ID[User]
	Nested struct{ Owner airnest.ID[User] }
	Deep   []map[string]*airnest.ID[User]
	Raw    []byte // 16 bytes, not an ID: stays base64
}

// TestIDsAsUUIDs checks that get and dump show every ID as a UUID,
// wherever in a value it is, and leave other bytes alone.
func TestIDsAsUUIDs(t *testing.T) {
	binary := airnestBin(t)
	db := filepath.Join(t.TempDir(), "refs.db")
	ctx := context.Background()
	s := airnest.NewStore()
	refs := airnest.Collection[Ref](s)
	if err := s.Open(ctx, db, nil); err != nil {
		t.Fatal(err)
	}
	u1, u2 := airnest.NewID[User](), airnest.NewID[User]()
	r := Ref{Ptr: &u1, Many: []airnest.ID[User]{u1, u2}, Fixed: [2]airnest.ID[User]{u2, u1},
		ByName: map[string]airnest.ID[User]{"a": u1}, Deep: []map[string]*airnest.ID[User]{{"b": &u2}},
		Raw: make([]byte, 16)}
	r.Nested.Owner = u2
	if err := refs.Save(ctx, &r); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	want := map[string]any{
		"ID": r.ID.String(), "Ptr": u1.String(), "Many": []any{u1.String(), u2.String()},
		"Fixed": []any{u2.String(), u1.String()}, "ByName": map[string]any{"a": u1.String()},
		"Nested": map[string]any{"Owner": u2.String()}, "Deep": []any{map[string]any{"b": u2.String()}},
		"Raw": "AAAAAAAAAAAAAAAAAAAAAA==",
	}
	check := func(how string, got any) {
		t.Helper()
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		if string(g) != string(w) {
			t.Errorf("%s:\n got %s\nwant %s", how, g, w)
		}
	}
	var got any
	out := run(t, binary, "get", db, "Ref", r.ID.String())
	if err := json.Unmarshal([]byte(out.stdout), &got); err != nil {
		t.Fatalf("get: %v\n%s%s", err, out.stdout, out.stderr)
	}
	check("get", got)
	lines := ndjson(t, run(t, binary, "dump", db, "Ref").stdout)
	if len(lines) != 1 || lines[0]["id"] != r.ID.String() {
		t.Fatalf("dump: %v", lines)
	}
	check("dump", lines[0]["v"])
}

// TestNoProgressInPipes runs every command that can draw a progress bar
// with standard output and standard error connected to pipes (what
// exec.Cmd does with a buffer), as in a script or a CI log: no bar, no
// carriage return, nothing at all on standard error.
func TestNoProgressInPipes(t *testing.T) {
	binary := airnestBin(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "app.db")
	seed(t, db, 3000)
	ex := filepath.Join(dir, "export")
	for _, args := range [][]string{
		{"backup", db, filepath.Join(dir, "copy.db")},
		{"export", db, ex},
		{"import", filepath.Join(dir, "imported.db"), ex},
		{"verify", db},
		{"dump", db, "Job", "-o", filepath.Join(dir, "jobs.ndjson")},
		{"dump", db, "Job"},
		{"stats", db},
		{"vacuum", db},
	} {
		r := run(t, binary, args...)
		if r.code != exitOK {
			t.Fatalf("airnest %s: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
		}
		if r.stderr != "" {
			t.Errorf("airnest %s wrote to standard error in a pipe:\n%q", args[0], r.stderr)
		}
		if strings.ContainsAny(r.stdout, "\r\u2588") {
			t.Errorf("airnest %s drew a progress bar on standard output:\n%q", args[0], r.stdout)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "imported.db")); err != nil {
		t.Fatal(err)
	}
}
