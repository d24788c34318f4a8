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
	// Each collection holds this one row, so Load, Scan and All must agree
	// about it, and every error must be ErrSchema.
	var errs [3]error
	switch shape {
	case 0:
		errs = readEveryWay(z.flat, z.ids[0])
	case 1:
		errs = readEveryWay(z.nested, z.ids[1])
	case 2:
		errs = readEveryWay(z.anys, z.ids[2])
	}
	loadErr := errs[0]
	for i, op := range []string{"Load", "Scan", "All"} {
		if errs[i] != nil && !errors.Is(errs[i], airnest.ErrSchema) {
			t.Fatalf("%s of a corrupt blob: %v, want ErrSchema", op, errs[i])
		}
		if (errs[i] != nil) != (loadErr != nil) {
			t.Fatalf("Load: %v, but %s: %v", loadErr, op, errs[i])
		}
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

// readEveryWay reads the row id of c by Load, Scan and All.
func readEveryWay[T any](c *airnest.Coll[T], idb []byte) (errs [3]error) {
	id, err := airnest.IDFromBytes[T](idb)
	if err != nil {
		panic(err)
	}
	_, errs[0] = c.Load(bg, id)
	_, errs[1] = c.Scan(bg)
	n := 0
	for _, err := range c.All(bg) {
		if err != nil {
			errs[2] = err
			break
		}
		n++
	}
	if errs[2] == nil && n != 1 {
		errs[2] = fmt.Errorf("All yielded %d values, want 1", n)
	}
	return errs
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
