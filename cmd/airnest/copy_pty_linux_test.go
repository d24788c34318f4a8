package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// airnest copy draws its bar on a terminal, and never into a pipe.
func TestCopyProgressOnlyOnTerminal(t *testing.T) {
	binary := airnestBin(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "app.db")
	seed(t, db, 3000)
	for i, onTTY := range []bool{true, false} {
		screen, piped := runOnPTY(t, true, onTTY, binary, "copy", db, filepath.Join(dir, []string{"a.db", "b.db"}[i]))
		if bar := strings.Contains(screen, "copy   0% |"); bar != onTTY {
			t.Errorf("bar drawn: %v, want %v; the terminal shows %q", bar, onTTY, screen)
		}
		if !strings.Contains(screen, "copied Job: 3000 values") {
			t.Errorf("the terminal shows %q", screen)
		}
		if strings.ContainsAny(piped, "\r\u2588") {
			t.Errorf("a bar went into a pipe: %q", piped)
		}
	}
}
