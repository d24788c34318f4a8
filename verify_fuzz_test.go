package airnest_test

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/airnest/airnest"
)

// Shapes of stored values for FuzzStoredBlob, each with index columns that
// Verify recomputes.
type FzFlat struct {
	ID  airnest.ID[FzFlat]
	S   string
	N   int
	U   uint32
	F   float64
	B   bool
	T   time.Time
	Raw []byte
	P   *int
	Ref airnest.ID[Job]
}

type FzInner struct {
	Name string
	Vals []int16
	At   time.Time
}

type FzNested struct {
	ID    airnest.ID[FzNested]
	Title string
	Steps []Step
	M     map[string]int
	Inner FzInner
	Ptr   *FzInner
	Grid  [][]float32
}

type FzAny struct {
	ID   airnest.ID[FzAny]
	Kind string
	X    any
	L    []any
	Opt  *time.Time
}

// fzStore is a store holding one row of each shape, plus a second store on
// the same file that declares none of them (so its Verify checks the
// stored form only, as VerifyFile does).
type fzStore struct {
	s, bare *airnest.Store
	flat    *airnest.Coll[FzFlat]
	nested  *airnest.Coll[FzNested]
	anys    *airnest.Coll[FzAny]
	ids     [3][]byte
	tables  [3]string
	valid   [3][]byte
}

func openFz(tb testing.TB) *fzStore {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "fz.db")
	z := &fzStore{s: airnest.NewStore(), bare: airnest.NewStore()}
	z.flat = airnest.Collection[FzFlat](z.s, airnest.Index("s", "n", "u", "f", "b", "t", "raw", "p", "ref"))
	z.nested = airnest.Collection[FzNested](z.s, airnest.Index("title"))
	z.anys = airnest.Collection[FzAny](z.s, airnest.Index("kind", "opt"))
	if err := z.s.Open(bg, path, &airnest.Options{Sync: airnest.SyncNormal}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { z.s.Close() })
	if err := z.bare.Open(bg, path, &airnest.Options{Sync: airnest.SyncNormal}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { z.bare.Close() })
	p, at := 7, time.Date(2026, 3, 4, 5, 6, 7, 891011121, time.FixedZone("", -5*3600-30*60))
	f := FzFlat{S: "héllo", N: -42, U: 1 << 31, F: -0.5, B: true, T: at, Raw: []byte{0, 1, 2}, P: &p, Ref: airnest.NewID[Job]()}
	n := FzNested{Title: "t", Steps: []Step{{"a", true}, {"b", false}}, M: map[string]int{"x": 1, "": -1},
		Inner: FzInner{"in", []int16{-1, 2}, at}, Ptr: &FzInner{Name: "p"}, Grid: [][]float32{{1.5, float32(math.Inf(1))}, nil, {}}}
	a := FzAny{Kind: "k", X: map[string]any{"a": []any{uint64(1), "s", 2.5, nil}}, L: []any{true, []byte("b")}, Opt: &at}
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(z.flat.Save(bg, &f))
	must(z.nested.Save(bg, &n))
	must(z.anys.Save(bg, &a))
	z.ids = [3][]byte{f.ID.Bytes(), n.ID.Bytes(), a.ID.Bytes()}
	z.tables = [3]string{z.flat.Name(), z.nested.Name(), z.anys.Name()}
	db, err := z.s.DB()
	must(err)
	for i := range z.tables {
		must(db.QueryRow(fmt.Sprintf(`SELECT v FROM %q WHERE id = ?`, z.tables[i]), z.ids[i]).Scan(&z.valid[i]))
	}
	return z
}

// check stores blob as the value of one shape's row and reads it back every
// way there is. Nothing may panic; a blob that does not decode is an
// ErrSchema error for Load and a "blob" problem for Verify, and a blob that
// decodes is no "blob" problem.
func (z *fzStore) check(t *testing.T, shape int, blob []byte) {
	db, err := z.s.DB()
	if err != nil {
		t.Fatal(err)
	}
	set := func(b []byte) {
		if _, err := db.Exec(fmt.Sprintf(`UPDATE %q SET v = ? WHERE id = ?`, z.tables[shape]), b, z.ids[shape]); err != nil {
			t.Fatal(err)
		}
	}
	set(blob)
	defer set(z.valid[shape])
	var loadErr error
	switch shape {
	case 0:
		id, _ := airnest.IDFromBytes[FzFlat](z.ids[0])
		_, loadErr = z.flat.Load(bg, id)
		_, _ = z.flat.Scan(bg)
	case 1:
		id, _ := airnest.IDFromBytes[FzNested](z.ids[1])
		_, loadErr = z.nested.Load(bg, id)
		for _, err := range z.nested.All(bg) {
			_ = err
		}
	case 2:
		id, _ := airnest.IDFromBytes[FzAny](z.ids[2])
		_, loadErr = z.anys.Load(bg, id)
		_, _ = z.anys.Scan(bg)
	}
	if loadErr != nil && !errors.Is(loadErr, airnest.ErrSchema) {
		t.Fatalf("Load of a corrupt blob: %v, want ErrSchema", loadErr)
	}
	rep, err := z.s.Verify(bg)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	blobProblem := false
	for _, p := range rep.Problems {
		if p.Check == "blob" && p.Collection == z.tables[shape] {
			blobProblem = true
		}
		if p.Check == "integrity" || p.Collection != z.tables[shape] && p.Collection != "" {
			t.Fatalf("Verify reports an untouched part of the file: %s", p)
		}
	}
	if (loadErr != nil) != blobProblem {
		t.Fatalf("Load: %v, but Verify's blob problem: %v\n%s", loadErr, blobProblem, rep)
	}
	if _, err := z.bare.Verify(bg); err != nil {
		t.Fatalf("Verify without Go types: %v", err)
	}
}

// FuzzStoredBlob puts arbitrary bytes where a stored value belongs, in
// three struct shapes, and reads them back through Load, Scan, All and
// both kinds of Verify. The codec's own targets (codec.FuzzDecode,
// codec.FuzzRoundTrip) fuzz the decoder alone; this one fuzzes the store
// around it.
func FuzzStoredBlob(f *testing.F) {
	z := openFz(f)
	for shape, b := range z.valid {
		f.Add(uint8(shape), b)
		// Mutated valid blobs: truncated, a byte flipped, doubled.
		f.Add(uint8(shape), b[:len(b)/2])
		c := append([]byte(nil), b...)
		c[len(c)/3] ^= 0x40
		f.Add(uint8(shape), c)
		f.Add(uint8(shape), append(append([]byte(nil), b...), b...))
	}
	// Valid blobs in another shape's row.
	f.Add(uint8(0), z.valid[1])
	f.Add(uint8(1), z.valid[2])
	f.Add(uint8(2), z.valid[0])
	f.Add(uint8(0), []byte{})
	f.Add(uint8(1), []byte{0xbf, 0xff})
	f.Add(uint8(2), []byte{0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, shape uint8, blob []byte) {
		z.check(t, int(shape%3), blob)
	})
}
