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
	depth int
	path  map[visitKey]struct{}
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

// walkPlan is how walk and fixAny visit values of one type, built once
// so that the walk itself consults no cache: only fields and elements that
// can hold a cycle (refs) or an empty interface (iface) are kept.
type walkPlan struct {
	t       reflect.Type
	refs    bool
	iface   bool
	ptrLoop reflect.Type
	elem    *walkPlan // pointer, slice, array, map value; cbor.Tag content
	key     *walkPlan // map key
	fields  []fieldWalk
}

type fieldWalk struct {
	index int
	name  string
	plan  *walkPlan
}

type planKey struct {
	t      reflect.Type
	shadow bool
}

// defaultPlans holds plans under fxamacker's default rules, for the
// dynamic types met in interfaces.
var defaultPlans sync.Map // reflect.Type -> *walkPlan

func defaultPlan(t reflect.Type) *walkPlan {
	if wp, ok := defaultPlans.Load(t); ok {
		return wp.(*walkPlan)
	}
	wp := buildPlan(t, false, nil, map[planKey]*walkPlan{})
	defaultPlans.Store(t, wp)
	return wp
}

// buildPlan plans t; with shadow set, structs are encoded by their shadow
// types, except the recursive types in leaves, which (like everything in
// an interface) follow fxamacker's default rules.
func buildPlan(t reflect.Type, shadow bool, leaves map[reflect.Type]bool, memo map[planKey]*walkPlan) *walkPlan {
	if shadow && leaves[t] {
		shadow = false
	}
	k := planKey{t, shadow}
	if wp := memo[k]; wp != nil {
		return wp
	}
	ti := infoOf(t)
	wp := &walkPlan{t: t, refs: ti.refs, iface: ti.iface, ptrLoop: ti.ptrLoop}
	memo[k] = wp
	if !wp.refs {
		return wp
	}
	switch t.Kind() {
	case reflect.Struct:
		if t == typeCborTag {
			wp.elem = buildPlan(t.Field(1).Type, false, leaves, memo)
			break
		}
		all := defaultFields(t)
		if shadow {
			all = shadowFields(t)
		}
		for _, i := range all {
			if fp := buildPlan(t.Field(i).Type, shadow, leaves, memo); fp.refs {
				wp.fields = append(wp.fields, fieldWalk{index: i, name: t.Field(i).Name, plan: fp})
			}
		}
	case reflect.Pointer, reflect.Slice, reflect.Array:
		wp.elem = buildPlan(t.Elem(), shadow, leaves, memo)
	case reflect.Map:
		wp.key = buildPlan(t.Key(), false, leaves, memo) // keys are never shadowed
		wp.elem = buildPlan(t.Elem(), shadow, leaves, memo)
	}
	return wp
}

var (
	typeMapStringAny = reflect.TypeOf(map[string]any(nil))
	typeSliceAny     = reflect.TypeOf([]any(nil))
)

// walkAny walks the value held in an interface.
func (w *cycleWalk) walkAny(e any) error {
	if e == nil {
		return nil
	}
	ep := defaultPlan(reflect.TypeOf(e))
	if ep.ptrLoop != nil {
		return &cycleError{typ: ep.ptrLoop, loop: true}
	}
	return w.walk(reflect.ValueOf(e), ep)
}

// walk visits v as the encoder will.
func (w *cycleWalk) walk(v reflect.Value, wp *walkPlan) error {
	if !wp.refs {
		return nil
	}
	switch v.Kind() {
	case reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return w.walkAny(v.Interface())
	case reflect.Pointer, reflect.Slice, reflect.Map:
		if v.IsNil() {
			return nil
		}
		k := visitKey{ptr: v.UnsafePointer(), typ: wp.t}
		if v.Kind() == reflect.Slice {
			k.len = v.Len()
		}
		if err := w.enter(k); err != nil {
			return err
		}
		err := w.referenced(v, wp)
		w.leave(k)
		return err
	case reflect.Struct:
		if wp.elem != nil { // cbor.Tag
			return w.walk(v.Field(1), wp.elem)
		}
		for _, f := range wp.fields {
			if err := w.walk(v.Field(f.index), f.plan); err != nil {
				return wrapCycle(err, f.name)
			}
		}
	case reflect.Array:
		return w.elems(v, wp.elem)
	}
	return nil
}

// referenced walks what the non-nil pointer, slice or map v refers to.
func (w *cycleWalk) referenced(v reflect.Value, wp *walkPlan) error {
	switch v.Kind() {
	case reflect.Pointer:
		return w.walk(v.Elem(), wp.elem)
	case reflect.Slice:
		return w.elems(v, wp.elem)
	}
	if wp.t == typeMapStringAny {
		// The usual content of an interface; ranging over it natively
		// saves reflect's copy of every key and value.
		for key, e := range v.Interface().(map[string]any) {
			if err := w.walkAny(e); err != nil {
				return wrapCycle(err, "["+strconv.Quote(key)+"]")
			}
		}
		return nil
	}
	it := v.MapRange()
	for it.Next() {
		if err := w.walk(it.Key(), wp.key); err != nil {
			return wrapCycle(err, "["+keyText(it.Key())+"]")
		}
		if err := w.walk(it.Value(), wp.elem); err != nil {
			return wrapCycle(err, "["+keyText(it.Key())+"]")
		}
	}
	return nil
}

func (w *cycleWalk) elems(v reflect.Value, ep *walkPlan) error {
	if !ep.refs {
		return nil
	}
	if v.Type() == typeSliceAny {
		for i, e := range v.Interface().([]any) {
			if err := w.walkAny(e); err != nil {
				return wrapCycle(err, "["+strconv.Itoa(i)+"]")
			}
		}
		return nil
	}
	for i := 0; i < v.Len(); i++ {
		if err := w.walk(v.Index(i), ep); err != nil {
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
