package codec

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"time"
	"unsafe"

	"github.com/fxamacker/cbor/v2"
)

var (
	ErrSchema  = errors.New("airnest: schema mismatch")
	ErrInvalid = errors.New("airnest: invalid")
)

// Decoding limits: the maxima fxamacker accepts. Values are written by
// this package, so the limits exist only to turn hostile input into errors;
// declared lengths are checked against the input size before allocation.
const (
	maxNestedLevels  = 65535
	maxArrayElements = 2147483647
	maxMapPairs      = 2147483647
)

var (
	encMode cbor.UserBufferEncMode
	decMode cbor.DecMode
	// timeDecMode decodes the stored form of one time.Time.
	timeDecMode cbor.DecMode
	// anyDecMode decodes blobs without Go types (Describe, diagnostics).
	anyDecMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.EncOptions{
		Sort:            cbor.SortCoreDeterministic,
		ShortestFloat:   cbor.ShortestFloat16, // lossless: only shortens when exact
		NaNConvert:      cbor.NaNConvertPreserveSignal,
		InfConvert:      cbor.InfConvertFloat16,
		BigIntConvert:   cbor.BigIntConvertShortest,
		Time:            cbor.TimeRFC3339Nano,
		TimeTag:         cbor.EncTagRequired,
		IndefLength:     cbor.IndefLengthForbidden,
		NilContainers:   cbor.NilContainerAsNull,
		String:          cbor.StringToTextString,
		FieldName:       cbor.FieldNameToTextString,
		BinaryMarshaler: cbor.BinaryMarshalerByteString,
	}.UserBufferEncMode()
	if err != nil {
		panic(err)
	}
	dopts := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyQuiet,
		TimeTag:           cbor.DecTagOptional,
		MaxNestedLevels:   maxNestedLevels,
		MaxArrayElements:  maxArrayElements,
		MaxMapPairs:       maxMapPairs,
		IndefLength:       cbor.IndefLengthAllowed,
		TagsMd:            cbor.TagsAllowed,
		UTF8:              cbor.UTF8DecodeInvalid,
		BinaryUnmarshaler: cbor.BinaryUnmarshalerByteString,
		BigIntDec:         cbor.BigIntDecodePointer, // *big.Int marshals to JSON as a number
	}
	if decMode, err = dopts.DecMode(); err != nil {
		panic(err)
	}
	if timeDecMode, err = dopts.DecMode(); err != nil {
		panic(err)
	}
	dopts.DefaultByteStringType = reflect.TypeOf([]byte(nil))
	if anyDecMode, err = dopts.DecMode(); err != nil {
		panic(err)
	}
}

// timeValue replaces time.Time in shadow types. It encodes as tag 0 with
// an RFC 3339 string with nanoseconds and the zone offset, and refuses at
// encode time what that form cannot hold exactly.
type timeValue time.Time

// IsZero reports whether t is stored as absent. A time at the zero instant
// in a zone with a non-zero offset is not: its offset must survive.
func (t timeValue) IsZero() bool {
	tt := time.Time(t)
	if !tt.IsZero() {
		return false
	}
	_, off := tt.Zone()
	return off == 0
}

func (t timeValue) MarshalCBOR() ([]byte, error) {
	tt := time.Time(t)
	if t.IsZero() {
		return []byte{0xf6}, nil
	}
	if y := tt.Year(); y < 0 || y > 9999 {
		return nil, fmt.Errorf("%w: time %s: year outside 0..9999 cannot be stored", ErrInvalid, tt)
	}
	if _, off := tt.Zone(); off%60 != 0 {
		return nil, fmt.Errorf("%w: time %s: zone offset with seconds cannot be stored; convert to UTC", ErrInvalid, tt)
	}
	var buf [48]byte
	b := append(buf[:0], 0xc0, 0x60) // tag 0, text string head (length patched below)
	b = tt.AppendFormat(b, time.RFC3339Nano)
	n := len(b) - 2
	if n >= 24 {
		// needs a one-byte length argument
		out := make([]byte, 0, len(b)+1)
		out = append(out, 0xc0, 0x78, byte(n))
		return append(out, b[2:]...), nil
	}
	b[1] = 0x60 | byte(n)
	out := make([]byte, len(b))
	copy(out, b)
	return out, nil
}

func (t *timeValue) UnmarshalCBOR(data []byte) error {
	return timeDecMode.Unmarshal(data, (*time.Time)(t))
}

