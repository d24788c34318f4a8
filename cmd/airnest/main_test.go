package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airnest/airnest"
	"github.com/airnest/airnest/internal/pgtest"
	"github.com/airnest/airnest/internal/sqlite"
)

// The types of the program whose file the command reads. The command
// itself never sees them.
type Step struct {
	Name string
	Done bool
}

type User struct {
	ID    airnest.ID[User]
	Name  string
	Email string
}

type Job struct {
	ID        airnest.ID[Job]
	Status    string
	Priority  int
	Owner     airnest.ID[User]
	CreatedAt time.Time
	Tags      []string
	Payload   []byte
	Steps     []Step
}

func declare(s *airnest.Store) (*airnest.Coll[Job], *airnest.Coll[User]) {
	return airnest.Collection[Job](s, airnest.Index("status", "priority", "owner", "created_at", "status,priority")),
		airnest.Collection[User](s, airnest.Unique("name"))
}

// fileConfig opens a file as the program does, for tests that edit it
// behind the command's back.
func fileConfig(path string) sqlite.Config {
	return sqlite.Config{URI: sqlite.FileURI(path), Synchronous: "FULL", BusyTimeout: busyTimeout, HeapLimit: 256 << 20}
}

func TestMain(m *testing.M) {
	if ok, err := child(); ok {
		if err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	pgtest.StopShared()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// openDeclared opens path as the program does; it is closed when the
// test ends, if not before.
func openDeclared(t testing.TB, path string) (*airnest.Store, *airnest.Coll[Job], *airnest.Coll[User]) {
	t.Helper()
	s := airnest.NewStore()
	jobs, users := declare(s)
	if err := s.Open(context.Background(), path, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, jobs, users
}

// seed writes the file the commands read: nJobs jobs, two users.
func seed(t testing.TB, path string, nJobs int) ([]airnest.ID[Job], []airnest.ID[User]) {
	t.Helper()
	ctx := context.Background()
	s, jobs, users := openDeclared(t, path)
	defer s.Close()
	var uids []airnest.ID[User]
	for _, name := range []string{"ann", "bob"} {
		u := User{Name: name, Email: name + "@example.com"}
		if err := users.Save(ctx, &u); err != nil {
			t.Fatal(err)
		}
		uids = append(uids, u.ID)
	}
	// A finished migration: its state travels with export and import.
	if _, err := airnest.Migrate(ctx, users, lowerEmail, &airnest.MigrateOptions{Name: "lowercase emails"}); err != nil {
		t.Fatal(err)
	}
	var jids []airnest.ID[Job]
	err := s.Tx(ctx, func(tx *airnest.Tx) error {
		for i := range nJobs {
			status := []string{"pending", "running", "done"}[i%3]
			j := Job{
				Status: status, Priority: i % 5, Owner: uids[i%2],
				CreatedAt: time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC),
				Tags:      []string{"t<&>", fmt.Sprint(i)}, Payload: []byte{byte(i), 0, 255},
				Steps: []Step{{Name: "fetch", Done: i%2 == 0}},
			}
			if err := jobs.In(tx).Save(ctx, &j); err != nil {
				return err
			}
			jids = append(jids, j.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return jids, uids
}

func lowerEmail(u User) (User, error) {
	u.Email = strings.ToLower(u.Email)
	return u, nil
}

type result struct {
	code           int
	stdout, stderr string
}

// built is the command, built once for all the tests of a run.
var built struct {
	once      sync.Once
	dir, path string
	err       error
}

// airnestBin builds the command once per test run.
func airnestBin(t testing.TB) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "airnest-bin-"); built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "airnest")
		out, err := exec.Command("go", "build", "-o", built.path, ".").CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

func run(t *testing.T, bin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("airnest %v: %v", args, err)
	}
	return r
}

// want runs the command and checks its exit status and that stdout (for
// status 0) or stderr contains each of the strings.
func want(t *testing.T, bin string, code int, contains []string, args ...string) result {
	t.Helper()
	r := run(t, bin, args...)
	if r.code != code {
		t.Fatalf("airnest %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, code, r.stdout, r.stderr)
	}
	out := r.stdout
	if code != 0 {
		out = r.stderr
	}
	for _, s := range contains {
		if !strings.Contains(out, s) {
			t.Fatalf("airnest %s: output lacks %q:\n%s", strings.Join(args, " "), s, out)
		}
	}
	return r
}

func ndjson(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func TestCommand(t *testing.T) {
	bin := airnestBin(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "app.db")
	jids, uids := seed(t, db, 300)

	t.Run("help", func(t *testing.T) {
		want(t, bin, 0, []string{"Exit status:", "0  success", "2  usage error", "backup", "vacuum"}, "--help")
		for _, sub := range []string{"ls", "get", "dump", "export", "import", "backup", "verify", "stats", "vacuum"} {
			want(t, bin, 0, []string{"Usage:", "airnest " + sub}, sub, "--help")
		}
		want(t, bin, 2, []string{"no command given"})
		want(t, bin, 2, []string{`unknown command "frobnicate"`}, "frobnicate")
		want(t, bin, 2, []string{"usage: airnest get FILE COLLECTION ID"}, "get", db)
		want(t, bin, 2, []string{"unknown flag"}, "ls", "--nope", db)
	})

	t.Run("ls", func(t *testing.T) {
		r := want(t, bin, 0, []string{"COLLECTION", "Job", "300", "status TEXT", "priority INTEGER", "status+priority", "main.Job", "User", "name TEXT unique"}, "ls", db)
		if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 3 {
			t.Fatalf("ls printed %d lines:\n%s", len(lines), r.stdout)
		}
		r = want(t, bin, 0, nil, "ls", "--json", db)
		var list []struct {
			Name      string
			Rows      int
			BlobBytes int `json:"blob_bytes"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].Name != "Job" || list[0].Rows != 300 || list[0].BlobBytes < 300*50 || list[1].Rows != 2 {
			t.Fatalf("ls --json: %+v", list)
		}
		want(t, bin, 1, []string{"no such file"}, "ls", filepath.Join(dir, "missing.db"))
		notOurs := filepath.Join(dir, "plain.txt")
		os.WriteFile(notOurs, []byte("hello"), 0o644)
		want(t, bin, 1, []string{"plain.txt"}, "ls", notOurs)
	})

	t.Run("get", func(t *testing.T) {
		r := want(t, bin, 0, nil, "get", db, "Job", jids[4].String())
		var v map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
			t.Fatal(err)
		}
		// Field names restored, IDs as UUIDs, times as RFC 3339, bytes base64.
		if v["ID"] != jids[4].String() || v["Owner"] != uids[0].String() || v["Status"] != "running" ||
			v["Priority"] != 4.0 || v["CreatedAt"] != "2026-01-01T00:00:04Z" || v["Payload"] != "BAD/" {
			t.Fatalf("get: %v", v)
		}
		if tags := v["Tags"].([]any); tags[0] != "t<&>" {
			t.Fatalf("tags %v", tags)
		}
		if steps := v["Steps"].([]any); steps[0].(map[string]any)["Name"] != "fetch" {
			t.Fatalf("steps %v", steps)
		}
		if !strings.Contains(r.stdout, "\n  \"Status\": \"running\",\n") {
			t.Fatalf("get does not indent:\n%s", r.stdout)
		}
		want(t, bin, 0, []string{`"cbor": "`, `"columns": {`, `"status": "running"`}, "get", "--raw", db, "Job", jids[4].String())
		want(t, bin, 0, []string{`"Name": "bob"`}, "get", db, "User", uids[1].String())
		want(t, bin, 1, []string{"no value with id"}, "get", db, "Job", airnest.NewID[Job]().String())
		want(t, bin, 1, []string{`no collection "Nope"`, "collections: Job, User"}, "get", db, "Nope", jids[0].String())
		want(t, bin, 2, []string{"not a UUID"}, "get", db, "Job", "123")
	})

	t.Run("dump", func(t *testing.T) {
		r := want(t, bin, 0, nil, "dump", db, "Job")
		lines := ndjson(t, r.stdout)
		if len(lines) != 300 {
			t.Fatalf("dump: %d lines", len(lines))
		}
		for i, l := range lines {
			if l["id"] != jids[i].String() || l["v"].(map[string]any)["ID"] != jids[i].String() {
				t.Fatalf("line %d: %v, want id %s (ID order)", i, l, jids[i])
			}
			if _, ok := l["cbor"]; ok {
				t.Fatal("dump without --raw printed cbor")
			}
		}
		r = want(t, bin, 0, nil, "dump", db, "Job", "--where", "status=done", "--where", "priority=2")
		for _, l := range ndjson(t, r.stdout) {
			v := l["v"].(map[string]any)
			if v["Status"] != "done" || v["Priority"] != 2.0 {
				t.Fatalf("--where status=done priority=2 gave %v", v)
			}
		}
		if n := len(ndjson(t, r.stdout)); n != 20 {
			t.Fatalf("--where status=done --where priority=2: %d lines, want 20", n)
		}
		r = want(t, bin, 0, nil, "dump", db, "Job", "--where", "owner="+uids[1].String(), "--limit", "7")
		if n := len(ndjson(t, r.stdout)); n != 7 {
			t.Fatalf("--limit 7: %d lines", n)
		}
		r = want(t, bin, 0, nil, "dump", db, "Job", "--where", "created_at=2026-01-01T00:00:09Z", "--raw")
		if l := ndjson(t, r.stdout); len(l) != 1 || l[0]["id"] != jids[9].String() || l[0]["cbor"] == nil {
			t.Fatalf("--where created_at=...: %v", l)
		}
		out := filepath.Join(dir, "jobs.ndjson")
		want(t, bin, 0, nil, "dump", db, "Job", "-o", out)
		if b, _ := os.ReadFile(out); len(ndjson(t, string(b))) != 300 {
			t.Fatal("dump -o wrote the wrong number of lines")
		}
		want(t, bin, 2, []string{`no index column "color"`, "status, priority, owner, created_at"}, "dump", db, "Job", "--where", "color=red")
		want(t, bin, 2, []string{"column priority is INTEGER"}, "dump", db, "Job", "--where", "priority=high")
		want(t, bin, 2, []string{"want column=value"}, "dump", db, "Job", "--where", "status")
		want(t, bin, 1, []string{`no collection "Nope"`}, "dump", db, "Nope")
	})

	t.Run("export-import", func(t *testing.T) {
		ex1, ex2 := filepath.Join(dir, "ex1"), filepath.Join(dir, "ex2")
		want(t, bin, 0, []string{"exported Job: 300 values", "exported User: 2 values", "_meta.json"}, "export", db, ex1)
		restored := filepath.Join(dir, "restored.db")
		want(t, bin, 0, []string{"imported Job: 300 values", "imported User: 2 values", "imported the state of 1 migrations", "ok: 2 collections, 302 values"}, "import", restored, ex1)
		if meta, _ := os.ReadFile(filepath.Join(ex1, "_meta.json")); !strings.Contains(string(meta), `"name": "lowercase emails"`) {
			t.Fatalf("_meta.json lacks the migration:\n%s", meta)
		}
		want(t, bin, 0, nil, "export", restored, ex2)
		for _, name := range []string{"_meta.json", "Job.ndjson", "User.ndjson"} {
			a, _ := os.ReadFile(filepath.Join(ex1, name))
			b, _ := os.ReadFile(filepath.Join(ex2, name))
			if len(a) == 0 || !bytes.Equal(a, b) {
				t.Fatalf("%s differs after export, import, export", name)
			}
		}
		// The restored file is a working store for the program.
		ctx := context.Background()
		s := airnest.NewStore()
		jobs, users := declare(s)
		if err := s.Open(ctx, restored, nil); err != nil {
			t.Fatal(err)
		}
		j, err := jobs.Load(ctx, jids[7])
		if err != nil || j.Owner != uids[1] || j.Tags[1] != "7" {
			t.Fatalf("restored job: %+v, %v", j, err)
		}
		if err := users.Save(ctx, &User{Name: "ann"}); !errors.Is(err, airnest.ErrConflict) {
			t.Fatal("the unique index was not restored:", err)
		}
		if n, _ := jobs.Where(airnest.Eq("status", "done")).Count(ctx); n != 100 {
			t.Fatalf("query on a restored index: %d", n)
		}
		if n, err := airnest.Migrate(ctx, users, lowerEmail, &airnest.MigrateOptions{Name: "lowercase emails"}); n != 0 || err != nil {
			t.Fatalf("a finished migration ran again on the imported file: %d, %v", n, err)
		}
		s.Close()

		want(t, bin, 1, []string{"already exists"}, "import", restored, ex1)
		want(t, bin, 1, []string{"not empty"}, "export", db, ex1)

		// A damaged line late in a file, or in the last collection after
		// the first was imported: nothing is left at the destination, not
		// even a temporary file beside it.
		bad := filepath.Join(dir, "bad")
		os.MkdirAll(bad, 0o755)
		b, _ := os.ReadFile(filepath.Join(ex1, "Job.ndjson"))
		for _, damage := range []struct{ file, want string }{{"Job.ndjson", "Job.ndjson:300"}, {"User.ndjson", "User.ndjson:2"}} {
			for _, name := range []string{"_meta.json", "Job.ndjson", "User.ndjson"} {
				b, _ := os.ReadFile(filepath.Join(ex1, name))
				if name == damage.file {
					lines := strings.SplitAfter(string(b), "\n")
					n := len(lines) - 2 // the last line; the element after it is ""
					lines[n] = strings.Replace(lines[n], `"cbor":"`, `"cbor":"AAAA`, 1)
					b = []byte(strings.Join(lines, ""))
				}
				os.WriteFile(filepath.Join(bad, name), b, 0o644)
			}
			partial := filepath.Join(dir, "partial", "partial.db")
			os.MkdirAll(filepath.Dir(partial), 0o755)
			want(t, bin, 1, []string{damage.want, "nothing was imported"}, "import", partial, bad)
			if left, _ := os.ReadDir(filepath.Dir(partial)); len(left) != 0 {
				t.Fatalf("a failed import left %v", left)
			}
		}
		// v edited without cbor is refused too.
		lines := strings.SplitAfter(string(b), "\n")
		lines[3] = strings.Replace(lines[3], `"Status":"`, `"Status":"x`, 1)
		os.WriteFile(filepath.Join(bad, "Job.ndjson"), []byte(strings.Join(lines, "")), 0o644)
		want(t, bin, 1, []string{"Job.ndjson:4", "v is not what cbor holds"}, "import", filepath.Join(dir, "partial2.db"), bad)
	})

	t.Run("verify", func(t *testing.T) {
		want(t, bin, 0, []string{"ok: 2 collections, 302 values, no problems"}, "verify", db)
		r := want(t, bin, 0, nil, "verify", "--json", db)
		var rep airnest.VerifyReport
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || len(rep.Collections) != 2 {
			t.Fatalf("verify --json: %v\n%s", err, r.stdout)
		}
		// An index column that disagrees with its blob is found.
		damaged := filepath.Join(dir, "damaged.db")
		want(t, bin, 0, nil, "backup", "--no-verify", db, damaged)
		c, err := sqlite.Open(context.Background(), fileConfig(damaged), false)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Exec(`UPDATE "Job" SET status = 'bogus' WHERE priority = 1`); err != nil {
			t.Fatal(err)
		}
		c.Close()
		r = want(t, bin, 1, []string{"problems found"}, "verify", damaged)
		if !strings.Contains(r.stdout, "FAILED: 60 problems") || !strings.Contains(r.stdout, `index Job id `) || !strings.Contains(r.stdout, `column "status"`) {
			t.Fatalf("verify report:\n%s", r.stdout)
		}
		want(t, bin, 1, []string{"no such file"}, "verify", filepath.Join(dir, "missing.db"))
	})

	t.Run("stats-vacuum", func(t *testing.T) {
		want(t, bin, 0, []string{"journal mode  wal", "page size     4096", "free pages", "WAL", "Job         300"}, "stats", db)
		// Deleting most jobs leaves free pages for vacuum to give back.
		ctx := context.Background()
		s := airnest.NewStore()
		jobs, _ := declare(s)
		if err := s.Open(ctx, db, nil); err != nil {
			t.Fatal(err)
		}
		for _, id := range jids[:250] {
			jobs.Delete(ctx, id)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		r := want(t, bin, 0, nil, "stats", "--json", db)
		var st airnest.Stats
		if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
			t.Fatal(err)
		}
		if st.FreePages == 0 || st.Collections[0].Rows != 50 {
			t.Fatalf("stats after deleting: %+v", st)
		}
		vac := want(t, bin, 0, nil, "vacuum", db)
		r = want(t, bin, 0, nil, "stats", "--json", db)
		var after airnest.Stats
		json.Unmarshal([]byte(r.stdout), &after)
		if after.FreePages != 0 || after.PageCount >= st.PageCount {
			t.Fatalf("after vacuum: %d pages, %d free; before %d", after.PageCount, after.FreePages, st.PageCount)
		}
		// The report says plainly what happened, in pages and bytes.
		n := st.PageCount - after.PageCount
		for _, s := range []string{
			"vacuumed " + db + "\n",
			fmt.Sprintf("  database: %d pages (%s) before, %d pages (%s) after: %d pages (%s) reclaimed, %d of them free pages and %d by packing rows tighter\n",
				st.PageCount, size(st.FileBytes), after.PageCount, size(after.FileBytes), n, size(n*st.PageSize), st.FreePages, n-st.FreePages),
			"  WAL: ",
			fmt.Sprintf("  on disk, database and WAL: %s before, %s after: ", size(st.FileBytes+st.WALBytes), size(after.FileBytes)),
			"given back to the file system\n",
		} {
			if !strings.Contains(vac.stdout, s) {
				t.Fatalf("the vacuum report lacks %q:\n%s", s, vac.stdout)
			}
		}
		want(t, bin, 0, []string{"ok: 2 collections, 52 values"}, "verify", db)
	})
}
