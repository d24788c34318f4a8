package codec

import (
	"math"
	"reflect"

	"github.com/fxamacker/cbor/v2"
)

// Values held in empty interfaces decode to the types encoding/json users
// expect (see the package doc): fxamacker gives uint64 for every
// non-negative integer and map[any]any for every map, which encoding/json
// cannot marshal. After decoding a type that reaches an empty interface,
// fixAny rewrites what the decoder put there.

// normalize converts a value decoded into an empty interface.
func normalize(x any) any {
	switch x := x.(type) {
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x)
		}
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
	case map[any]any:
		strs := true
		for k := range x {
			if _, ok := k.(string); !ok {
				strs = false
				break
			}
		}
		if strs {
			m := make(map[string]any, len(x))
			for k, e := range x {
				m[k.(string)] = normalize(e)
			}
			return m
		}
		m := make(map[any]any, len(x))
		for k, e := range x {
			m[normalize(k)] = normalize(e)
		}
		return m
	case cbor.Tag:
		x.Content = normalize(x.Content)
		return x
	}
	return x
}

// fixAny normalizes every empty interface value the decoder filled in v,
// which is addressable, visiting what walk visits.
func fixAny(v reflect.Value, wp *walkPlan) {
	if !wp.iface {
		return
	}
	switch v.Kind() {
	case reflect.Interface:
		if !v.IsNil() && v.NumMethod() == 0 && v.CanSet() {
			v.Set(reflect.ValueOf(normalize(v.Elem().Interface())))
		}
	case reflect.Pointer:
		if !v.IsNil() {
			fixAny(v.Elem(), wp.elem)
		}
	case reflect.Struct:
		if wp.elem != nil { // cbor.Tag
			fixAny(v.Field(1), wp.elem)
			return
		}
		for _, f := range wp.fields {
			fixAny(v.Field(f.index), f.plan)
		}
	case reflect.Slice, reflect.Array:
		if !wp.elem.iface {
			return
		}
		for i := 0; i < v.Len(); i++ {
			fixAny(v.Index(i), wp.elem)
		}
	case reflect.Map:
		if v.IsNil() || !wp.elem.iface {
			return
		}
		if wp.t == typeMapStringAny {
			m := v.Interface().(map[string]any)
			for k, e := range m {
				m[k] = normalize(e)
			}
			return
		}
		it := v.MapRange()
		for it.Next() {
			e := reflect.New(wp.t.Elem()).Elem()
			e.Set(it.Value())
			fixAny(e, wp.elem)
			v.SetMapIndex(it.Key(), e)
		}
	}
}
