package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/sqlgen"
	"github.com/airnest/airnest/internal/sqlite"
)

// hostile is a name no program could have declared, planted into a real
// file with SQL (as someone with the sqlite3 shell would) and into an
// export's _meta.json.
type hostile struct {
	name  string
	quote []string // what the error must show, %q-quoted
	file  func(t *testing.T, c *sqlite.Conn)
	meta  func(t *testing.T, m *exportMeta)
}

func plantSQL(t *testing.T, c *sqlite.Conn, sql string, args ...any) {
	t.Helper()
	if err := c.Each(sql, args, nil); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// metaCollection finds a collection of an export's _meta.json.
func metaCollection(m *exportMeta, name string) *exportCollection {
	for i := range m.Collections {
		if m.Collections[i].Name == name {
			return &m.Collections[i]
		}
	}
	panic("no collection " + name)
}

// renamedColumn is Job's schema document with the column status renamed.
func renamedColumn(t *testing.T, schemaJSON []byte, to string) []byte {
	var sc schema
	if err := json.Unmarshal(schemaJSON, &sc); err != nil {
		t.Fatal(err)
	}
	for i := range sc.Columns {
		if sc.Columns[i].Name == "status" {
			sc.Columns[i].Name = to
		}
	}
	for _, comp := range sc.Composites {
		for i := range comp.Columns {
			if comp.Columns[i] == "status" {
				comp.Columns[i] = to
			}
		}
	}
	b, err := json.Marshal(sc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hostileCollection(label, bad string) hostile {
	return hostile{
		name:  "collection " + label,
		quote: []string{quoteName(bad)},
		file: func(t *testing.T, c *sqlite.Conn) {
			plantSQL(t, c, "UPDATE _airnest_collections SET name = ? WHERE name = 'User'", bad)
			plantSQL(t, c, "UPDATE _airnest_keys SET collection = ? WHERE collection = 'User'", bad)
			plantSQL(t, c, "UPDATE _airnest_migrations SET collection = ? WHERE collection = 'User'", bad)
			// The table too, so that nothing but the name check stops the
			// command (SQL text cannot hold a NUL: that one stays).
			if !strings.ContainsRune(bad, 0) {
				plantSQL(t, c, `ALTER TABLE "User" RENAME TO `+sqlgen.Quote(bad))
			}
		},
		meta: func(t *testing.T, m *exportMeta) {
			ec := metaCollection(m, "User")
			ec.Name, ec.File = bad, bad+".ndjson"
			for i := range m.Migrations {
				m.Migrations[i].Collection = bad
			}
		},
	}
}

func hostileColumn(label, bad string) hostile {
	return hostile{
		name:  "index column " + label,
		quote: []string{quoteName(bad)},
		file: func(t *testing.T, c *sqlite.Conn) {
			var cols string
			c.Each("SELECT columns FROM _airnest_collections WHERE name = 'Job'", nil, func(st backend.Stmt) error {
				cols = st.ColumnText(0)
				return nil
			})
			plantSQL(t, c, "UPDATE _airnest_collections SET columns = ? WHERE name = 'Job'", string(renamedColumn(t, []byte(cols), bad)))
		},
		meta: func(t *testing.T, m *exportMeta) {
			ec := metaCollection(m, "Job")
			ec.Schema = renamedColumn(t, ec.Schema, bad)
		},
	}
}

func hostileCases(outside string) []hostile {
	long := strings.Repeat("a", 5000)
	cases := []hostile{
		hostileCollection("escaping its directory", "../../PWNED"),
		hostileCollection("absolute path", filepath.Join(outside, "ABS")),
		hostileCollection("with a slash", "a/b"),
		hostileCollection("with NUL", "Us\x00er"),
		hostileCollection("with quotes", `Us"er'`),
		hostileCollection("with newline", "User\nJob  300  fake"),
		hostileCollection("very long", long),
		hostileColumn("escaping", "../st"),
		hostileColumn("with newline and quote", "st\"a\ntus"),
		{
			name:  "collection names differing only in case",
			quote: []string{`"JOB"`, `"Job"`},
			file: func(t *testing.T, c *sqlite.Conn) {
				plantSQL(t, c, "INSERT INTO _airnest_collections SELECT 'JOB', go_type, columns, created FROM _airnest_collections WHERE name = 'Job'")
			},
			meta: func(t *testing.T, m *exportMeta) {
				ec := *metaCollection(m, "Job")
				ec.Name, ec.File = "JOB", "JOB.ndjson"
				m.Collections = append(m.Collections, ec)
			},
		},
	}
	for _, bad := range []string{"Na\nme", "Na\x00me", "Na.me", "\x1b[2J", strings.Repeat("k", 2000)} {
		cases = append(cases, hostile{
			name:  fmt.Sprintf("stored field name %.12q", bad),
			quote: []string{quoteName(bad)},
			file: func(t *testing.T, c *sqlite.Conn) {
				plantSQL(t, c, "UPDATE _airnest_keys SET name = ? WHERE collection = 'Job' AND name = 'Status'", bad)
			},
			meta: func(t *testing.T, m *exportMeta) {
				ec := metaCollection(m, "Job")
				for i := range ec.Keys {
					if ec.Keys[i].Name == "Status" {
						ec.Keys[i].Name = bad
					}
				}
			},
		})
	}
	for _, bad := range []string{"m\r\nverify app.db: ok", long} {
		cases = append(cases, hostile{
			name:  fmt.Sprintf("migration name %.12q", bad),
			quote: []string{quoteName(bad)},
			file: func(t *testing.T, c *sqlite.Conn) {
				plantSQL(t, c, "UPDATE _airnest_migrations SET name = ?", bad)
			},
			meta: func(t *testing.T, m *exportMeta) { m.Migrations[0].Name = bad },
		})
	}
	bad := "main.Job\nUser  2"
	cases = append(cases, hostile{
		name:  "Go type with newline",
		quote: []string{quoteName(bad)},
		file: func(t *testing.T, c *sqlite.Conn) {
			plantSQL(t, c, "UPDATE _airnest_collections SET go_type = ? WHERE name = 'Job'", bad)
		},
		meta: func(t *testing.T, m *exportMeta) { metaCollection(m, "Job").GoType = bad },
	})
	return cases
}

// tree lists every file under dir with a hash of its contents, leaving
// out SQLite's -wal and -shm files (a reader may create them).
func tree(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasSuffix(p, "-wal") || strings.HasSuffix(p, "-shm") {
			return nil
		}
		var sum [32]byte
		if !d.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum = sha256.Sum256(b)
		}
		out[p] = sum
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestHostileNames plants names no program could declare into a real
// file and into an export, then runs every command on them: each must
// refuse with status 1, quote the name, print nothing on standard output
// and write no file anywhere.
func TestHostileNames(t *testing.T) {
	binary := airnestBin(t)
	base := t.TempDir()
	clean := filepath.Join(base, "clean.db")
	jids, _ := seed(t, clean, 5)
	cleanExport := filepath.Join(base, "clean-export")
	want(t, binary, 0, nil, "export", clean, cleanExport)
	cleanBytes, err := os.ReadFile(clean)
	if err != nil {
		t.Fatal(err)
	}

	for i, h := range hostileCases(filepath.Join(base, "outside")) {
		t.Run(h.name, func(t *testing.T) {
			root := filepath.Join(base, fmt.Sprint("case", i))
			data := filepath.Join(root, "data")
			out := filepath.Join(data, "out")
			if err := os.MkdirAll(out, 0o755); err != nil {
				t.Fatal(err)
			}
			db := filepath.Join(data, "app.db")
			if err := os.WriteFile(db, cleanBytes, 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := sqlite.Open(context.Background(), fileConfig(db), false)
			if err != nil {
				t.Fatal(err)
			}
			h.file(t, c)
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}

			ex := filepath.Join(data, "export")
			if err := os.CopyFS(ex, os.DirFS(cleanExport)); err != nil {
				t.Fatal(err)
			}
			var meta exportMeta
			b, _ := os.ReadFile(filepath.Join(ex, metaFile))
			if err := json.Unmarshal(b, &meta); err != nil {
				t.Fatal(err)
			}
			h.meta(t, &meta)
			if b, err = json.Marshal(meta); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(ex, metaFile), b, 0o644); err != nil {
				t.Fatal(err)
			}

			commands := [][]string{
				{"ls", db}, {"get", db, "Job", jids[0].String()}, {"dump", db, "Job"},
				{"export", db, filepath.Join(out, "export")}, {"import", filepath.Join(out, "new.db"), ex},
				{"verify", db}, {"stats", db}, {"backup", db, filepath.Join(out, "copy.db")}, {"vacuum", db},
			}
			before := tree(t, base)
			for _, args := range commands {
				r := run(t, binary, args...)
				if r.code != exitProblem {
					t.Errorf("airnest %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args[0], r.code, exitProblem, r.stdout, r.stderr)
				}
				if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine") {
					t.Errorf("airnest %s panicked:\n%s", args[0], r.stderr)
				}
				if r.stdout != "" {
					t.Errorf("airnest %s printed on standard output:\n%s", args[0], r.stdout)
				}
				for _, q := range h.quote {
					if !strings.Contains(r.stderr, q) {
						t.Errorf("airnest %s: the error does not name %.40s...:\n%.300s", args[0], q, r.stderr)
					}
				}
				if strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
					t.Errorf("airnest %s: the error spans several lines (an unquoted name?):\n%.300s", args[0], r.stderr)
				}
				after := tree(t, base)
				for p, sum := range after {
					if old, ok := before[p]; !ok {
						t.Errorf("airnest %s created %s", args[0], p)
					} else if old != sum {
						t.Errorf("airnest %s changed %s", args[0], p)
					}
				}
				before = after
			}
		})
	}
}
