package airnest_test

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/airnest/airnest"
)

// both runs an aggregate on q as the database computes it and, through a
// Match that accepts everything, as Go computes it; the two must agree.
func both[R any](t *testing.T, name string, q *airnest.Query[Rec], f func(*airnest.Query[Rec]) (R, error)) (R, error) {
	t.Helper()
	db, err1 := f(q)
	goRes, err2 := f(q.Match(func(*Rec) bool { return true }))
	if (err1 == nil) != (err2 == nil) || err1 != nil && errors.Is(err1, airnest.ErrNotFound) != errors.Is(err2, airnest.ErrNotFound) {
		t.Fatalf("%s: database says %v, Go says %v", name, err1, err2)
	}
	if err1 == nil && !sameResult(db, goRes) {
		t.Fatalf("%s: database says %v, Go says %v", name, db, goRes)
	}
	return db, err1
}

func sameResult(a, b any) bool {
	if x, ok := a.(float64); ok {
		y := b.(float64)
		return x == y || math.Abs(x-y) <= 1e-9*math.Max(math.Abs(x), math.Abs(y))
	}
	return reflect.DeepEqual(a, b)
}

func TestAggregates(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, recs := recStoreAt(t, dsn)
		all := saveTx(t, s, recs, recFixture(dsn))
		everything := recs.Where()
		var sumN, sumU8 int64
		var sumF float64
		nF := 0
		for _, v := range all {
			sumN += int64(v.N)
			sumU8 += int64(v.U8)
			if v.F > -10 {
				sumF += v.F
				nF++
			}
		}
		if got, err := both(t, "Sum n", everything, func(q *airnest.Query[Rec]) (int64, error) { return airnest.Sum[int64](bg, q, "n") }); err != nil || got != sumN {
			t.Errorf("Sum[int64](n) = %d, %v; want %d", got, err, sumN)
		}
		if got, err := both(t, "Sum U_8", everything, func(q *airnest.Query[Rec]) (uint16, error) { return airnest.Sum[uint16](bg, q, "U_8") }); err != nil || int64(got) != sumU8 {
			t.Errorf("Sum[uint16](U_8) = %d, %v; want %d", got, err, sumU8)
		}
		if _, err := both(t, "Sum int8", everything, func(q *airnest.Query[Rec]) (int8, error) { return airnest.Sum[int8](bg, q, "u8") }); !errors.Is(err, airnest.ErrInvalid) || !strings.Contains(err.Error(), "does not fit a int8") {
			t.Errorf("Sum[int8] of %d: %v, want ErrInvalid", sumU8, err)
		}
		fq := recs.Where(airnest.Gt("f", -10))
		if got, err := both(t, "Sum f", fq, func(q *airnest.Query[Rec]) (float64, error) { return airnest.Sum[float64](bg, q, "f") }); err != nil || !sameResult(got, sumF) {
			t.Errorf("Sum[float64](f) = %g, %v; want %g", got, err, sumF)
		}
		if got, err := both(t, "Avg f", fq, func(q *airnest.Query[Rec]) (float64, error) { return airnest.Avg(bg, q, "f") }); err != nil || !sameResult(got, sumF/float64(nF)) {
			t.Errorf("Avg(f) = %g, %v; want %g", got, err, sumF/float64(nF))
		}
		if got, err := both(t, "Avg n", everything, func(q *airnest.Query[Rec]) (float64, error) { return airnest.Avg(bg, q, "n") }); err != nil || !sameResult(got, float64(sumN)/float64(len(all))) {
			t.Errorf("Avg(n) = %g, %v", got, err)
		}
		// NULLs are ignored: p is nil in two values.
		if got, err := both(t, "Avg p", everything, func(q *airnest.Query[Rec]) (float64, error) { return airnest.Avg(bg, q, "p") }); err != nil || !sameResult(got, float64(1+3-1+0+100+3)/6) {
			t.Errorf("Avg(p) = %g, %v", got, err)
		}
		if got, err := both(t, "Min p", everything, func(q *airnest.Query[Rec]) (int, error) { return airnest.Min[int](bg, q, "p") }); err != nil || got != -1 {
			t.Errorf("Min[int](p) = %d, %v", got, err)
		}
		if got, err := both(t, "Max *p", everything, func(q *airnest.Query[Rec]) (*int, error) { return airnest.Max[*int](bg, q, "p") }); err != nil || got == nil || *got != 100 {
			t.Errorf("Max[*int](p) = %v, %v", got, err)
		}
		hi := highText[backendOf(dsn)]
		if got, err := both(t, "Max s", everything, func(q *airnest.Query[Rec]) (string, error) { return airnest.Max[string](bg, q, "s") }); err != nil || got != hi+hi {
			t.Errorf("Max[string](s) = %q, %v", got, err)
		}
		if got, err := both(t, "Min s", everything, func(q *airnest.Query[Rec]) (string, error) { return airnest.Min[string](bg, q, "s") }); err != nil || got != "" {
			t.Errorf("Min[string](s) = %q, %v", got, err)
		}
		if got, err := both(t, "Min at", everything, func(q *airnest.Query[Rec]) (time.Time, error) { return airnest.Min[time.Time](bg, q, "at") }); err != nil || !got.Equal(t0.Add(-time.Hour)) {
			t.Errorf("Min[time.Time](at) = %v, %v (zero times are NULL)", got, err)
		}
		wantRef := ref1
		if ref2.Compare(ref1) > 0 {
			wantRef = ref2
		}
		if got, err := both(t, "Max ref", everything, func(q *airnest.Query[Rec]) (airnest.ID[Job], error) {
			return airnest.Max[airnest.ID[Job]](bg, q, "ref")
		}); err != nil || got != wantRef {
			t.Errorf("Max[ID](ref) = %v, %v", got, err)
		}
		if got, err := both(t, "Max level", everything, func(q *airnest.Query[Rec]) (Level, error) { return airnest.Max[Level](bg, q, "level") }); err != nil || got != 10 {
			t.Errorf("Max[Level] = %v, %v", got, err)
		}
		// Limit and ordering pick the values first: the three highest n.
		top3 := recs.Where().OrderByDesc("n").Limit(3)
		if got, err := both(t, "Sum of top 3", top3, func(q *airnest.Query[Rec]) (int, error) { return airnest.Sum[int](bg, q, "n") }); err != nil || got != 100+10+3 {
			t.Errorf("Sum of the top 3 = %d, %v", got, err)
		}
		if got, err := both(t, "Min of top 3", top3, func(q *airnest.Query[Rec]) (int, error) { return airnest.Min[int](bg, q, "n") }); err != nil || got != 3 {
			t.Errorf("Min of the top 3 = %d, %v", got, err)
		}
		byN, err := both(t, "CountBy n", everything, func(q *airnest.Query[Rec]) (map[int]int64, error) { return airnest.CountBy[int](bg, q, "n") })
		if want := map[int]int64{1: 1, 2: 1, 3: 3, -7: 1, 10: 1, 100: 1}; err != nil || !reflect.DeepEqual(byN, want) {
			t.Errorf("CountBy[int](n) = %v, %v; want %v", byN, err, want)
		}
		byB, err := both(t, "CountBy b", recs.Where(airnest.Gte("n", 3)), func(q *airnest.Query[Rec]) (map[bool]int64, error) { return airnest.CountBy[bool](bg, q, "b") })
		if want := map[bool]int64{true: 3, false: 2}; err != nil || !reflect.DeepEqual(byB, want) {
			t.Errorf("CountBy[bool](b) = %v, %v; want %v", byB, err, want)
		}
		byP, err := both(t, "CountBy p", everything, func(q *airnest.Query[Rec]) (map[int]int64, error) { return airnest.CountBy[int](bg, q, "p") })
		if want := map[int]int64{1: 1, 3: 2, -1: 1, 0: 1, 100: 1}; err != nil || !reflect.DeepEqual(byP, want) {
			t.Errorf("CountBy[int](p) = %v, %v; want %v (NULL not counted)", byP, err, want)
		}

		// Nothing matches.
		none := recs.Where(airnest.Gt("n", 1000))
		if got, err := both(t, "Sum of none", none, func(q *airnest.Query[Rec]) (int, error) { return airnest.Sum[int](bg, q, "n") }); err != nil || got != 0 {
			t.Errorf("Sum of nothing = %d, %v", got, err)
		}
		for name, f := range map[string]func(*airnest.Query[Rec]) (int, error){
			"Min": func(q *airnest.Query[Rec]) (int, error) { return airnest.Min[int](bg, q, "n") },
			"Max": func(q *airnest.Query[Rec]) (int, error) { return airnest.Max[int](bg, q, "n") },
			"Avg": func(q *airnest.Query[Rec]) (int, error) { f, err := airnest.Avg(bg, q, "n"); return int(f), err },
		} {
			if _, err := both(t, name+" of none", none, f); !errors.Is(err, airnest.ErrNotFound) {
				t.Errorf("%s of nothing: %v, want ErrNotFound", name, err)
			}
		}
		if got, err := both(t, "CountBy of none", none, func(q *airnest.Query[Rec]) (map[string]int64, error) { return airnest.CountBy[string](bg, q, "s") }); err != nil || len(got) != 0 {
			t.Errorf("CountBy of nothing = %v, %v", got, err)
		}

		// A type or column that does not fit is an error naming both.
		for name, err := range map[string]error{
			"Sum text":     second(airnest.Sum[int](bg, everything, "s")),
			"Sum float":    second(airnest.Sum[int](bg, everything, "f")),
			"Sum bool":     second(airnest.Sum[int](bg, everything, "b")),
			"Sum time":     second(airnest.Sum[int64](bg, everything, "at")),
			"Min int of s": second(airnest.Min[int](bg, everything, "s")),
			"Min int8":     second(airnest.Min[int8](bg, everything, "n")),
			"CountBy ptr":  second(airnest.CountBy[*int](bg, everything, "p")),
			"no column":    second(airnest.Sum[int](bg, everything, "nope")),
			"bad query":    second(airnest.Sum[int](bg, recs.Where(airnest.Eq("n", "x")), "n")),
		} {
			if !errors.Is(err, airnest.ErrInvalid) || !strings.Contains(err.Error(), "Rec") {
				t.Errorf("%s: %v, want ErrInvalid naming the collection", name, err)
			}
		}
		if err := second(airnest.Min[int](bg, everything, "s")); err == nil || !strings.Contains(err.Error(), `"s"`) || !strings.Contains(err.Error(), "string") || !strings.Contains(err.Error(), "Min[int]") {
			t.Errorf("type error: %v, want the column, its type and the asked type", err)
		}

		// NaN is stored as NULL: ignored, as every NULL.
		saveTx(t, s, recs, []Rec{{Tag: "nan", S: "nan", F: math.NaN(), N: 4}, {Tag: "nan", S: "nan", F: 2, N: 4}})
		nan := recs.Where(airnest.Eq("s", "nan"))
		if got, err := both(t, "Avg with NaN", nan, func(q *airnest.Query[Rec]) (float64, error) { return airnest.Avg(bg, q, "f") }); err != nil || got != 2 {
			t.Errorf("Avg over a NaN and 2 = %g, %v; want 2", got, err)
		}
		if got, err := both(t, "Min with NaN", nan, func(q *airnest.Query[Rec]) (float64, error) { return airnest.Min[float64](bg, q, "f") }); err != nil || got != 2 {
			t.Errorf("Min over a NaN and 2 = %g, %v; want 2", got, err)
		}

		// An integer sum past int64 is an error, not a wrapped number.
		big := []Rec{{Tag: "big", S: "big", N: math.MaxInt64}, {Tag: "big", S: "big", N: 1}}
		saveTx(t, s, recs, big)
		if _, err := both(t, "Sum overflow", recs.Where(airnest.Eq("s", "big")), func(q *airnest.Query[Rec]) (int64, error) { return airnest.Sum[int64](bg, q, "n") }); !errors.Is(err, airnest.ErrInvalid) || !strings.Contains(err.Error(), "int64") {
			t.Errorf("Sum past int64: %v, want ErrInvalid", err)
		}
		if got, err := both(t, "Sum overflow as float", recs.Where(airnest.Eq("s", "big")), func(q *airnest.Query[Rec]) (float64, error) { return airnest.Avg(bg, q, "n") }); err != nil || !sameResult(got, float64(math.MaxInt64)/2) {
			t.Errorf("Avg past int64: %g, %v", got, err)
		}
	})
}

func second[V any](_ V, err error) error { return err }
