package codec

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unsafe"
)

// A value that refers back to itself (n.Parent = &n) would make the
// encoder recurse until the stack overflows, which kills the process. So
// before encoding a value whose type can hold a cycle (it reaches an
// interface or a recursive type; decided at plan time, other types skip
// this), walk it as the encoder will. Like encoding/json, the walk counts
// depth and only starts remembering the references on its path past
// cycleDepth, so ordinary values allocate nothing.
const cycleDepth = 1000

type visitKey struct {
	ptr unsafe.Pointer
	len int
	typ reflect.Type
}

type cycleWalk struct {
	leaves map[reflect.Type]bool // recursive types stored by default rules
	depth  int
	path   map[visitKey]struct{}
}

// cycleError unwinds the walk, collecting the path to the cycle (innermost
// segment first).
type cycleError struct {
	typ  reflect.Type
	rev  []string
	loop bool // a pointer type to itself, not a value cycle
}

func (e *cycleError) Error() string {
	var b strings.Builder
	n := len(e.rev)
	for i := n - 1; i >= 0 && i >= n-6; i-- {
		s := e.rev[i]
		if b.Len() > 0 && !strings.HasPrefix(s, "[") {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	if n > 6 {
		b.WriteString("...")
	}
	if e.loop {
		return fmt.Sprintf("field %s: %v", b.String(), errPointerLoop(e.typ))
	}
	return fmt.Sprintf("field %s: the value refers back to itself (a %s holds a reference to a value that contains it); a cycle cannot be stored: break it, or leave the field out with `cbor:\"-\"`", b.String(), e.typ)
}

func (e *cycleError) in(seg string) error {
	e.rev = append(e.rev, seg)
	return e
}

func (w *cycleWalk) enter(k visitKey) error {
	w.depth++
	if w.depth <= cycleDepth {
		return nil
	}
	if w.path == nil {
		w.path = map[visitKey]struct{}{}
	}
	if _, ok := w.path[k]; ok {
		return &cycleError{typ: k.typ}
	}
	w.path[k] = struct{}{}
	return nil
}

func (w *cycleWalk) leave(k visitKey) {
	if w.depth > cycleDepth {
		delete(w.path, k)
	}
	w.depth--
}

var fieldLists sync.Map // fieldsKey -> []int

type fieldsKey struct {
	t      reflect.Type
	shadow bool
}

// walkFields lists the fields of struct t that can hold a cycle and that
// the encoder visits.
func walkFields(t reflect.Type, shadow bool) []int {
	k := fieldsKey{t, shadow}
	if fs, ok := fieldLists.Load(k); ok {
		return fs.([]int)
	}
	all := defaultFields(t)
	if shadow {
		all = shadowFields(t)
	}
	fs := []int{}
	for _, i := range all {
		if infoOf(t.Field(i).Type).refs {
			fs = append(fs, i)
		}
	}
	fieldLists.Store(k, fs)
	return fs
}

// walk visits v as the encoder will: with shadow set, structs are
// encoded by their shadow types; below an interface or a recursive type,
// by fxamacker's default rules.
func (w *cycleWalk) walk(v reflect.Value, shadow bool) error {
	t := v.Type()
	if !infoOf(t).refs {
		return nil
	}
	if shadow && w.leaves[t] {
		shadow = false
	}
	switch t.Kind() {
	case reflect.Interface:
		if v.IsNil() {
			return nil
		}
		e := v.Elem()
		if pl := infoOf(e.Type()).ptrLoop; pl != nil {
			return &cycleError{typ: pl, loop: true}
		}
		return w.walk(e, false)
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		k := visitKey{ptr: v.UnsafePointer(), typ: t}
		if err := w.enter(k); err != nil {
			return err
		}
		err := w.walk(v.Elem(), shadow)
		w.leave(k)
		return err
	case reflect.Struct:
		if t == typeCborTag {
			return w.walk(v.Field(1), false)
		}
		for _, i := range walkFields(t, shadow) {
			if err := w.walk(v.Field(i), shadow); err != nil {
				return wrapCycle(err, t.Field(i).Name)
			}
		}
	case reflect.Slice:
		if v.IsNil() {
			return nil
		}
		k := visitKey{ptr: v.UnsafePointer(), len: v.Len(), typ: t}
		if err := w.enter(k); err != nil {
			return err
		}
		err := w.elems(v, shadow)
		w.leave(k)
		return err
	case reflect.Array:
		return w.elems(v, shadow)
	case reflect.Map:
		if v.IsNil() {
			return nil
		}
		k := visitKey{ptr: v.UnsafePointer(), typ: t}
		if err := w.enter(k); err != nil {
			return err
		}
		defer w.leave(k)
		it := v.MapRange()
		for it.Next() {
			// Keys are never shadowed.
			if err := w.walk(it.Key(), false); err != nil {
				return wrapCycle(err, "["+keyText(it.Key())+"]")
			}
			if err := w.walk(it.Value(), shadow); err != nil {
				return wrapCycle(err, "["+keyText(it.Key())+"]")
			}
		}
	}
	return nil
}

func (w *cycleWalk) elems(v reflect.Value, shadow bool) error {
	if !infoOf(v.Type().Elem()).refs {
		return nil
	}
	for i := 0; i < v.Len(); i++ {
		if err := w.walk(v.Index(i), shadow); err != nil {
			return wrapCycle(err, "["+strconv.Itoa(i)+"]")
		}
	}
	return nil
}

func wrapCycle(err error, seg string) error {
	if ce, ok := err.(*cycleError); ok {
		return ce.in(seg)
	}
	return err
}

func keyText(k reflect.Value) string {
	for k.Kind() == reflect.Interface && !k.IsNil() {
		k = k.Elem()
	}
	switch k.Kind() {
	case reflect.String:
		return strconv.Quote(k.String())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(k.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(k.Uint(), 10)
	}
	return k.Type().String()
}