// Codec encodes and decodes values of one struct type T. Safe for
// concurrent use once built.
type Codec[T any] struct {
	collection string
	shadow     reflect.Type
	root       *node
	unbounded  bool
	// values plans how values are checked for reference cycles before
	// encoding (values.refs) and how the values of empty interfaces are
	// normalized after decoding (values.iface).
	values *walkPlan
	bufs   sync.Pool
}

// New plans T against reg for the named collection (used in error
// messages). It assigns keys to fields that reg does not know yet, adds them
// to reg, and returns them in added so the caller can persist them in the
// same transaction. Errors wrap ErrInvalid (bad type/tags/collisions); reg
// is left unchanged on error.
func New[T any](collection string, reg *Registry) (c *Codec[T], added []Entry, err error) {
	if reg == nil {
		return nil, nil, invalidf("collection %q: nil registry", collection)
	}
	t := reflect.TypeOf((*T)(nil)).Elem()
	if t.Kind() != reflect.Struct {
		return nil, nil, invalidf("collection %q: %s is not a struct", collection, t)
	}
	p := &planner{reg: reg.clone(), memo: map[memoKey]*structPlan{}, recursive: map[reflect.Type]bool{}, leaves: map[reflect.Type]bool{}}
	shadow, root, err := func() (st reflect.Type, n *node, err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%v", r)
			}
		}()
		return p.typ(t, "")
	}()
	if err != nil {
		return nil, nil, invalidf("collection %q: type %s: %v", collection, t, err)
	}
	if shadow.Size() != t.Size() || shadow.Align() != t.Align() {
		return nil, nil, invalidf("collection %q: shadow of %s has a different layout", collection, t)
	}
	*reg = *p.reg
	c = &Codec[T]{collection: collection, shadow: shadow, root: root, unbounded: p.unbounded,
		values: buildPlan(t, true, p.leaves, map[planKey]*walkPlan{})}
	c.bufs.New = func() any { return new(bytes.Buffer) }
	return c, p.added, nil
}

// Check reports what New would refuse for any registry: unsupported field
// types (chan, func, ...), bad tags, stored-name clashes. Collection
// declarations call it so that such a type fails where it is declared, not
// at Open. Errors wrap ErrInvalid.
func Check[T any](collection string) error {
	_, _, err := New[T](collection, NewRegistry(nil))
	return err
}

// Append appends the encoding of *v to dst and returns the extended slice.
func (c *Codec[T]) Append(dst []byte, v *T) (out []byte, err error) {
	if v == nil {
		return dst, invalidf("collection %q: nil value", c.collection)
	}
	defer func() {
		if r := recover(); r != nil {
			out, err = dst, invalidf("collection %q: cannot encode: %v", c.collection, r)
		}
	}()
	if c.values.refs {
		var w cycleWalk
		if err := w.walk(reflect.ValueOf(v).Elem(), c.values); err != nil {
			return dst, invalidf("collection %q: type %s: %v", c.collection, c.shadowName(), err)
		}
	}
	buf := c.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer c.bufs.Put(buf)
	if err := encMode.MarshalToBuffer(reflect.NewAt(c.shadow, unsafe.Pointer(v)).Interface(), buf); err != nil {
		if errors.Is(err, ErrInvalid) {
			return dst, fmt.Errorf("airnest: collection %q: %w", c.collection, err)
		}
		return dst, invalidf("collection %q: cannot encode: %v", c.collection, err)
	}
	if c.unbounded {
		// Interface values and recursive types have no static depth bound:
		// never store what Decode could not read back.
		if err := decMode.Wellformed(buf.Bytes()); err != nil {
			return dst, invalidf("collection %q: value cannot be stored, it could not be read back: %v", c.collection, err)
		}
	}
	return append(dst, buf.Bytes()...), nil
}

// Decode decodes data into *v, which the caller has set to the zero value.
// Every failure wraps ErrSchema.
func (c *Codec[T]) Decode(data []byte, v *T) (err error) {
	if v == nil {
		return invalidf("collection %q: nil value", c.collection)
	}
	defer func() {
		if r := recover(); r != nil {
			err = &schemaError{msg: fmt.Sprintf("airnest: collection %q: cannot decode stored value: %v", c.collection, r)}
		}
	}()
	err = decMode.Unmarshal(data, reflect.NewAt(c.shadow, unsafe.Pointer(v)).Interface())
	if err == nil {
		if c.values.iface {
			fixAny(reflect.ValueOf(v).Elem(), c.values)
		}
		return nil
	}
	return c.explain(data, err)
}

