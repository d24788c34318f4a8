package airnest_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/airnest/airnest"
)

// Each schema-evolution row is tested with two real struct versions saved
// into and loaded from one database, as a program upgrade would.

type Address struct {
	City string
	Zip  string
}

type ProfileV1 struct {
	ID    airnest.ID[ProfileV1]
	Name  string
	Age   int
	Email string
	Home  Address
	Tags  []string
}

// evolve saves v1 values with the V1 type in the store at dsn, reopens it
// declaring the V2 type on the same table, and returns the V2 collection.
func evolve[V2 any](t *testing.T, dsn string, v1 *ProfileV1, opts ...airnest.Option) (*airnest.Coll[V2], *airnest.Store) {
	t.Helper()
	s1 := airnest.NewStore()
	c1 := airnest.Collection[ProfileV1](s1, airnest.Name("Profile"))
	if err := s1.Open(bg, dsn, nil); err != nil {
		t.Fatal(err)
	}
	if err := c1.Save(bg, v1); err != nil {
		t.Fatal(err)
	}
	s1.Close()
	s2 := airnest.NewStore()
	c2 := airnest.Collection[V2](s2, append([]airnest.Option{airnest.Name("Profile")}, opts...)...)
	if err := s2.Open(bg, dsn, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Close() })
	return c2, s2
}

func sample() *ProfileV1 {
	return &ProfileV1{Name: "Ann", Age: 41, Email: "ann@example.com", Home: Address{"Oslo", "0150"}, Tags: []string{"a", "b"}}
}

type ProfileAdded struct {
	ID       airnest.ID[ProfileAdded]
	Nickname string // new, first
	Name     string
	Age      int
	Verified bool // new, middle
	Email    string
	Home     struct {
		City    string
		Country string // new, nested
		Zip     string
	}
	Tags  []string
	Score float64 // new, last
}

func TestEvolutionAddFieldAnywhere(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		v1 := sample()
		c2, _ := evolve[ProfileAdded](t, dsn, v1)
		got, err := c2.Load(bg, airnest.MustParseID[ProfileAdded](v1.ID.String()))
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "Ann" || got.Age != 41 || got.Email != v1.Email || got.Home.City != "Oslo" || got.Home.Zip != "0150" ||
			len(got.Tags) != 2 || got.Nickname != "" || got.Verified || got.Score != 0 || got.Home.Country != "" {
			t.Fatalf("old value under the new type: %+v", got)
		}
		got.Nickname, got.Verified, got.Home.Country, got.Score = "annie", true, "NO", 9.5
		if err := c2.Save(bg, &got); err != nil {
			t.Fatal(err)
		}
		again, _ := c2.Load(bg, got.ID)
		if again.Nickname != "annie" || !again.Verified || again.Home.Country != "NO" || again.Score != 9.5 || again.Name != "Ann" {
			t.Fatalf("new fields did not round-trip: %+v", again)
		}
	})
}

type ProfileRemoved struct {
	ID   airnest.ID[ProfileRemoved]
	Name string
	Home struct{ City string }
}

type ProfileReadded struct {
	ID    airnest.ID[ProfileReadded]
	Name  string
	Phone string // new after Email was removed: must not receive Email's data
	Home  struct{ City string }
}

func TestEvolutionRemoveFieldAndNeverReuseKeys(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		v1 := sample()
		c2, s2 := evolve[ProfileRemoved](t, dsn, v1)
		got, err := c2.Load(bg, airnest.MustParseID[ProfileRemoved](v1.ID.String()))
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "Ann" || got.Home.City != "Oslo" {
			t.Fatalf("old value without removed fields: %+v", got)
		}
		s2.Close()
		s3 := airnest.NewStore()
		c3 := airnest.Collection[ProfileReadded](s3, airnest.Name("Profile"))
		if err := s3.Open(bg, dsn, nil); err != nil {
			t.Fatal(err)
		}
		defer s3.Close()
		got3, err := c3.Load(bg, airnest.MustParseID[ProfileReadded](v1.ID.String()))
		if err != nil {
			t.Fatal(err)
		}
		if got3.Phone != "" || got3.Name != "Ann" {
			t.Fatalf("a new field received a removed field's data: %+v", got3)
		}
	})
}

