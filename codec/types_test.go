package codec_test

import (
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/airnest/airnest/codec"
)

// Types that contain themselves without a struct on the way.
type (
	RL  []RL
	RM  map[string]RM
	RPS []*RPS
	RAS [][2]RAS
	RMP map[string]*RMP
	MA  []MB
	MB  map[string]MA
	NS  []struct {
		T   time.Time
		Sub NS
	}
	RP  *RP
	PA  *PB
	PB  *PA
	RPL []RP
)

type holder[X any] struct {
	Name string
	V    X
}

type holderInStruct struct {
	Inner struct {
		Deep holder[RM]
	}
}

func recursiveCase[X any](v X) func(t *testing.T) {
	return func(t *testing.T) {
		c, _, err := codec.New[holder[X]]("Job", codec.NewRegistry(nil))
		if err != nil {
			t.Fatal(err)
		}
		in := holder[X]{Name: "n", V: v}
		if out := roundTrip(t, c, &in); !reflect.DeepEqual(*out, in) {
			t.Fatalf("\n in %#v\nout %#v", in, *out)
		}
	}
}

func TestRecursiveNonStructTypes(t *testing.T) {
	rps := RPS{nil, &RPS{}}
	t.Run("slice", recursiveCase(RL{RL{}, RL{RL{RL{}}}}))
	t.Run("map", recursiveCase(RM{"a": RM{"b": RM{}}, "c": RM{}}))
	t.Run("slice of pointers", recursiveCase(RPS{&rps}))
	t.Run("slice of arrays", recursiveCase(RAS{{RAS{}, RAS{{}}}}))
	t.Run("map of pointers", recursiveCase(RMP{"x": &RMP{"y": &RMP{}}}))
	t.Run("mutual", recursiveCase(MA{MB{"k": MA{MB{}}}}))
	t.Run("through a struct", recursiveCase(NS{{T: time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC), Sub: NS{{}}}}))
	t.Run("pointer to slice", recursiveCase(&RL{RL{}}))
	t.Run("array of maps", recursiveCase([2]RM{{"a": RM{}}, nil}))
	t.Run("nested field", func(t *testing.T) {
		c := mustNew[holderInStruct](t, codec.NewRegistry(nil))
		var in holderInStruct
		in.Inner.Deep = holder[RM]{"d", RM{"x": RM{"y": RM{}}}}
		if out := roundTrip(t, c, &in); !reflect.DeepEqual(*out, in) {
			t.Fatalf("%#v", *out)
		}
	})
}

type (
	ptrLoopField   struct{ P RP }
	ptrLoopMutual  struct{ Q PA }
	ptrLoopInSlice struct{ S RPL }
	ptrLoopNested  struct{ In struct{ M map[string]RP } }
	chanField      struct{ C chan int }
	funcField      struct{ F func() }
	unsafeField    struct{ U unsafe.Pointer }
	complexField   struct{ Z complex128 }
	uintptrField   struct{ U uintptr }
	chanInSlice    struct{ S []chan int }
	funcInMap      struct{ M map[string]func() }
	chanDeep       struct{ Steps []struct{ Done chan bool } }
	chanInRecType  struct{ T recChan }
	recChan        struct {
		Kids []recChan
		C    chan int
	}
)

func TestUnsupportedTypes(t *testing.T) {
	cases := []struct {
		check func(string) error
		want  []string // in the message besides the collection's name
	}{
		{codec.Check[ptrLoopField], []string{"field P", "codec_test.RP"}},
		{codec.Check[ptrLoopMutual], []string{"field Q", "codec_test.P"}},
		{codec.Check[ptrLoopInSlice], []string{"field S", "codec_test.RP"}},
		{codec.Check[ptrLoopNested], []string{"In.M", "codec_test.RP"}},
		{codec.Check[chanField], []string{"field C", "chan int"}},
		{codec.Check[funcField], []string{"field F", "func()"}},
		{codec.Check[unsafeField], []string{"field U", "unsafe.Pointer"}},
		{codec.Check[complexField], []string{"field Z", "complex128"}},
		{codec.Check[uintptrField], []string{"field U", "uintptr"}},
		{codec.Check[chanInSlice], []string{"field S", "chan int"}},
		{codec.Check[funcInMap], []string{"field M", "func()"}},
		{codec.Check[chanDeep], []string{"Steps.Done", "chan bool"}},
		{codec.Check[chanInRecType], []string{"field T", "C", "chan int"}},
	}
	for _, tc := range cases {
		err := tc.check("Job")
		if !errors.Is(err, codec.ErrInvalid) {
			t.Errorf("%v: want ErrInvalid", err)
			continue
		}
		for _, w := range append(tc.want, `"Job"`) {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q missing in %v", w, err)
			}
		}
	}
}

