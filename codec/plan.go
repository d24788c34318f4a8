package codec

import (
	"encoding"
	"fmt"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// node describes how one Go type is mapped to its shadow, for the slow
// diagnostic walk that runs only when decoding fails.
type node struct {
	kind    nodeKind
	st      *structPlan  // kindStruct
	elem    *node        // kindSlice, kindPtr, kindMap
	keyType reflect.Type // kindMap
	leaf    reflect.Type // kindLeaf: the type decoded into
}

type nodeKind uint8

const (
	kindLeaf nodeKind = iota
	kindStruct
	kindSlice // slices and arrays
	kindPtr
	kindMap
)

type fieldPlan struct {
	name    string // stored name
	path    string // dotted stored-name path from the root
	key     uint64
	goType  string // current Go type of the field
	recType string // Go type recorded in the registry
	node    *node
}

type structPlan struct {
	space  string
	orig   reflect.Type
	shadow reflect.Type
	byKey  map[uint64]*fieldPlan
}

type memoKey struct {
	t     reflect.Type
	space string
}

type planner struct {
	reg       *Registry // working copy
	added     []Entry
	unbounded bool
	memo      map[memoKey]*structPlan
	recursive map[reflect.Type]bool
	// leaves are the recursive types stored by fxamacker's default rules.
	leaves map[reflect.Type]bool
}

var spaceSeq atomic.Uint64

var (
	typeTime        = reflect.TypeOf(time.Time{})
	typeTimeValue   = reflect.TypeOf(timeValue{})
	typeBigInt      = reflect.TypeOf(big.Int{})
	typeCborTag     = reflect.TypeOf(cbor.Tag{})
	typeCborRawTag  = reflect.TypeOf(cbor.RawTag{})
	typeRawMessage  = reflect.TypeOf(cbor.RawMessage(nil))
	typeMarshaler   = reflect.TypeOf((*cbor.Marshaler)(nil)).Elem()
	typeUnmarshaler = reflect.TypeOf((*cbor.Unmarshaler)(nil)).Elem()
	typeBinMarsh    = reflect.TypeOf((*encoding.BinaryMarshaler)(nil)).Elem()
	typeBinUnmarsh  = reflect.TypeOf((*encoding.BinaryUnmarshaler)(nil)).Elem()
)

// ownCodec reports whether fxamacker encodes t by its own rules (methods
// or built-in special cases), so that t must not be shadowed.
func ownCodec(t reflect.Type) bool {
	switch t {
	case typeTime, typeBigInt, typeCborTag, typeCborRawTag, typeRawMessage:
		return true
	}
	pt := reflect.PointerTo(t)
	for _, it := range []reflect.Type{typeMarshaler, typeUnmarshaler, typeBinMarsh, typeBinUnmarsh} {
		if t.Implements(it) || pt.Implements(it) {
			return true
		}
	}
	return false
}

// TypeName returns the name recorded in the registry for a field's Go type.
func TypeName(t reflect.Type) string { return t.String() }

// pathError names the field (by its dotted stored-name path) whose type
// cannot be planned.
type pathError struct {
	path string
	err  error
}

func (e *pathError) Error() string { return "field " + e.path + ": " + e.err.Error() }
func (e *pathError) Unwrap() error { return e.err }

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// isRecursive reports whether struct type t can reach itself.
func (p *planner) isRecursive(t reflect.Type) bool {
	if r, ok := p.recursive[t]; ok {
		return r
	}
	seen := map[reflect.Type]bool{}
	var reach func(u reflect.Type, first bool) bool
	reach = func(u reflect.Type, first bool) bool {
		if !first && u == t {
			return true
		}
		if seen[u] {
			return false
		}
		seen[u] = true
		if !first && ownCodec(u) {
			return false
		}
		switch u.Kind() {
		case reflect.Struct:
			for i := 0; i < u.NumField(); i++ {
				if reach(u.Field(i).Type, false) {
					return true
				}
			}
		case reflect.Slice, reflect.Array, reflect.Pointer:
			return reach(u.Elem(), false)
		case reflect.Map:
			return reach(u.Key(), false) || reach(u.Elem(), false)
		}
		return false
	}
	r := reach(t, true)
	p.recursive[t] = r
	return r
}

// checkSupported rejects types fxamacker cannot encode anywhere below t.
func checkSupported(t reflect.Type, seen map[reflect.Type]bool) error {
	if seen[t] {
		return nil
	}
	seen[t] = true
	if ownCodec(t) {
		return nil
	}
	switch t.Kind() {
	case reflect.Chan, reflect.Func, reflect.UnsafePointer, reflect.Complex64, reflect.Complex128, reflect.Uintptr:
		return fmt.Errorf("unsupported type %s", t)
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() || f.Tag.Get("cbor") == "-" {
				continue
			}
			if err := checkSupported(f.Type, seen); err != nil {
				return fmt.Errorf("field %s: %w", f.Name, err)
			}
		}
	case reflect.Pointer:
		if pointerLoop(t) {
			return errPointerLoop(t)
		}
		return checkSupported(t.Elem(), seen)
	case reflect.Slice, reflect.Array:
		return checkSupported(t.Elem(), seen)
	case reflect.Map:
		if err := checkSupported(t.Key(), seen); err != nil {
			return err
		}
		return checkSupported(t.Elem(), seen)
	}
	return nil
}