type ProfileReordered struct {
	Tags  []string
	Home  Address
	Email string
	Age   int
	ID    airnest.ID[ProfileReordered]
	Name  string
}

func TestEvolutionReorderFields(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		v1 := sample()
		c2, _ := evolve[ProfileReordered](t, dsn, v1)
		got, err := c2.Load(bg, airnest.MustParseID[ProfileReordered](v1.ID.String()))
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != v1.Name || got.Age != v1.Age || got.Email != v1.Email || got.Home != v1.Home || len(got.Tags) != 2 {
			t.Fatalf("reordered: %+v", got)
		}
	})
}

type ProfileRenamed struct {
	ID       airnest.ID[ProfileRenamed]
	FullName string `airnest:"Name"` // renamed in Go, stored under the old name
	Age      int
	Email    string
}

func TestEvolutionRenameWithTag(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		v1 := sample()
		c2, _ := evolve[ProfileRenamed](t, dsn, v1)
		got, err := c2.Load(bg, airnest.MustParseID[ProfileRenamed](v1.ID.String()))
		if err != nil {
			t.Fatal(err)
		}
		if got.FullName != "Ann" || got.Age != 41 {
			t.Fatalf("renamed field lost its data: %+v", got)
		}
	})
}

type ProfileRetyped struct {
	ID    airnest.ID[ProfileRetyped]
	Name  string
	Age   string // was int
	Email string
}

func TestEvolutionChangeTypeIsSchemaError(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		v1 := sample()
		c2, _ := evolve[ProfileRetyped](t, dsn, v1)
		_, err := c2.Load(bg, airnest.MustParseID[ProfileRetyped](v1.ID.String()))
		if !errors.Is(err, airnest.ErrSchema) {
			t.Fatalf("Load after a type change: %v, want ErrSchema", err)
		}
		for _, want := range []string{"Profile", "Age", "int", "string"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %q", err, want)
			}
		}
		// Scan reports it too, rather than returning a wrong value.
		if _, err := c2.Scan(bg); !errors.Is(err, airnest.ErrSchema) {
			t.Fatalf("Scan after a type change: %v", err)
		}
	})
}

type ProfileExplicit struct {
	ID   airnest.ID[ProfileExplicit] `cbor:"1,keyasint"`
	Name string                      `cbor:"7,keyasint"`
	Age  int
}

func TestExplicitKeysHonoured(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, err := airnest.Open(bg, dsn, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		c := airnest.Collection[ProfileExplicit](s)
		v := ProfileExplicit{Name: "x", Age: 3}
		if err := c.Save(bg, &v); err != nil {
			t.Fatal(err)
		}
		got, err := c.Load(bg, v.ID)
		if err != nil || got != v {
			t.Fatalf("got %+v %v", got, err)
		}
		db, _ := s.DB()
		var key int
		if err := db.QueryRow(`SELECT key FROM _airnest_keys WHERE collection = 'ProfileExplicit' AND name = 'Name'`).Scan(&key); err != nil || key != 7 {
			t.Fatalf("registry key of Name = %d (%v), want 7", key, err)
		}
	})
}

func TestCorruptBlobIsAnErrorNotAPanic(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, jobs, _ := testStoreAt(t, dsn)
		j := Job{Status: "x", Steps: []Step{{"a", true}}}
		jobs.Save(bg, &j)
		db, _ := s.DB()
		raw := rawDialect[backendOf(dsn)]
		for _, blob := range [][]byte{{}, {0xff}, {0xa1, 0x01}, {0xbf}, []byte("not cbor at all"), {0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}} {
			if _, err := db.Exec(raw(`UPDATE "Job" SET v = ? WHERE id = ?`), blob, j.ID.Bytes()); err != nil {
				t.Fatal(err)
			}
			if _, err := jobs.Load(bg, j.ID); !errors.Is(err, airnest.ErrSchema) {
				t.Errorf("Load of corrupt blob % x: %v, want ErrSchema", blob, err)
			}
		}
	})
}
