package airnest

import (
	"fmt"
	"slices"
	"strings"

	"github.com/fxamacker/cbor/v2"

	"github.com/airnest/airnest/codec"
	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/sqlgen"
)

// maxKey is the largest field key airnest assigns or accepts: keys are
// counted up from 1 per key space, and an explicit `cbor:"N,keyasint"`
// above it is refused at Open.
const maxKey = 1<<32 - 1

// keyRow is one row of _airnest_keys as stored, before it is trusted.
type keyRow struct {
	coll, space, name, typ string
	key                    int64
	types                  string // typeof() of space, name, key, type
}

func (r keyRow) String() string {
	return fmt.Sprintf("_airnest_keys row (space %q, name %q, key %d)", r.space, r.name, r.key)
}

// readKeys reads the key registry rows of one collection, or of every
// collection when coll is "".
func readKeys(conn backend.Conn, d *sqlgen.Dialect, coll string) ([]keyRow, error) {
	sql := "SELECT collection, space, name, key, type, " + d.KeyTypes + " FROM _airnest_keys"
	var args []any
	if coll != "" {
		sql += " WHERE collection = ?"
		args = []any{coll}
	}
	var rows []keyRow
	err := query(conn, sql+" ORDER BY collection, space, key", args, func(st backend.Stmt) error {
		rows = append(rows, keyRow{coll: st.ColumnText(0), space: st.ColumnText(1), name: st.ColumnText(2),
			key: st.ColumnInt64(3), typ: st.ColumnText(4), types: st.ColumnText(5)})
		return nil
	})
	return rows, err
}

// keyProblems checks registry rows (of one or many collections) and
// returns, per row that cannot be trusted, why. A row edited by hand can
// make a field load as another's value, or as zero, without any error.
func keyProblems(rows []keyRow) map[int]string {
	bad := map[int]string{}
	byKey := map[[3]string]int{}
	byName := map[[3]string]int{}
	for i, r := range rows {
		switch {
		case r.types != "text,text,integer,text":
			bad[i] = fmt.Sprintf("column types are %s, want text,text,integer,text", r.types)
		case r.key < 0 || r.key > maxKey:
			bad[i] = fmt.Sprintf("key %d is out of range 0..%d", r.key, maxKey)
		case r.name == "" || strings.Contains(r.name, ".") || strings.HasPrefix(r.name, "#"):
			bad[i] = fmt.Sprintf("name %q is not a stored field name", r.name)
		case r.space != "" && strings.Contains("."+r.space+".", ".."):
			bad[i] = fmt.Sprintf("space %q is not a field path", r.space)
		}
		if _, ok := bad[i]; ok {
			continue
		}
		k := [3]string{r.coll, r.space, fmt.Sprint(r.key)}
		if j, dup := byKey[k]; dup {
			bad[i] = fmt.Sprintf("key %d is also given to name %q", r.key, rows[j].name)
			continue
		}
		byKey[k] = i
		n := [3]string{r.coll, r.space, r.name}
		if j, dup := byName[n]; dup {
			bad[i] = fmt.Sprintf("name %q also has key %d", r.name, rows[j].key)
			continue
		}
		byName[n] = i
	}
	return bad
}

// loadKeys reads and checks the key registry of one collection; a row that
// fails keyProblems is an ErrSchema naming it.
func loadKeys(conn backend.Conn, d *sqlgen.Dialect, coll string) ([]codec.Entry, error) {
	rows, err := readKeys(conn, d, coll)
	if err != nil {
		return nil, err
	}
	bad := keyProblems(rows)
	entries := make([]codec.Entry, len(rows))
	for i, r := range rows {
		if why, ok := bad[i]; ok {
			return nil, fmt.Errorf("%w: collection %q: %s: %s (the key registry was changed outside airnest; restore it from a backup)", ErrSchema, coll, r, why)
		}
		entries[i] = codec.Entry{Space: r.space, Name: r.name, Key: uint64(r.key), Type: r.typ}
	}
	return entries, nil
}

// unknownKeys returns the top-level field keys of a stored value that the
// registry does not hold: the registry was edited, or the value was
// written against another one.
func unknownKeys(blob []byte, reg *codec.Registry) []uint64 {
	var fields map[uint64]cbor.RawMessage
	if rawDecMode.Unmarshal(blob, &fields) != nil {
		return nil // not a map of integer keys: reported by the blob checks
	}
	var out []uint64
	for k := range fields {
		if _, ok := reg.Lookup("", k); !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// checkKeys reports the top-level keys of a stored value that its
// collection's key registry does not hold.
func checkKeys(rep *VerifyReport, coll, id string, blob []byte, reg *codec.Registry) {
	if ks := unknownKeys(blob, reg); len(ks) > 0 {
		rep.add(Problem{Check: "keys", Collection: coll, ID: id,
			Detail: fmt.Sprintf("field keys %v are not in the key registry (_airnest_keys): their values are never loaded", ks)})
	}
}
