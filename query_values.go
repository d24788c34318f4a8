package airnest

import (
	"fmt"
	"math"
	"reflect"
	"unicode/utf8"
)

// prefixEnd is a text greater than every text starting with p and less
// than every other text above p. For valid UTF-8 it is p with its last
// character replaced by the next one (still valid UTF-8, which PostgreSQL
// requires; byte order is character order); otherwise p with its last byte
// below 0xFF incremented. There is none when p is empty or all 0xFF bytes:
// every text from p on starts with it.
func prefixEnd(p string) (sqlValue, bool) {
	if utf8.ValidString(p) {
		for p != "" {
			r, n := utf8.DecodeLastRuneInString(p)
			p = p[:len(p)-n]
			for r++; r <= utf8.MaxRune; r++ {
				if utf8.ValidRune(r) {
					return sqlValue{kind: sqlText, s: p + string(r)}, true
				}
			}
		}
		return sqlValue{}, false
	}
	b := []byte(p)
	for len(b) > 0 && b[len(b)-1] == 0xFF {
		b = b[:len(b)-1]
	}
	if len(b) == 0 {
		return sqlValue{}, false
	}
	b[len(b)-1]++
	return sqlValue{kind: sqlText, s: string(b)}, true
}

// nullable reports whether a column of Go type t can hold NULL.
func nullable(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Float32, reflect.Float64:
		return true
	}
	return t == timeType || t.Implements(rawIDType)
}

func describe(v any) string {
	if v == nil {
		return "nil"
	}
	s := fmt.Sprint(v)
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return fmt.Sprintf("%T value %s", v, s)
}

// queryValue converts a value given in a query to the column's SQL value,
// exactly as Save converts the field: first to the field's Go type, which
// must happen without loss.
func queryValue(col *indexCol, v any) (sqlValue, error) {
	ft := col.typ
	rv := reflect.ValueOf(v)
	mismatch := func() (sqlValue, error) {
		t := fmt.Sprintf("%T", v)
		if isFloat(rv.Kind()) && isInt(ft.Kind()) || isUint(ft.Kind()) && isNumber(rv.Kind()) {
			// Say which number: 2.0 fits an int, 2.5 does not.
			return sqlValue{}, fmt.Errorf("column %q is field %s of type %s; %s %s (%v) does not fit", col.decl, col.field, ft, article(t), t, v)
		}
		return sqlValue{}, fmt.Errorf("column %q is field %s of type %s; %s %s does not fit", col.decl, col.field, ft, article(t), t)
	}
	if v == nil {
		if col.null && ft.Kind() != reflect.Float32 && ft.Kind() != reflect.Float64 {
			return sqlValue{}, nil
		}
		return sqlValue{}, fmt.Errorf("column %q is field %s of type %s, never NULL; nil does not fit", col.name, col.field, ft)
	}
	conv := col.conv
	base := ft
	if rv.Type() != ft {
		for base.Kind() == reflect.Pointer {
			base = base.Elem()
		}
		if base != ft {
			_, c, err := converter(base)
			if err != nil {
				return sqlValue{}, err
			}
			conv = c
		}
		if rv.Type() != base {
			cv, ok := convertExact(rv, base)
			if !ok {
				return mismatch()
			}
			rv = cv
		}
	}
	sv, err := conv(rv)
	if err != nil {
		return sqlValue{}, fmt.Errorf("column %q (field %s %s): %v", col.name, col.field, ft, err)
	}
	if sv.kind == sqlFloat && math.IsNaN(sv.f) {
		sv = sqlValue{} // SQLite stores NaN as NULL
	}
	return sv, nil
}

// convertExact converts a plain Go value (a predeclared or unnamed type, as
// untyped constants become) to t when nothing is lost: 3 for an int64 or
// uint8 field, 2 for a float64, 2.0 (not 2.5) for an int, "x" for a named
// string type. Values of other named types are not converted: a Level is
// not a Priority.
func convertExact(v reflect.Value, t reflect.Type) (reflect.Value, bool) {
	if v.Type().PkgPath() != "" {
		return reflect.Value{}, false
	}
	out := reflect.New(t).Elem()
	switch k := v.Kind(); {
	case isInt(k) && isInt(t.Kind()):
		if out.OverflowInt(v.Int()) {
			return reflect.Value{}, false
		}
		out.SetInt(v.Int())
	case isUint(k) && isInt(t.Kind()):
		if v.Uint() > math.MaxInt64 || out.OverflowInt(int64(v.Uint())) {
			return reflect.Value{}, false
		}
		out.SetInt(int64(v.Uint()))
	case isInt(k) && isUint(t.Kind()):
		if v.Int() < 0 || out.OverflowUint(uint64(v.Int())) {
			return reflect.Value{}, false
		}
		out.SetUint(uint64(v.Int()))
	case isUint(k) && isUint(t.Kind()):
		if out.OverflowUint(v.Uint()) {
			return reflect.Value{}, false
		}
		out.SetUint(v.Uint())
	case isInt(k) && isFloat(t.Kind()):
		f := float64(v.Int())
		if f >= math.MaxInt64 || int64(f) != v.Int() || out.OverflowFloat(f) {
			return reflect.Value{}, false
		}
		out.SetFloat(f)
	case isFloat(k) && isFloat(t.Kind()):
		out.SetFloat(v.Float())
	case isFloat(k) && isInt(t.Kind()):
		// 2.0 is an int; 2.5, NaN and what overflows are not.
		f := v.Float()
		if f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 || out.OverflowInt(int64(f)) {
			return reflect.Value{}, false
		}
		out.SetInt(int64(f))
	case isFloat(k) && isUint(t.Kind()):
		f := v.Float()
		if f != math.Trunc(f) || f < 0 || f >= math.MaxUint64 || out.OverflowUint(uint64(f)) {
			return reflect.Value{}, false
		}
		out.SetUint(uint64(f))
	case k == reflect.Bool && t.Kind() == reflect.Bool,
		k == reflect.String && t.Kind() == reflect.String,
		k == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 &&
			t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		out.Set(v.Convert(t))
	default:
		return reflect.Value{}, false
	}
	return out, true
}

func isInt(k reflect.Kind) bool   { return k >= reflect.Int && k <= reflect.Int64 }
func isUint(k reflect.Kind) bool  { return k >= reflect.Uint && k <= reflect.Uintptr }
func isFloat(k reflect.Kind) bool { return k == reflect.Float32 || k == reflect.Float64 }
