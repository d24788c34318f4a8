package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/airnest/airnest"
	"github.com/airnest/airnest/internal/pgtest"
)

// The command on a postgres:// URL: the same output as on a file holding
// the same content, export and import across the two, and clear errors.

// seedSame writes the same values, IDs included, into every store at dsns
// through the library, as a program would.
func seedSame(t *testing.T, nJobs int, dsns ...string) ([]airnest.ID[Job], []airnest.ID[User]) {
	t.Helper()
	ctx := context.Background()
	var users []User
	for _, name := range []string{"ann", "bob", "Zoë"} {
		users = append(users, User{ID: airnest.NewID[User](), Name: name, Email: strings.ToUpper(name) + "@example.com"})
	}
	var jobs []Job
	for i := range nJobs {
		jobs = append(jobs, Job{
			ID: airnest.NewID[Job](), Status: []string{"pending", "running", "done"}[i%3], Priority: i % 5,
			Owner: users[i%2].ID, CreatedAt: time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC),
			Tags: []string{"t<&>", fmt.Sprint(i)}, Payload: []byte{byte(i), 0, 255},
			Steps: []Step{{Name: "fetch", Done: i%2 == 0}},
		})
	}
	for _, dsn := range dsns {
		s, jc, uc := openDeclared(t, dsn)
		for i := range users {
			if err := uc.Save(ctx, &users[i]); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := airnest.Migrate(ctx, uc, lowerEmail, &airnest.MigrateOptions{Name: "lowercase emails"}); err != nil {
			t.Fatal(err)
		}
		err := s.Tx(ctx, func(tx *airnest.Tx) error {
			for i := range jobs {
				if err := jc.In(tx).Save(ctx, &jobs[i]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	var jids []airnest.ID[Job]
	for _, j := range jobs {
		jids = append(jids, j.ID)
	}
	var uids []airnest.ID[User]
	for _, u := range users {
		uids = append(uids, u.ID)
	}
	return jids, uids
}

// times matches what differs between two stores written at different
// moments: when each collection was created and each migration ran.
var times = regexp.MustCompile(`"(created|started|finished)": "[^"]*"`)

func readExport(t *testing.T, dir string, normalize bool) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, name := range []string{"_meta.json", "Job.ndjson", "User.ndjson"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || len(b) == 0 {
			t.Fatalf("%s: %v (%d bytes)", name, err, len(b))
		}
		if normalize {
			b = times.ReplaceAll(b, []byte(`"$1": "..."`))
		}
		out[name] = string(b)
	}
	return out
}

func sameExport(t *testing.T, what string, a, b map[string]string) {
	t.Helper()
	for name, x := range a {
		if x != b[name] {
			t.Errorf("%s: %s differs:\n%.600s\n--- versus ---\n%.600s", what, name, x, b[name])
		}
	}
}

func TestURLSameOutputAsFile(t *testing.T) {
	t.Parallel()
	bin := airnestBin(t)
	url := pgtest.Database(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "app.db")
	jids, uids := seedSame(t, 120, file, url)

	// out runs one command on the file and on the URL, and returns both
	// outputs with the file's path and the URL left out.
	out := func(args ...string) (string, string) {
		t.Helper()
		var got [2]string
		for i, dsn := range []string{file, url} {
			full := make([]string, len(args))
			for j, a := range args {
				full[j] = strings.ReplaceAll(a, "DB", dsn)
			}
			r := want(t, bin, 0, nil, full...)
			got[i] = strings.ReplaceAll(r.stdout, dsn, "DB")
		}
		return got[0], got[1]
	}
	for _, args := range [][]string{
		{"ls", "DB"},
		{"ls", "--json", "DB"},
		{"get", "DB", "Job", jids[7].String()},
		{"get", "--raw", "DB", "Job", jids[8].String()},
		{"get", "DB", "user", uids[2].String()},
		{"dump", "DB", "Job"},
		{"dump", "--raw", "DB", "User"},
		{"dump", "DB", "Job", "--where", "status=done", "--where", "priority=2", "--raw"},
		{"dump", "DB", "Job", "--where", "owner=" + uids[1].String(), "--limit", "7"},
		{"dump", "DB", "Job", "--where", "created_at=2026-01-01T00:00:09Z"},
		{"verify", "DB"},
		{"verify", "--json", "DB"},
	} {
		f, p := out(args...)
		if f != p {
			t.Errorf("airnest %s: the URL's output differs from the file's:\n%.800s\n--- URL ---\n%.800s", strings.Join(args, " "), f, p)
		}
		if f == "" {
			t.Errorf("airnest %s printed nothing", strings.Join(args, " "))
		}
	}
	// stats: the database's own figures differ (pages for a file, the size
	// for a server); the collections do not.
	f, p := out("stats", "DB")
	_, fColls, _ := strings.Cut(f, "\n\n")
	head, pColls, _ := strings.Cut(p, "\n\n")
	if fColls != pColls || !strings.Contains(fColls, "Job         120") {
		t.Errorf("stats: the collections differ:\n%s\n--- URL ---\n%s", fColls, pColls)
	}
	if !strings.Contains(head, "database  DB\n") || !strings.Contains(head, "size      ") {
		t.Errorf("stats on a URL:\n%s", p)
	}

	// The count behind dump -o's progress bar.
	for _, dsn := range []string{file, url} {
		src, cs, err := openSnapshot(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := findCollection(cs, "Job")
		cond, _ := c.parseWhere("status=done")
		n := countRows(src.c, &rowQuery{c: c, where: []condition{cond}, limit: 7})
		src.close()
		if n != 7 {
			t.Errorf("countRows on %s: %d, want 7", dsn, n)
		}
	}

	// export: the same files, but for when each store was created.
	exFile, exURL := filepath.Join(dir, "ex-file"), filepath.Join(dir, "ex-url")
	want(t, bin, 0, []string{"exported Job: 120 values", "exported User: 3 values"}, "export", file, exFile)
	want(t, bin, 0, []string{"exported Job: 120 values", "exported User: 3 values"}, "export", url, exURL)
	sameExport(t, "export of the file and of the URL", readExport(t, exFile, true), readExport(t, exURL, true))
}

// exportFromPostgres exports a PostgreSQL database that seedSame filled
// with nJobs jobs into dir/ex.
func exportFromPostgres(t *testing.T, bin string, nJobs int) (dir, ex string) {
	t.Helper()
	src := pgtest.Database(t)
	seedSame(t, nJobs, src)
	dir = t.TempDir()
	ex = filepath.Join(dir, "ex")
	want(t, bin, 0, nil, "export", src, ex)
	return dir, ex
}

// Export from PostgreSQL, import into a file, export again: identical
// files. Import into a new PostgreSQL database: verified, and exported
// identical again.
func TestURLExportImportRoundTrip(t *testing.T) {
	t.Parallel()
	bin := airnestBin(t)
	dir, ex := exportFromPostgres(t, bin, 90)
	original := readExport(t, ex, false)

	file := filepath.Join(dir, "local.db")
	want(t, bin, 0, []string{"imported Job: 90 values", "imported the state of 1 migrations", "ok: 2 collections, 93 values"}, "import", file, ex)
	want(t, bin, 0, nil, "export", file, filepath.Join(dir, "ex-file"))
	sameExport(t, "PostgreSQL → export → import into a file → export", original, readExport(t, filepath.Join(dir, "ex-file"), false))

	dst := pgtest.Database(t)
	r := want(t, bin, 0, []string{"imported Job: 90 values", "imported User: 3 values", "imported the state of 1 migrations", "ok: 2 collections, 93 values, no problems"}, "import", dst, ex)
	if !strings.Contains(r.stdout, "verify "+dst+": ok") {
		t.Errorf("import did not verify the database:\n%s", r.stdout)
	}
	want(t, bin, 0, nil, "export", dst, filepath.Join(dir, "ex-pg"))
	sameExport(t, "PostgreSQL → export → import into PostgreSQL → export", original, readExport(t, filepath.Join(dir, "ex-pg"), false))
	want(t, bin, 0, []string{"ok: 2 collections, 93 values, no problems"}, "verify", dst)

	// The imported database is a working store for the program.
	ctx := context.Background()
	s, jobs, users := openDeclared(t, dst)
	if n, err := jobs.Where(airnest.Eq("status", "done")).Count(ctx); n != 30 || err != nil {
		t.Fatalf("a query on an imported index: %d, %v", n, err)
	}
	if err := users.Save(ctx, &User{Name: "ann"}); err == nil {
		t.Fatal("the unique index was not imported")
	}
	if n, err := airnest.Migrate(ctx, users, lowerEmail, &airnest.MigrateOptions{Name: "lowercase emails"}); n != 0 || err != nil {
		t.Fatalf("a finished migration ran again on the imported database: %d, %v", n, err)
	}
	s.Close()

	// A database that holds airnest tables is refused, and left as it is.
	want(t, bin, 1, []string{"already holds airnest tables", "new, empty database"}, "import", dst, ex)
	want(t, bin, 0, []string{"ok: 2 collections, 93 values"}, "verify", dst)
}

// A failed import into PostgreSQL leaves nothing: a line that does not
// parse rolls the transaction back, and an import that fails verify is
// dropped again.
func TestURLImportFailureLeavesNothing(t *testing.T) {
	t.Parallel()
	bin := airnestBin(t)
	dir, ex := exportFromPostgres(t, bin, 30)
	damage := func(name, file, old, new string) string {
		bad := filepath.Join(dir, name)
		if err := os.CopyFS(bad, os.DirFS(ex)); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(bad, file)
		b, _ := os.ReadFile(p)
		lines := strings.SplitAfter(string(b), "\n")
		n := len(lines) - 2 // the last line
		if !strings.Contains(lines[n], old) {
			t.Fatalf("%s: no %q in %s", file, old, lines[n])
		}
		lines[n] = strings.Replace(lines[n], old, new, 1)
		os.WriteFile(p, []byte(strings.Join(lines, "")), 0o644)
		return bad
	}
	for _, tc := range []struct {
		name, dir string
		say       []string
	}{
		// User is imported after Job: Job's rows were written already.
		{"bad cbor", damage("bad-cbor", "User.ndjson", `"cbor":"`, `"cbor":"AAAA`), []string{"User.ndjson:3", "nothing was imported"}},
		// An index column that disagrees with its value passes the line
		// checks and fails verify.
		{"fails verify", damage("bad-column", "Job.ndjson", `"priority":4`, `"priority":3`), []string{"failed verify", "removed again"}},
	} {
		dst := pgtest.Database(t)
		r := want(t, bin, 1, tc.say, "import", dst, tc.dir)
		if strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%s: the error spans several lines:\n%s", tc.name, r.stderr)
		}
		want(t, bin, 1, []string{"not an airnest store"}, "ls", dst)
		// Nothing is left at all: a second import of the sound export works.
		want(t, bin, 0, []string{"ok: 2 collections, 33 values"}, "import", dst, ex)
	}
}

func TestURLBackupVacuumAdvice(t *testing.T) {
	t.Parallel()
	bin := airnestBin(t)
	url := "postgres://app:s3cret@db.example.com/app"
	file := filepath.Join(t.TempDir(), "app.db")
	for _, tc := range []struct {
		args []string
		say  []string
	}{
		{[]string{"backup", url, file}, []string{"pg_dump", "airnest copy URL FILE.db", "postgres://app@db.example.com/app"}},
		{[]string{"backup", "--no-verify", file, url}, []string{"airnest copy FILE URL"}},
		{[]string{"vacuum", url}, []string{"autovacuum", "VACUUM"}},
		{[]string{"vacuum", "postgresql://app:s3cret@db.example.com/app"}, []string{"autovacuum"}},
	} {
		r := want(t, bin, exitUsage, tc.say, tc.args...)
		if strings.Contains(r.stderr, "s3cret") {
			t.Errorf("airnest %s shows the password:\n%s", tc.args[0], r.stderr)
		}
	}
	if _, err := os.Stat(file); err == nil {
		t.Error("backup to a URL created a file")
	}
}

// silentServer accepts connections and never answers, as a server behind
// a network that drops every packet would.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { <-done; c.Close() }()
		}
	}()
	return l.Addr().String()
}

func TestURLErrors(t *testing.T) {
	t.Parallel()
	bin := airnestBin(t)
	srv := pgtest.Shared(t)
	empty := pgtest.Database(t)
	secret := "s3cret-pw"
	withPassword := func(u string) string { return strings.Replace(u, "postgres@", "postgres:"+secret+"@", 1) }
	silent := silentServer(t)
	// Nothing listens on the port of a listener just closed.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := l.Addr().String()
	l.Close()
	id := airnest.NewID[Job]().String()
	dir := t.TempDir()
	out, ex := filepath.Join(dir, "out"), filepath.Join(dir, "ex")
	seedSame(t, 3, filepath.Join(dir, "app.db"))
	want(t, bin, 0, nil, "export", filepath.Join(dir, "app.db"), ex)

	for _, tc := range []struct {
		name, url string
		code      int
		say       []string
	}{
		{"bad URL", "postgres://postgres:" + secret + "@localhost:notaport/db", exitProblem, []string{"bad URL"}},
		// Without sslmode=disable the driver tries twice, and its message
		// has a line for each attempt.
		{"refused", "postgres://postgres:" + secret + "@" + refused + "/db", exitProblem, []string{"cannot connect", "no server is listening"}},
		{"no such database", withPassword(srv.DSN("nosuchdb")), exitProblem, []string{"does not exist", `"nosuchdb"`}},
		{"no airnest tables", withPassword(empty), exitProblem, []string{"not an airnest store"}},
		{"silent, connect_timeout", "postgres://postgres:" + secret + "@" + silent + "/db?sslmode=disable&connect_timeout=1", exitProblem, []string{"did not answer in time"}},
	} {
		for _, args := range [][]string{
			{"ls", tc.url}, {"get", tc.url, "Job", id}, {"dump", tc.url, "Job"}, {"export", tc.url, out},
			{"import", tc.url, ex}, {"verify", tc.url}, {"stats", tc.url},
		} {
			if args[0] == "import" && tc.name == "no airnest tables" {
				continue // an empty database is where import goes
			}
			say := tc.say
			if args[0] == "verify" && tc.name == "no airnest tables" {
				// verify reports what it found, as on a plain SQLite file.
				say = []string{"1 problems found"}
			}
			r := want(t, bin, tc.code, say, args...)
			if len(say) != len(tc.say) && !strings.Contains(r.stdout, "not an airnest store") {
				t.Errorf("verify of an empty database:\n%s", r.stdout)
			}
			what := tc.name + ": airnest " + strings.Join(args, " ")
			if strings.Contains(r.stderr, secret) {
				t.Errorf("%s shows the password:\n%s", what, r.stderr)
			}
			if strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("%s: the error spans several lines:\n%s", what, r.stderr)
			}
			if strings.Contains(r.stderr, "panic") {
				t.Errorf("%s panicked:\n%s", what, r.stderr)
			}
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed export created its directory")
	}
	// The empty database is still empty: nothing wrote to it.
	if names := tableNames(t, empty); len(names) != 0 {
		t.Errorf("the commands created tables in an empty database: %v", names)
	}
}

// tableNames lists the tables of the database at dsn.
func tableNames(t *testing.T, dsn string) []string {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	rows, err := c.Query(ctx, "SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = current_schema()")
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// A server whose collation sorts words as people do (ICU's en-US: "alpha"
// before "Zeta") still lists collections byte-wise, as SQLite does, so the
// output is the same.
func TestURLOrderIsBytewise(t *testing.T) {
	t.Parallel()
	bin := airnestBin(t)
	srv := pgtest.Shared(t)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, srv.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("icu_%d", os.Getpid())
	_, err = admin.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'")
	admin.Close(ctx)
	if err != nil {
		t.Skipf("no ICU collation on this server: %v", err)
	}
	url := srv.DSN(name)
	file := filepath.Join(t.TempDir(), "app.db")
	for _, dsn := range []string{file, url} {
		s := airnest.NewStore()
		zeta := airnest.Collection[User](s, airnest.Name("Zeta"))
		alpha := airnest.Collection[User](s, airnest.Name("alpha"))
		if err := s.Open(ctx, dsn, nil); err != nil {
			t.Fatal(err)
		}
		for _, c := range []*airnest.Coll[User]{zeta, alpha} {
			if err := c.Save(ctx, &User{Name: "x"}); err != nil {
				t.Fatal(err)
			}
		}
		s.Close()
	}
	f := want(t, bin, 0, nil, "ls", file).stdout
	p := want(t, bin, 0, nil, "ls", url).stdout
	if f != p || strings.Index(p, "Zeta") > strings.Index(p, "alpha") {
		t.Errorf("ls on a file:\n%s\nls on a URL with an ICU collation:\n%s", f, p)
	}
	fs := want(t, bin, 0, nil, "stats", file).stdout
	ps := want(t, bin, 0, nil, "stats", url).stdout
	if _, fc, _ := strings.Cut(fs, "\n\n"); !strings.HasSuffix(ps, fc) {
		t.Errorf("stats on a file:\n%s\nstats on a URL with an ICU collation:\n%s", fs, ps)
	}
}

// --timeout bounds a command on a server that never answers, however long
// the URL lets a connection attempt take.
func TestURLTimeout(t *testing.T) {
	t.Parallel()
	url := "postgres://postgres:s3cret@" + silentServer(t) + "/db?sslmode=disable&connect_timeout=600"
	for _, cmd := range []string{"ls", "verify", "stats"} {
		var stdout, stderr bytes.Buffer
		a := &app{stdout: &stdout, stderr: &stderr}
		code := make(chan int, 1)
		go func() { code <- a.run(context.Background(), []string{"--timeout", "1s", cmd, url}) }()
		select {
		case c := <-code:
			if c != exitProblem || !strings.Contains(stderr.String(), "did not answer in time") ||
				!strings.Contains(stderr.String(), "gave up after --timeout 1s") || strings.Contains(stderr.String(), "s3cret") {
				t.Errorf("airnest --timeout 1s %s on a silent server: exit %d\n%s", cmd, c, stderr.String())
			}
		case <-time.After(time.Minute):
			t.Fatalf("airnest --timeout 1s %s on a silent server still runs after a minute", cmd)
		}
	}
}
