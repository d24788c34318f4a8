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
// which is addressable. Fields are chosen as walk chooses them.
func fixAny(v reflect.Value, shadow bool, leaves map[reflect.Type]bool) {
	t := v.Type()
	if !infoOf(t).iface {
		return
	}
	if shadow && leaves[t] {
		shadow = false
	}
	switch t.Kind() {
	case reflect.Interface:
		if !v.IsNil() && t.NumMethod() == 0 && v.CanSet() {
			v.Set(reflect.ValueOf(normalize(v.Elem().Interface())))
		}
	case reflect.Pointer:
		if !v.IsNil() {
			fixAny(v.Elem(), shadow, leaves)
		}
	case reflect.Struct:
		if t == typeCborTag {
			fixAny(v.Field(1), false, leaves)
			return
		}
		for _, i := range walkFields(t, shadow) {
			fixAny(v.Field(i), shadow, leaves)
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			fixAny(v.Index(i), shadow, leaves)
		}
	case reflect.Map:
		if v.IsNil() || !infoOf(t.Elem()).iface {
			return
		}
		it := v.MapRange()
		for it.Next() {
			e := reflect.New(t.Elem()).Elem()
			e.Set(it.Value())
			fixAny(e, shadow, leaves)
			v.SetMapIndex(it.Key(), e)
		}
	}
}
