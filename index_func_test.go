package airnest_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/airnest/airnest"
)

type Acct struct {
	ID    airnest.ID[Acct]
	Email string
	Roles []string
}

func emailDomain(a *Acct) string {
	_, d, _ := strings.Cut(a.Email, "@")
	if d == "panic.example" {
		panic("no such domain")
	}
	return d
}

func openAccts(t *testing.T, dsn string, opts ...airnest.Option) (*airnest.Store, *airnest.Coll[Acct]) {
	t.Helper()
	return openColl[Acct](t, dsn, opts...)
}

func emails(t *testing.T, q *airnest.Query[Acct]) []string {
	t.Helper()
	return found(t, q, func(a Acct) string { return a.Email })
}

func TestIndexFunc(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, accts := openAccts(t, dsn)
		for _, e := range []string{"ann@b.example", "bob@a.example", "cy@b.example"} {
			if err := accts.Save(bg, &Acct{Email: e, Roles: []string{"user"}}); err != nil {
				t.Fatal(err)
			}
		}
		s.Close()
		// Added to stored values: back-filled at Open.
		upper := airnest.IndexFunc("admin_roles", func(a *Acct) []string {
			var out []string
			for _, r := range a.Roles {
				out = append(out, strings.ToUpper(r))
			}
			return out
		})
		s, accts = openAccts(t, dsn, airnest.IndexFunc("email_domain", emailDomain), upper, airnest.Index("email_domain,email"))
		if got := emails(t, accts.Where(airnest.Eq("EmailDomain", "b.example")).OrderByDesc("email")); !slices.Equal(got, []string{"cy@b.example", "ann@b.example"}) {
			t.Errorf("back-filled Eq email_domain: %v", got)
		}
		if got := emails(t, accts.Where(airnest.Prefix("email_domain", "a")).OrderBy("email_domain")); !slices.Equal(got, []string{"bob@a.example"}) {
			t.Errorf("Prefix email_domain: %v", got)
		}
		if n, err := accts.Where(airnest.Contains("admin_roles", "USER")).Count(bg); err != nil || n != 3 {
			t.Errorf("Contains admin_roles USER: %d, %v", n, err)
		}
		// Maintained on every write.
		v, err := accts.Where(airnest.Eq("email", "bob@a.example")).First(bg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := accts.Update(bg, v.ID, func(a *Acct) error { a.Email = "bob@c.example"; a.Roles = append(a.Roles, "admin"); return nil }); err != nil {
			t.Fatal(err)
		}
		if got := emails(t, accts.Where(airnest.Eq("email_domain", "c.example"), airnest.Contains("admin_roles", "ADMIN"))); !slices.Equal(got, []string{"bob@c.example"}) {
			t.Errorf("after Update: %v", got)
		}
		plan, err := accts.Where(airnest.Eq("email_domain", "c.example")).OrderBy("email").Explain(bg)
		// PostgreSQL reads three rows whole, by its cost estimates.
		if err != nil || backendOf(dsn) == "sqlite" && !strings.Contains(plan, "Acct__email_domain__email") {
			t.Errorf("plan does not use the composite index: %v\n%s", err, plan)
		}
		// A panic in the function fails that write, nothing else.
		err = accts.Save(bg, &Acct{Email: "x@panic.example"})
		if !errors.Is(err, airnest.ErrInvalid) || !strings.Contains(err.Error(), `index "email_domain"`) || !strings.Contains(err.Error(), "no such domain") {
			t.Errorf("Save with a panicking IndexFunc: %v", err)
		}
		if n, _ := accts.Count(bg); n != 3 {
			t.Errorf("%d values after the failed Save, want 3", n)
		}
		rep, err := s.Verify(bg)
		if err != nil || !rep.OK() {
			t.Fatalf("Verify: %v\n%s", err, rep)
		}
		db, err := s.DB()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`UPDATE "Acct" SET email_domain = 'forged'`); err != nil {
			t.Fatal(err)
		}
		if rep, err := s.Verify(bg); err != nil || len(rep.Problems) != 3 || rep.Problems[0].Column != "email_domain" {
			t.Errorf("Verify after forging email_domain: %v\n%s", err, rep)
		}
	})
}

func TestIndexFuncDeclarationErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		opts []airnest.Option
		want string
	}{
		{[]airnest.Option{airnest.IndexFunc("d", func(*Job) int { return 0 })}, `collection "Acct": IndexFunc "d" takes a *airnest_test.Job, but the collection holds airnest_test.Acct values`},
		{[]airnest.Option{airnest.IndexFunc("d", func(*Acct) chan int { return nil })}, `index "d": IndexFunc result: type chan int cannot be an index column`},
		{[]airnest.Option{airnest.IndexFunc("d", emailDomain), airnest.IndexFunc("D", emailDomain)}, `IndexFunc "d" and "D" have the same name`},
		{[]airnest.Option{airnest.IndexFunc("a.b", emailDomain)}, `IndexFunc "a.b": want a plain name`},
		{[]airnest.Option{airnest.IndexFunc("email", emailDomain), airnest.Index("email")}, ``},
	} {
		_, err := airnest.NewCollection[Acct](airnest.NewStore(), tc.opts...)
		if tc.want == "" {
			if err != nil {
				t.Errorf("got %v, want no error", err)
			}
			continue
		}
		if !errors.Is(err, airnest.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want ErrInvalid with %q", err, tc.want)
		}
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(error).Error(), "IndexFunc") {
			t.Errorf("Collection with an IndexFunc of another type: recovered %v, want a panic", r)
		}
	}()
	airnest.Collection[Acct](airnest.NewStore(), airnest.IndexFunc("d", func(*Job) int { return 0 }))
}
