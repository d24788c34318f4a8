package codec_test

import (
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/airnest/airnest/codec"
)

type fuzzShape struct {
	A  int
	B  string
	C  []Step
	D  map[string]*Step
	E  time.Time
	F  float64
	G  []byte
	H  any
	Tr *Tree
	L  RL
	M  RM
}

func FuzzDecode(f *testing.F) {
	cr := mustNew[Rich](f, codec.NewRegistry(nil))
	cf := mustNew[fuzzShape](f, codec.NewRegistry(nil))
	ct := mustNew[Typical](f, codec.NewRegistry(nil))
	v := typical()
	b, _ := ct.Append(nil, &v)
	f.Add(b)
	b, _ = cf.Append(nil, &fuzzShape{A: -3, B: "x", C: []Step{{"a", true}}, D: map[string]*Step{"k": nil}, E: time.Unix(1, 2), H: []any{1.5}})
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		// The documented contract: corrupt input is ErrSchema, never a panic.
		var r Rich
		schemaOnly(t, "Rich", cr.Decode(data, &r))
		var s fuzzShape
		schemaOnly(t, "fuzzShape", cf.Decode(data, &s))
		var ty Typical
		schemaOnly(t, "Typical", ct.Decode(data, &ty))
		_, err := codec.Describe(data, codec.NewRegistry(nil))
		schemaOnly(t, "Describe", err)
	})
}

func FuzzRoundTrip(f *testing.F) {
	c := mustNew[fuzzShape](f, codec.NewRegistry(nil))
	f.Add(int64(1), "s", "step", true, int64(1700000000), int64(123456789), int32(3600), 1.5, []byte{1})
	f.Fuzz(func(t *testing.T, a int64, s, step string, done bool, sec, nsec int64, off int32, fl float64, g []byte) {
		tm := time.Unix(sec%253402300799, nsec%1e9).In(time.FixedZone("", int(off%(14*3600))/60*60))
		if tm.Year() < 0 || tm.Year() > 9999 {
			tm = time.Unix(0, nsec%1e9).In(time.UTC)
		}
		h, wantH := fuzzAny(a, s, step, done, g)
		in := fuzzShape{A: int(a), B: s, C: []Step{{step, done}}, D: map[string]*Step{s: {step, !done}}, E: tm, F: fl, G: g,
			H: h, Tr: fuzzTree(a), L: RL{nil}, M: RM{s: nil}}
		for i := int64(0); i < fuzzDepth(a); i++ {
			in.L = RL{in.L, RL{}}
			in.M = RM{step: in.M, s: RM{}}
		}
		b, err := c.Append(nil, &in)
		if err != nil {
			t.Fatal(err)
		}
		var out fuzzShape
		if err := c.Decode(b, &out); err != nil {
			t.Fatal(err)
		}
		_, o1 := in.E.Zone()
		_, o2 := out.E.Zone()
		if !in.E.Equal(out.E) || o1 != o2 {
			t.Fatalf("time %v -> %v", in.E, out.E)
		}
		if math.Float64bits(in.F) != math.Float64bits(out.F) && !(math.IsNaN(in.F) && math.IsNaN(out.F)) {
			t.Fatalf("float %v -> %v", in.F, out.F)
		}
		if !reflect.DeepEqual(out.H, wantH) {
			t.Fatalf("any %#v\ncame back %#v\n     want %#v", in.H, out.H, wantH)
		}
		in.E, out.E, in.F, out.F, in.H, out.H = time.Time{}, time.Time{}, 0, 0, nil, nil
		if !reflect.DeepEqual(in, out) {
			t.Fatalf("\n in %#v\nout %#v", in, out)
		}
	})
}

func schemaOnly(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, codec.ErrSchema) {
		t.Fatalf("%s: %v, want ErrSchema", what, err)
	}
}

func fuzzDepth(a int64) int64 { return int64(uint64(a) % 5) }

// fuzzAny builds a value for an `any` field from the fuzzer's inputs, a few
// levels deep, and what it decodes to by the documented rules.
func fuzzAny(a int64, s, step string, done bool, g []byte) (in, want any) {
	u := uint64(a)
	var wantU any = u
	if u <= math.MaxInt64 {
		wantU = int64(u)
	}
	var wantG any
	if g != nil {
		wantG = g
	}
	in, want = a, a
	for i := int64(0); i < fuzzDepth(a); i++ {
		in = map[string]any{s: []any{in, step, done, u, g, i}, step: map[string]int{s: int(a)}}
		want = map[string]any{s: []any{want, step, done, wantU, wantG, i}, step: map[string]any{s: a}}
	}
	return in, want
}

func fuzzTree(a int64) *Tree {
	tr := &Tree{Val: int(a)}
	for i := int64(0); i < fuzzDepth(a); i++ {
		tr = &Tree{Val: int(i), Kids: []*Tree{tr, {Val: -int(i)}, nil}}
	}
	return tr
}
