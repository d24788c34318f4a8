package codec

import (
	"encoding/base64"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// Describe decodes any blob of the collection without Go types into a
// JSON-friendly value, restoring field names from reg. A map whose keys are
// all unsigned integers, at least one of them known in the current key
// space, is shown as a struct: map[string]any keyed by stored names, with
// unknown keys as "#<key>". Byte strings become base64 (standard encoding)
// strings, times RFC 3339 strings with nanoseconds, NaN and infinities the
// strings "NaN", "+Inf", "-Inf", big integers decimal strings, other tags
// {"tag": n, "value": v}. Errors wrap ErrSchema.
func Describe(data []byte, reg *Registry) (out any, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, &schemaError{msg: fmt.Sprintf("airnest: cannot describe stored value: %v", r)}
		}
	}()
	var v any
	if err := anyDecMode.Unmarshal(data, &v); err != nil {
		return nil, &schemaError{msg: fmt.Sprintf("airnest: corrupt stored value: %v", err), cause: err}
	}
	return describe(v, "", true, reg), nil
}

func describe(v any, space string, structPos bool, reg *Registry) any {
	switch x := v.(type) {
	case nil, bool, string, uint64, int64:
		return x
	case float64:
		return jsonFloat(x)
	case float32:
		return jsonFloat(float64(x))
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case big.Int:
		return x.String()
	case *big.Int:
		return x.String()
	case cbor.Tag:
		return map[string]any{"tag": x.Number, "value": describe(x.Content, space, false, reg)}
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = describe(e, space, true, reg)
		}
		return out
	case map[any]any:
		if structPos && looksLikeStruct(x, space, reg) {
			out := make(map[string]any, len(x))
			for k, e := range x {
				key := k.(uint64)
				if en, ok := reg.Lookup(space, key); ok {
					child := en.Name
					if space != "" {
						child = space + "." + en.Name
					}
					out[en.Name] = describe(e, child, true, reg)
				} else {
					out["#"+strconv.FormatUint(key, 10)] = describe(e, space+".#"+strconv.FormatUint(key, 10), true, reg)
				}
			}
			return out
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[keyString(k)] = describe(e, space, true, reg)
		}
		return out
	}
	return fmt.Sprint(v)
}

func looksLikeStruct(m map[any]any, space string, reg *Registry) bool {
	known := false
	for k := range m {
		u, ok := k.(uint64)
		if !ok {
			return false
		}
		if _, ok := reg.Lookup(space, u); ok {
			known = true
		}
	}
	return known || len(m) == 0
}

func keyString(k any) string {
	switch x := k.(type) {
	case string:
		return x
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	case cbor.ByteString:
		return base64.StdEncoding.EncodeToString([]byte(x))
	case float64:
		return fmt.Sprint(jsonFloat(x))
	}
	return fmt.Sprint(k)
}

func jsonFloat(f float64) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return f
}
