package airnest_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"github.com/airnest/airnest"
)

type (
	FtChan struct {
		ID airnest.ID[FtChan]
		C  chan int
	}
	FtFunc struct {
		ID    airnest.ID[FtFunc]
		Steps []struct{ Run func() }
	}
	FtUnsafe struct {
		ID airnest.ID[FtUnsafe]
		M  map[string]unsafe.Pointer
	}
	FtComplex struct {
		ID airnest.ID[FtComplex]
		Z  *complex64
	}
	FtPtrLoop struct {
		ID airnest.ID[FtPtrLoop]
		P  ftP
	}
	ftP *ftP
)

// A field type that cannot be stored fails where the collection is
// declared: Collection panics, NewCollection returns ErrInvalid naming the
// collection, the field and the type.
func TestUnstorableFieldTypesAtDeclaration(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		cases := []struct {
			name    string
			declare func(*airnest.Store) error
			mustErr func(*airnest.Store)
			want    []string
		}{
			{"chan", declareErr[FtChan], declarePanic[FtChan], []string{`"FtChan"`, "field C", "chan int"}},
			{"func", declareErr[FtFunc], declarePanic[FtFunc], []string{`"FtFunc"`, "Steps.Run", "func()"}},
			{"unsafe.Pointer", declareErr[FtUnsafe], declarePanic[FtUnsafe], []string{`"FtUnsafe"`, "field M", "unsafe.Pointer"}},
			{"complex", declareErr[FtComplex], declarePanic[FtComplex], []string{`"FtComplex"`, "field Z", "complex64"}},
			{"pointer to itself", declareErr[FtPtrLoop], declarePanic[FtPtrLoop], []string{`"FtPtrLoop"`, "field P", "ftP"}},
		}
		for _, tc := range cases {
			err := tc.declare(airnest.NewStore())
			if !errors.Is(err, airnest.ErrInvalid) {
				t.Errorf("%s: NewCollection: %v, want ErrInvalid", tc.name, err)
				continue
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s: %q missing in %v", tc.name, w, err)
				}
			}
			func() {
				defer func() {
					r := recover()
					perr, ok := r.(error)
					if !ok || !errors.Is(perr, airnest.ErrInvalid) || perr.Error() != err.Error() {
						t.Errorf("%s: Collection panicked with %v, want %v", tc.name, r, err)
					}
				}()
				tc.mustErr(airnest.NewStore())
			}()
		}
		// The store stays usable: the bad declaration left nothing behind.
		s := airnest.NewStore()
		if err := declareErr[FtChan](s); err == nil {
			t.Fatal("no error")
		}
		jobs := airnest.Collection[Job](s)
		if err := s.Open(bg, dsn, nil); err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := jobs.Save(bg, &Job{Status: "ok"}); err != nil {
			t.Fatal(err)
		}
	})
}

func declareErr[T any](s *airnest.Store) error {
	_, err := airnest.NewCollection[T](s)
	return err
}

func declarePanic[T any](s *airnest.Store) { airnest.Collection[T](s) }

// Recursive slice and map types are stored and read back.
type (
	FtList []FtList
	FtMap  map[string]FtMap
	FtRec  struct {
		ID   airnest.ID[FtRec]
		L    FtList
		M    FtMap
		Ptrs []*FtMap
	}
)

// A value holding a reference to itself fails Save with ErrInvalid.
type FtNode struct {
	ID       airnest.ID[FtNode]
	Name     string
	Parent   *FtNode
	Children []*FtNode
	Extra    map[string]any
}

func TestRecursiveTypesAndCycles(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s := airnest.NewStore()
		recs := airnest.Collection[FtRec](s)
		nodes := airnest.Collection[FtNode](s)
		if err := s.Open(bg, dsn, nil); err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		in := FtRec{L: FtList{FtList{}, FtList{FtList{}}}, M: FtMap{"a": FtMap{"b": nil}}, Ptrs: []*FtMap{{"x": {}}, nil}}
		if err := recs.Save(bg, &in); err != nil {
			t.Fatal(err)
		}
		out, err := recs.Load(bg, in.ID)
		if err != nil || !reflect.DeepEqual(out, in) {
			t.Fatalf("%v\n in %#v\nout %#v", err, in, out)
		}

		cycles := map[string]func() *FtNode{
			"itself": func() *FtNode {
				n := &FtNode{Name: "n"}
				n.Parent = n
				return n
			},
			"child to parent": func() *FtNode {
				p := &FtNode{Name: "p"}
				p.Children = []*FtNode{{Name: "c", Parent: p}}
				return p
			},
			"map to owner": func() *FtNode {
				n := &FtNode{}
				n.Extra = map[string]any{"self": n}
				return n
			},
		}
		for name, mk := range cycles {
			n := mk()
			err := nodes.Save(bg, n)
			if !errors.Is(err, airnest.ErrInvalid) || !strings.Contains(err.Error(), "FtNode") || !strings.Contains(err.Error(), "refers back to itself") {
				t.Errorf("%s: Save: %v, want ErrInvalid naming the collection and the type", name, err)
			}
			if !n.ID.IsZero() {
				t.Errorf("%s: failed Save left an ID", name)
			}
		}
		if c, err := nodes.Count(bg); err != nil || c != 0 {
			t.Fatalf("count %d, %v", c, err)
		}
		p := &FtNode{Name: "p", Children: []*FtNode{{Name: "c"}}}
		if err := nodes.Save(bg, p); err != nil {
			t.Fatal(err)
		}
	})
}

// Values in `any` fields come back as encoding/json users expect.
type FtAny struct {
	ID airnest.ID[FtAny]
	X  any
}

func TestAnyFieldLoadsJSONFriendly(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s := airnest.NewStore()
		anys := airnest.Collection[FtAny](s)
		if err := s.Open(bg, dsn, nil); err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		cases := []struct {
			in   any
			want any
		}{
			{42, int64(42)},
			{map[string]int{"a": 1}, map[string]any{"a": int64(1)}},
			{[]any{1, "x", map[string]any{"n": []int{2}}}, []any{int64(1), "x", map[string]any{"n": []any{int64(2)}}}},
			{2.5, 2.5},
		}
		for _, tc := range cases {
			v := FtAny{X: tc.in}
			if err := anys.Save(bg, &v); err != nil {
				t.Fatal(err)
			}
			got, err := anys.Load(bg, v.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.X, tc.want) {
				t.Errorf("%#v came back as %#v", tc.in, got.X)
			}
			js, err := json.Marshal(got)
			if err != nil {
				t.Errorf("%#v: json.Marshal: %v", tc.in, err)
			}
			want, _ := json.Marshal(tc.in)
			if !strings.Contains(string(js), fmt.Sprintf(`"X":%s`, want)) {
				t.Errorf("json %s, want X %s", js, want)
			}
		}
	})
}
