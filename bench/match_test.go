package main

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkMatchQuery is the predicate query (bench/match.go) on airnest and
// on the hand-written baseline:
//
//	go test ./bench -run '^$' -bench MatchQuery
func BenchmarkMatchQuery(b *testing.B) {
	benchEach(b, "NORMAL", func(im impl, r *rand.Rand) error {
		status := statuses[r.IntN(len(statuses))]
		var err error
		switch im := im.(type) {
		case *airImpl:
			_, err = airMatch(im.ctx, im.jobs, status)
		case *baseImpl:
			_, err = im.baseMatch(status)
		default:
			b.Skipf("no predicate query for %s", im.Name())
		}
		return err
	})
}

// The two implementations of the predicate query find the same jobs.
func TestMatchQueryAgrees(t *testing.T) {
	ims := openBoth(t, "NORMAL")
	a, b := ims[0].(*airImpl), ims[1].(*baseImpl)
	for _, status := range statuses {
		na, err := airMatch(a.ctx, a.jobs, status)
		if err != nil {
			t.Fatal(err)
		}
		nb, err := b.baseMatch(status)
		if err != nil {
			t.Fatal(err)
		}
		if na != nb || na == 0 {
			t.Fatalf("status %s: airnest finds %d, the baseline %d", status, na, nb)
		}
	}
}