func leaf(t reflect.Type) *node { return &node{kind: kindLeaf, leaf: t} }

// typ returns the shadow of t; structs met at this position use key space space.
func (p *planner) typ(t reflect.Type, space string) (reflect.Type, *node, error) {
	if t == typeTime {
		return typeTimeValue, leaf(typeTimeValue), nil
	}
	if ownCodec(t) {
		if t == typeRawMessage {
			p.unbounded = true
		}
		return t, leaf(t), nil
	}
	switch t.Kind() {
	case reflect.Chan, reflect.Func, reflect.UnsafePointer, reflect.Complex64, reflect.Complex128, reflect.Uintptr:
		return nil, nil, fmt.Errorf("unsupported type %s", t)
	case reflect.Interface:
		p.unbounded = true
		return t, leaf(t), nil
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Slice, reflect.Array, reflect.Pointer, reflect.Map:
		if p.isRecursive(t) {
			// A type that contains itself (type Tree struct{ Kids []Tree },
			// type L []L) cannot be shadowed: reflect cannot build recursive
			// types. fxamacker stores it with field names.
			p.unbounded = true
			if err := checkSupported(t, map[reflect.Type]bool{}); err != nil {
				return nil, nil, err
			}
			p.leaves[t] = true
			return t, leaf(t), nil
		}
	}
	switch t.Kind() {
	case reflect.Struct:
		sp, err := p.structPlan(t, space)
		if err != nil {
			return nil, nil, err
		}
		return sp.shadow, &node{kind: kindStruct, st: sp}, nil
	case reflect.Slice, reflect.Array, reflect.Pointer:
		et, en, err := p.typ(t.Elem(), space)
		if err != nil {
			return nil, nil, err
		}
		if et == t.Elem() && en.kind == kindLeaf {
			return t, leaf(t), nil
		}
		switch t.Kind() {
		case reflect.Slice:
			return reflect.SliceOf(et), &node{kind: kindSlice, elem: en}, nil
		case reflect.Array:
			return reflect.ArrayOf(t.Len(), et), &node{kind: kindSlice, elem: en}, nil
		default:
			return reflect.PointerTo(et), &node{kind: kindPtr, elem: en}, nil
		}
	case reflect.Map:
		if err := checkSupported(t.Key(), map[reflect.Type]bool{}); err != nil {
			return nil, nil, err
		}
		et, en, err := p.typ(t.Elem(), space)
		if err != nil {
			return nil, nil, err
		}
		if et == t.Elem() && en.kind == kindLeaf {
			return t, leaf(t), nil
		}
		return reflect.MapOf(t.Key(), et), &node{kind: kindMap, elem: en, keyType: t.Key()}, nil
	}
	return t, leaf(t), nil
}

type planField struct {
	index    int
	sf       reflect.StructField
	skip     bool
	name     string
	explicit bool
	key      uint64
	shadow   reflect.Type
	node     *node
}