// Cycles in values.
type CNode struct {
	Name     string
	Parent   *CNode
	Children []*CNode
}

type CAny struct {
	Name string
	X    any
	M    map[string]any
}

type CHolder struct {
	Title string
	Tree  *CNode
	Any   CAny
}

type CSkip struct {
	Name string
	Next *CSkip `cbor:"-"`
	Kids []CSkip
}

type CAnyHidden struct {
	X    any
	Back any `airnest:"-"`
}

type CPriv struct {
	Name   string
	parent *CPriv
	Kids   []*CPriv
}

func TestCycleRejected(t *testing.T) {
	self := func() *CNode {
		n := &CNode{Name: "n"}
		n.Parent = n
		return n
	}
	child := func() *CNode {
		p := &CNode{Name: "p"}
		c := &CNode{Name: "c", Parent: p}
		p.Children = []*CNode{c}
		return p
	}
	anyMap := func() *CAny {
		a := &CAny{M: map[string]any{}}
		a.M["me"] = a.M
		return a
	}
	anySlice := func() *CAny {
		s := []any{1, nil}
		s[1] = s
		return &CAny{X: s}
	}
	anyPtr := func() *CAny {
		a := &CAny{}
		a.X = a
		return a
	}
	mapValue := func() *CAny {
		a := &CAny{}
		a.M = map[string]any{"up": a}
		return a
	}
	cases := []struct {
		name string
		enc  func() error
		path string
	}{
		{"pointer to itself", func() error { return appendErr[CNode](t, self()) }, "Parent"},
		{"child points to parent", func() error { return appendErr[CNode](t, child()) }, "Children[0].Parent"},
		{"nested field", func() error { return appendErr[CHolder](t, &CHolder{Tree: child()}) }, "Tree.Children[0]"},
		{"map holds itself", func() error { return appendErr[CAny](t, anyMap()) }, `M["me"]`},
		{"slice holds itself", func() error { return appendErr[CAny](t, anySlice()) }, "X[1]"},
		{"interface holds its owner", func() error { return appendErr[CAny](t, anyPtr()) }, "X"},
		{"map value points to owner", func() error { return appendErr[CAny](t, mapValue()) }, `M["up"]`},
		{"under a shadowed struct", func() error { return appendErr[CHolder](t, &CHolder{Any: *anySlice()}) }, "Any.X[1]"},
		{"pointer type in an interface", func() error {
			var p RP
			p = &p
			return appendErr[CAny](t, &CAny{X: p})
		}, "X"},
	}
	for _, tc := range cases {
		err := tc.enc()
		if !errors.Is(err, codec.ErrInvalid) || !strings.Contains(err.Error(), `"Job"`) || !strings.Contains(err.Error(), tc.path) {
			t.Errorf("%s: err = %v, want ErrInvalid naming %q", tc.name, err, tc.path)
		}
	}
}

func appendErr[T any](t *testing.T, v *T) error {
	c := mustNew[T](t, codec.NewRegistry(nil))
	_, err := c.Append(nil, v)
	return err
}

