package codec_test

import (
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
		var r Rich
		_ = cr.Decode(data, &r)
		var s fuzzShape
		_ = cf.Decode(data, &s)
		var ty Typical
		_ = ct.Decode(data, &ty)
		_, _ = codec.Describe(data, codec.NewRegistry(nil))
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
		in := fuzzShape{A: int(a), B: s, C: []Step{{step, done}}, D: map[string]*Step{s: {step, !done}}, E: tm, F: fl, G: g}
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
		in.E, out.E, in.F, out.F = time.Time{}, time.Time{}, 0, 0
		if !reflect.DeepEqual(in, out) {
			t.Fatalf("\n in %#v\nout %#v", in, out)
		}
	})
}