func (p *planner) structPlan(t reflect.Type, space string) (*structPlan, error) {
	mk := memoKey{t, space}
	if sp := p.memo[mk]; sp != nil {
		return sp, nil
	}
	sid := spaceSeq.Add(1)
	fields := make([]planField, t.NumField())
	names := map[string]int{}
	for i := range fields {
		f := t.Field(i)
		pf := &fields[i]
		pf.index, pf.sf, pf.shadow = i, f, f.Type
		atag, hasA := f.Tag.Lookup("airnest")
		ctag := f.Tag.Get("cbor")
		if !f.IsExported() || ctag == "-" || atag == "-" {
			pf.skip = true
			continue
		}
		name := f.Name
		if hasA {
			if n, _, _ := strings.Cut(atag, ","); n != "" {
				name = n
			}
		}
		if strings.Contains(name, ".") || strings.HasPrefix(name, "#") {
			return nil, fmt.Errorf("field %s: stored name %q must not contain '.' or start with '#'", f.Name, name)
		}
		if prev, dup := names[name]; dup {
			return nil, fmt.Errorf("fields %s and %s have the same stored name %q", t.Field(prev).Name, f.Name, name)
		}
		names[name] = i
		pf.name = name
		if ctag != "" {
			parts := strings.Split(ctag, ",")
			for _, o := range parts[1:] {
				if o == "keyasint" {
					k, err := strconv.ParseUint(parts[0], 10, 64)
					if err != nil {
						return nil, fmt.Errorf("field %s: cbor tag %q: keyasint needs a non-negative integer key", f.Name, ctag)
					}
					pf.explicit, pf.key = true, k
				}
			}
		}
		child := name
		if space != "" {
			child = space + "." + name
		}
		st, sn, err := p.typ(f.Type, child)
		if err != nil {
			if _, named := err.(*pathError); named {
				return nil, err // a nested field already gave its full path
			}
			return nil, &pathError{path: child, err: err}
		}
		pf.shadow, pf.node = st, sn
	}
	// Explicit keys first, so that dynamic keys never collide with them.
	rs := p.reg.space(space)
	for i := range fields {
		pf := &fields[i]
		if pf.skip || !pf.explicit {
			continue
		}
		if e, ok := rs.byName[pf.name]; ok && e.Key != pf.key {
			return nil, fmt.Errorf("field %s: explicit key %d, but stored name %q already has key %d", pf.sf.Name, pf.key, pf.name, e.Key)
		}
		if e, ok := rs.byKey[pf.key]; ok && e.Name != pf.name {
			return nil, fmt.Errorf("field %s: explicit key %d is already used by stored name %q", pf.sf.Name, pf.key, e.Name)
		}
		p.ensure(rs, space, pf)
	}
	for i := range fields {
		pf := &fields[i]
		if pf.skip || pf.explicit {
			continue
		}
		if e, ok := rs.byName[pf.name]; ok {
			pf.key = e.Key
		} else {
			if rs.max == ^uint64(0) {
				return nil, fmt.Errorf("key space %q exhausted", space)
			}
			pf.key = rs.max + 1
		}
		p.ensure(rs, space, pf)
	}
	sp := &structPlan{space: space, orig: t, byKey: map[uint64]*fieldPlan{}}
	sfs := make([]reflect.StructField, len(fields))
	for i := range fields {
		pf := &fields[i]
		sfs[i] = reflect.StructField{Name: fmt.Sprintf("F%d_%d", sid, i), Type: pf.shadow}
		if pf.skip {
			sfs[i].Tag = `cbor:"-"`
			continue
		}
		if inlineFloat(pf.shadow) {
			// reflect's IsZero treats -0 as zero: keep such fields so -0 survives.
			sfs[i].Tag = reflect.StructTag(fmt.Sprintf(`cbor:"%d,keyasint"`, pf.key))
		} else {
			sfs[i].Tag = reflect.StructTag(fmt.Sprintf(`cbor:"%d,keyasint,omitzero"`, pf.key))
		}
		e, _ := rs.byName[pf.name]
		path := pf.name
		if space != "" {
			path = space + "." + pf.name
		}
		sp.byKey[pf.key] = &fieldPlan{name: pf.name, path: path, key: pf.key, goType: TypeName(pf.sf.Type), recType: e.Type, node: pf.node}
	}
	shadow, err := structOf(sfs)
	if err != nil {
		return nil, err
	}
	if err := sameLayout(t, shadow); err != nil {
		return nil, err
	}
	sp.shadow = shadow
	p.memo[mk] = sp
	return sp, nil
}

func (p *planner) ensure(rs *regSpace, space string, pf *planField) {
	if _, ok := rs.byName[pf.name]; ok {
		return
	}
	e := Entry{Space: space, Name: pf.name, Key: pf.key, Type: TypeName(pf.sf.Type)}
	p.reg.add(e)
	p.added = append(p.added, e)
}

func structOf(sfs []reflect.StructField) (t reflect.Type, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot build shadow type: %v", r)
		}
	}()
	return reflect.StructOf(sfs), nil
}

func sameLayout(orig, shadow reflect.Type) error {
	if orig.Size() != shadow.Size() || orig.Align() != shadow.Align() || orig.NumField() != shadow.NumField() {
		return fmt.Errorf("shadow of %s has a different layout", orig)
	}
	for i := 0; i < orig.NumField(); i++ {
		a, b := orig.Field(i), shadow.Field(i)
		if a.Offset != b.Offset || a.Type.Size() != b.Type.Size() || a.Type.Align() != b.Type.Align() {
			return fmt.Errorf("shadow of %s: field %s has a different layout", orig, a.Name)
		}
	}
	return nil
}

// inlineFloat reports whether a value of t holds a float in place (not
// behind a pointer, slice, map or interface), so that omitzero could drop -0.
func inlineFloat(t reflect.Type) bool {
	if t == typeTimeValue {
		return false
	}
	switch t.Kind() {
	case reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return true
	case reflect.Array:
		return inlineFloat(t.Elem())
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			if inlineFloat(t.Field(i).Type) {
				return true
			}
		}
	}
	return false
}
