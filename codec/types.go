package codec

import (
	"fmt"
	"reflect"
	"sync"
)

// typeInfo holds what the encoder's safety checks need to know about a Go
// type, under the rules fxamacker applies to it (exported fields not
// tagged `cbor:"-"`, plus embedded structs; types with their own
// encoding are opaque). Computed once per type.
type typeInfo struct {
	// refs: a value can hold a reference cycle, because the type reaches an
	// interface or a type that contains itself.
	refs bool
	// iface: the type reaches an empty interface, whose values decode to
	// generic types that Decode normalizes.
	iface bool
	// ptrLoop names a pointer type reached whose chain of pointers never
	// ends (type P *P); fxamacker loops forever on it.
	ptrLoop reflect.Type
}

var typeInfos sync.Map // reflect.Type -> *typeInfo

func infoOf(t reflect.Type) *typeInfo {
	if ti, ok := typeInfos.Load(t); ok {
		return ti.(*typeInfo)
	}
	ti := &typeInfo{}
	for _, u := range reachable(t) {
		switch {
		case u.Kind() == reflect.Interface:
			ti.refs = true
			if u.NumMethod() == 0 {
				ti.iface = true
			}
		case u.Kind() == reflect.Pointer && pointerLoop(u) && ti.ptrLoop == nil:
			ti.ptrLoop = u
		}
	}
	if !ti.refs {
		ti.refs = hasCycle(t)
	}
	typeInfos.Store(t, ti)
	return ti
}

// hasCycle reports whether some type reachable from t reaches itself: a
// depth-first search that meets a type still on its stack.
func hasCycle(t reflect.Type) bool {
	const (
		onStack = 1
		done    = 2
	)
	state := map[reflect.Type]int{}
	var visit func(u reflect.Type) bool
	visit = func(u reflect.Type) bool {
		switch state[u] {
		case onStack:
			return true
		case done:
			return false
		}
		state[u] = onStack
		for _, e := range edges(u) {
			if visit(e) {
				return true
			}
		}
		state[u] = done
		return false
	}
	return visit(t)
}

// edges returns the types a value of t directly holds that fxamacker
// encodes by its default rules.
func edges(t reflect.Type) []reflect.Type {
	if t == typeCborTag {
		return []reflect.Type{t.Field(1).Type} // Content
	}
	if ownCodec(t) {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		var out []reflect.Type
		for _, i := range defaultFields(t) {
			out = append(out, t.Field(i).Type)
		}
		return out
	case reflect.Slice, reflect.Array, reflect.Pointer:
		return []reflect.Type{t.Elem()}
	case reflect.Map:
		return []reflect.Type{t.Key(), t.Elem()}
	}
	return nil
}

// defaultFields lists the fields of struct t that fxamacker may encode:
// exported ones and embedded structs, not tagged `cbor:"-"`.
func defaultFields(t reflect.Type) []int {
	var out []int
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Tag.Get("cbor") == "-" {
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.IsExported() || f.Anonymous && ft.Kind() == reflect.Struct {
			out = append(out, i)
		}
	}
	return out
}

// shadowFields lists the fields of struct t that a shadow type encodes.
func shadowFields(t reflect.Type) []int {
	var out []int
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.IsExported() && f.Tag.Get("cbor") != "-" && f.Tag.Get("airnest") != "-" {
			out = append(out, i)
		}
	}
	return out
}

// reachable returns t and every type reachable from it by edges.
func reachable(t reflect.Type) []reflect.Type {
	seen := map[reflect.Type]bool{t: true}
	out := []reflect.Type{t}
	for i := 0; i < len(out); i++ {
		for _, e := range edges(out[i]) {
			if !seen[e] {
				seen[e] = true
				out = append(out, e)
			}
		}
	}
	return out
}

// pointerLoop reports whether following Elem from pointer type t meets
// only pointers and comes back (type P *P, or P1 *P2 with P2 *P1).
func pointerLoop(t reflect.Type) bool {
	seen := map[reflect.Type]bool{}
	for t.Kind() == reflect.Pointer {
		if seen[t] {
			return true
		}
		seen[t] = true
		t = t.Elem()
	}
	return false
}

func errPointerLoop(t reflect.Type) error {
	return fmt.Errorf("unsupported type %s: a pointer to itself, never reaching a value", t)
}