// What is not a cycle stores fine: shared subtrees, deep acyclic chains,
// references the encoder never visits.
func TestNoFalseCycles(t *testing.T) {
	shared := &CNode{Name: "shared"}
	dag := &CNode{Children: []*CNode{shared, shared, {Children: []*CNode{shared}}}}
	if err := appendErr[CNode](t, dag); err != nil {
		t.Fatal(err)
	}
	deep := &CNode{}
	for i := 0; i < 5000; i++ {
		deep = &CNode{Children: []*CNode{deep}}
	}
	if err := appendErr[CNode](t, deep); err != nil {
		t.Fatal(err)
	}
	s := &CSkip{Name: "a"}
	s.Next = s
	if err := appendErr[CSkip](t, s); err != nil {
		t.Fatal(err)
	}
	h := &CAnyHidden{X: 1}
	h.Back = h
	if err := appendErr[CAnyHidden](t, h); err != nil {
		t.Fatal(err)
	}
	pr := &CPriv{Name: "p"}
	pr.Kids = []*CPriv{{Name: "k", parent: pr}}
	if err := appendErr[CPriv](t, pr); err != nil {
		t.Fatal(err)
	}
	m := map[string]any{"a": 1}
	if err := appendErr[CAny](t, &CAny{X: []any{m, m}, M: m}); err != nil {
		t.Fatal(err)
	}
}

// The documented decoding of values held in `any`.
func TestAnyDecoding(t *testing.T) {
	type V struct {
		A   any
		L   []any
		M   map[string]any
		P   *any
		Arr [1]any
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	big1, _ := new(big.Int).SetString("-18446744073709551617", 10)
	cases := []struct {
		in, want any
	}{
		{42, int64(42)},
		{uint8(7), int64(7)},
		{-5, int64(-5)},
		{uint64(math.MaxInt64), int64(math.MaxInt64)},
		{uint64(math.MaxUint64), uint64(math.MaxUint64)},
		{int64(math.MinInt64), int64(math.MinInt64)},
		{big1, big1},
		{1.5, 1.5},
		{float32(0.25), 0.25},
		{"s", "s"},
		{true, true},
		{[]byte{1, 2}, []byte{1, 2}},
		{[]int{1, 2}, []any{int64(1), int64(2)}},
		{[2]string{"a", "b"}, []any{"a", "b"}},
		{map[string]int{"a": 1}, map[string]any{"a": int64(1)}},
		{map[string]any{}, map[string]any{}},
		{map[int]string{1: "x"}, map[any]any{int64(1): "x"}},
		{map[string]any{"n": map[string][]int{"l": {3}}}, map[string]any{"n": map[string]any{"l": []any{int64(3)}}}},
		{[]any{map[string]any{"x": []any{uint64(9)}}}, []any{map[string]any{"x": []any{int64(9)}}}},
		{struct{ Name string }{"s"}, map[string]any{"Name": "s"}},
		{at, at},
	}
	c := mustNew[V](t, codec.NewRegistry(nil))
	for _, tc := range cases {
		p := tc.in
		in := V{A: tc.in, L: []any{tc.in}, M: map[string]any{"k": tc.in}, P: &p, Arr: [1]any{tc.in}}
		out := roundTrip(t, c, &in)
		for i, got := range []any{out.A, out.L[0], out.M["k"], *out.P, out.Arr[0]} {
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%T %v (place %d): got %T %#v, want %T %#v", tc.in, tc.in, i, got, got, tc.want, tc.want)
			}
		}
		if _, ok := tc.want.(map[any]any); ok {
			continue // documented: encoding/json cannot marshal non-string keys
		}
		if _, err := json.Marshal(out); err != nil {
			t.Errorf("%T: json.Marshal: %v", tc.in, err)
		}
	}
}

// `any` inside a recursive type is decoded by the same rules.
type AnyTree struct {
	Val  any
	Kids []AnyTree
}

func TestAnyDecodingInRecursiveType(t *testing.T) {
	c := mustNew[AnyTree](t, codec.NewRegistry(nil))
	in := AnyTree{Val: 1, Kids: []AnyTree{{Val: map[string]any{"a": 2}}}}
	out := roundTrip(t, c, &in)
	want := AnyTree{Val: int64(1), Kids: []AnyTree{{Val: map[string]any{"a": int64(2)}}}}
	if !reflect.DeepEqual(*out, want) {
		t.Fatalf("%#v", *out)
	}
	if _, err := json.Marshal(out); err != nil {
		t.Fatal(err)
	}
}
