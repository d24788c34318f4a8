package airnest

import (
	"hash/fnv"
	"reflect"
	"strconv"
	"strings"
)

// shapeOf fingerprints how a struct type is stored: its stored field names
// and their types, recursively, but not the type's own name, so a type
// kept under another name for Migrate (JobV1) has the shape of the type it
// was (Job in the earlier release). Every row records the shape of the
// type that wrote it, in column _airnest_shape, so that Migrate can tell a
// value already saved as New from one that merely also decodes as Old.
func shapeOf(t reflect.Type) int64 {
	var b strings.Builder
	describeShape(&b, t, map[reflect.Type]bool{}, true)
	h := fnv.New64a()
	h.Write([]byte(b.String()))
	return int64(h.Sum64() >> 1) // SQLite integers are signed
}

func describeShape(b *strings.Builder, t reflect.Type, seen map[reflect.Type]bool, top bool) {
	if t.PkgPath() == idPkg && strings.HasPrefix(t.Name(), "ID[") {
		b.WriteString("ID") // ID[JobV1] is stored as ID[Job] is
		return
	}
	if !top && (t.Name() != "" && t.Kind() != reflect.Struct || seen[t]) {
		b.WriteString(t.String()) // a named leaf type, or a recursive one
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		b.WriteString("*")
		describeShape(b, t.Elem(), seen, false)
	case reflect.Slice:
		b.WriteString("[]")
		describeShape(b, t.Elem(), seen, false)
	case reflect.Array:
		b.WriteString("[" + strconv.Itoa(t.Len()) + "]")
		describeShape(b, t.Elem(), seen, false)
	case reflect.Map:
		b.WriteString("map[" + t.Key().String() + "]")
		describeShape(b, t.Elem(), seen, false)
	case reflect.Struct:
		if !top && t.Name() != "" && hasUnexported(t) {
			b.WriteString(t.String()) // time.Time and the like: their own encoding
			return
		}
		seen[t] = true
		b.WriteString("{")
		for i := range t.NumField() {
			f := t.Field(i)
			name, skip := storedName(f)
			if skip {
				continue
			}
			b.WriteString(name + ":")
			describeShape(b, f.Type, seen, false)
			b.WriteString(";")
		}
		b.WriteString("}")
		delete(seen, t)
	default:
		b.WriteString(t.String())
	}
}

var idPkg = reflect.TypeFor[ID[struct{}]]().PkgPath()

func hasUnexported(t reflect.Type) bool {
	for i := range t.NumField() {
		if !t.Field(i).IsExported() {
			return true
		}
	}
	return false
}

// storedName is the name a field is stored under, as the codec chooses it.
func storedName(f reflect.StructField) (string, bool) {
	atag, hasA := f.Tag.Lookup("airnest")
	if !f.IsExported() || atag == "-" || f.Tag.Get("cbor") == "-" {
		return "", true
	}
	if n, _, _ := strings.Cut(atag, ","); hasA && n != "" {
		return n, false
	}
	return f.Name, false
}