// schemaError wraps ErrSchema and the underlying decoder error.
type schemaError struct {
	msg   string
	cause error
}

func (e *schemaError) Error() string { return e.msg }
func (e *schemaError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrSchema}
	}
	return []error{ErrSchema, e.cause}
}

func (c *Codec[T]) explain(data []byte, err error) error {
	var te *cbor.UnmarshalTypeError
	if !errors.As(err, &te) {
		return &schemaError{msg: fmt.Sprintf("airnest: collection %q: corrupt stored value: %v", c.collection, err), cause: err}
	}
	if fe := c.diagnose(data); fe != nil {
		return fe
	}
	return &schemaError{msg: fmt.Sprintf("airnest: collection %q: stored %s, now %s: cannot decode; convert stored values with airnest.Migrate", c.collection, te.CBORType, te.GoType), cause: err}
}

// diagnose walks the stored value along the plan and reports the first
// field whose stored value does not decode into its current Go type.
func (c *Codec[T]) diagnose(data []byte) (out error) {
	defer func() {
		if r := recover(); r != nil {
			out = nil
		}
	}()
	return c.walk(data, c.root, nil)
}

func isNull(raw []byte) bool { return len(raw) == 1 && (raw[0] == 0xf6 || raw[0] == 0xf7) }

func (c *Codec[T]) walk(raw []byte, n *node, fp *fieldPlan) error {
	switch n.kind {
	case kindLeaf:
		if err := decMode.Unmarshal(raw, reflect.New(n.leaf).Interface()); err != nil {
			return c.fieldError(fp, err)
		}
	case kindPtr:
		if isNull(raw) {
			return nil
		}
		return c.walk(raw, n.elem, fp)
	case kindSlice:
		var items []cbor.RawMessage
		if err := decMode.Unmarshal(raw, &items); err != nil {
			return c.fieldError(fp, err)
		}
		for _, it := range items {
			if err := c.walk(it, n.elem, fp); err != nil {
				return err
			}
		}
	case kindMap:
		m := reflect.New(reflect.MapOf(n.keyType, reflect.TypeOf(cbor.RawMessage(nil))))
		if err := decMode.Unmarshal(raw, m.Interface()); err != nil {
			return c.fieldError(fp, err)
		}
		it := m.Elem().MapRange()
		for it.Next() {
			if err := c.walk(it.Value().Bytes(), n.elem, fp); err != nil {
				return err
			}
		}
	case kindStruct:
		if isNull(raw) {
			return nil
		}
		var m map[any]cbor.RawMessage
		if err := decMode.Unmarshal(raw, &m); err != nil {
			return c.fieldError(fp, err)
		}
		keys := make([]uint64, 0, len(m))
		for k := range m {
			if u, ok := k.(uint64); ok {
				keys = append(keys, u)
			}
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
		for _, k := range keys {
			f := n.st.byKey[k]
			if f == nil {
				continue
			}
			if err := c.walk(m[k], f.node, f); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *Codec[T]) fieldError(fp *fieldPlan, err error) error {
	cborType := ""
	var te *cbor.UnmarshalTypeError
	if errors.As(err, &te) {
		cborType = te.CBORType
	}
	if fp == nil {
		return &schemaError{msg: fmt.Sprintf("airnest: collection %q: stored %s, now %s: cannot decode; convert stored values with airnest.Migrate", c.collection, orWord(cborType, "value"), c.shadowName()), cause: err}
	}
	var stored string
	switch {
	case fp.recType != "" && fp.recType != fp.goType && cborType != "":
		stored = fp.recType + " (CBOR " + cborType + ")"
	case fp.recType != "" && fp.recType != fp.goType:
		stored = fp.recType
	case cborType != "":
		stored = "CBOR " + cborType
	default:
		stored = "value"
	}
	return &schemaError{msg: fmt.Sprintf("airnest: collection %q: field %q: stored %s, now %s: cannot decode; convert stored values with airnest.Migrate", c.collection, fp.path, stored, fp.goType), cause: err}
}

func (c *Codec[T]) shadowName() string { return reflect.TypeOf((*T)(nil)).Elem().String() }

func orWord(s, w string) string {
	if s == "" {
		return w
	}
	return "CBOR " + s
}
