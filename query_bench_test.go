package airnest_test

import (
	"strings"
	"testing"

	"github.com/airnest/airnest"
)

// BenchmarkQueryIDs measures IDs on values of 3 KB, which spill out of
// their b-tree cell, for a filter SQLite searches (Eq, a seventh of the
// rows) and one it scans (Ne, the rest): IDs sorts what it finds in an index
// rather than read the table in ID order.
func BenchmarkQueryIDs(b *testing.B) {
	s := airnest.NewStore()
	jobs := airnest.Collection[Job](s, airnest.Index("status"), airnest.Name("BenchIDs"))
	if err := s.Open(bg, ":memory:", nil); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const n = 5000
	note := []byte(strings.Repeat("x", 3000))
	err := s.Tx(bg, func(tx *airnest.Tx) error {
		in := jobs.In(tx)
		for i := range n {
			j := Job{Status: string(rune('a' + i%7)), Payload: note}
			if err := in.Save(bg, &j); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		f    airnest.Filter
	}{
		{"Eq", airnest.Eq("status", "c")},
		{"Ne", airnest.Ne("status", "c")},
		{"EqNone", airnest.Eq("status", "none")},
	} {
		b.Run(tc.name, func(b *testing.B) {
			q := jobs.Where(tc.f)
			for b.Loop() {
				if _, err := q.IDs(bg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
