package airnest

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"github.com/airnest/airnest/codec"
	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/sqlgen"
)

// MigrateOptions configures Migrate. A nil *MigrateOptions means the
// defaults.
type MigrateOptions struct {
	// Name identifies the migration in the file, so that a finished one is
	// not run again and an interrupted one resumes where it stopped.
	// Default: "<Old type> -> <New type>", e.g. "main.JobV1 -> main.Job".
	Name string
	// BatchSize is how many values one transaction converts (default 500).
	BatchSize int
	// Progress, if set, is called after each committed batch with the
	// values converted so far (by this call and by interrupted earlier ones)
	// and the total.
	Progress func(done, total int)
}

// Migrate converts every value stored in coll from the type Old to the type
// New with fn, for a change to the Go type that the encoding cannot absorb
// by itself (a field that changes type, say a string that becomes a list).
// Old is the previous version of the struct, kept in the program under
// another name with the same stored field names; coll is the collection as
// now declared, of New:
//
//	type JobV1 struct { // the old shape, as it was stored
//		ID   airnest.ID[JobV1]
//		Tags string // "a,b,c"
//	}
//
//	n, err := airnest.Migrate(ctx, Jobs, func(old JobV1) (Job, error) {
//		return Job{Tags: strings.Split(old.Tags, ",")}, nil
//	}, nil)
//
// Values are converted in ID order, BatchSize per write transaction. The
// value fn returns is saved under the old value's ID (fn may leave the ID
// zero) together with its index columns. If fn returns an error, that batch
// is rolled back and Migrate returns the error; the batches before it stay
// converted.
//
// Migrate is resumable and runs once: it records in the file (table
// _airnest_migrations, keyed by collection and Options.Name) the highest ID
// present when it started and the last ID converted, in the same
// transaction as each batch. Called again after an error or a crash, it
// goes on after the last committed batch; called after it finished, it
// returns (0, nil) at once, so it is safe to call at every start of the
// program. Values saved after it started (with higher IDs) are not touched.
//
// Values the program saves as New before or while Migrate runs are never
// converted again: every row records the shape of the Go type that wrote
// it (the stored field names and types, not the type's name), and Migrate
// skips rows written in New's shape, even when they would also decode as
// Old (a new field left out as zero, say). So the program may write from
// the moment it opens the store; nothing it saved is lost. Two limits:
// when Old and New are stored alike (the same field names and types: a
// change of meaning, not of shape), rows cannot be told apart and every
// value up to the start is converted; and rows written by a release
// before airnest recorded shapes (format version 0) are judged by
// decoding, as Old first. fn runs inside the batch's write transaction,
// so it must not use the store itself. An index column added in the same
// release as the type change stays NULL for values still in the old shape
// (they do not decode yet) until Migrate rewrites them.
// Migrate returns the number of values it converted. Errors: ErrSchema (a stored value decodes neither as Old nor
// as New), ErrInvalid (a bad Old type, or fn changed the ID), ErrConflict,
// fn's error, ErrClosed, the context's error.
func Migrate[Old, New any](ctx context.Context, coll *Coll[New], fn func(Old) (New, error), opts *MigrateOptions) (int, error) {
	if opts == nil {
		opts = &MigrateOptions{}
	}
	cc := coll.c
	if coll.tx != nil {
		return 0, fmt.Errorf("%w: Migrate: %s: pass the collection itself, not one bound to a Tx (Migrate runs its own transactions)", ErrInvalid, cc.name)
	}
	oldType := reflect.TypeFor[Old]()
	if oldType.Kind() != reflect.Struct {
		return 0, fmt.Errorf("%w: Migrate: %s: Old type %s is not a struct", ErrInvalid, cc.name, oldType)
	}
	name := opts.Name
	if name == "" {
		name = oldType.String() + " -> " + reflect.TypeFor[New]().String()
	}
	batch := opts.BatchSize
	if batch <= 0 {
		batch = 500
	}
	m := &migration[Old, New]{c: cc, name: name, batch: batch, fn: fn, shapesDiffer: shapeOf(oldType) != cc.shape}
	if f, ok := oldType.FieldByName("ID"); ok && f.Type == reflect.TypeFor[ID[Old]]() && len(f.Index) == 1 {
		m.oldID = f.Index
	}
	s := cc.store
	var done, total int
	var finished bool
	err := s.Tx(ctx, func(tx *Tx) error {
		var err error
		done, total, finished, err = m.start(tx.conn)
		return err
	})
	if err != nil {
		return 0, m.errorf(err)
	}
	converted := 0
	for !finished {
		var n, seen int
		err := s.Tx(ctx, func(tx *Tx) error {
			var err error
			n, seen, finished, err = m.step(tx.conn)
			return err
		})
		if err != nil {
			return converted, m.errorf(err)
		}
		converted += n
		done += seen
		if opts.Progress != nil {
			opts.Progress(done, total)
		}
	}
	return converted, nil
}

type migration[Old, New any] struct {
	c     *collection[New]
	name  string
	batch int
	fn    func(Old) (New, error)
	oldID []int // index of Old's ID field, if it has one
	dec   *codec.Codec[Old]
	// shapesDiffer is false when Old and New are stored alike: then a row's
	// recorded shape cannot tell them apart, and every value is converted.
	shapesDiffer bool
}

func (m *migration[Old, New]) errorf(err error) error {
	return errorf("airnest: Migrate %s (%s): %w", m.c.name, m.name, err)
}

// start records the migration's bounds on its first run and builds the
// decoder of Old from the collection's key registry.
func (m *migration[Old, New]) start(conn backend.Conn) (done, total int, finished bool, err error) {
	if err := conn.Exec(m.c.store.d.Migrations()); err != nil {
		return 0, 0, false, err
	}
	found := false
	err = query(conn, "SELECT done, total, CASE WHEN finished IS NULL THEN 0 ELSE 1 END FROM _airnest_migrations WHERE collection = ? AND name = ?", []any{m.c.name, m.name}, func(st backend.Stmt) error {
		found = true
		done, total, finished = int(st.ColumnInt64(0)), int(st.ColumnInt64(1)), st.ColumnInt64(2) != 0
		return nil
	})
	if err != nil || finished {
		return done, total, finished, err
	}
	if !found {
		table := sqlgen.Quote(m.c.name)
		var upto []byte
		err := query(conn, fmt.Sprintf("SELECT (SELECT id FROM %s ORDER BY id DESC LIMIT 1), (SELECT count(*) FROM %[1]s)", table), nil, func(st backend.Stmt) error {
			upto, total = st.ColumnBlob(0, nil), int(st.ColumnInt64(1))
			return nil
		})
		if err != nil {
			return 0, 0, false, err
		}
		err = query(conn, "INSERT INTO _airnest_migrations (collection, name, upto, done, total, started) VALUES (?, ?, ?, 0, ?, ?)",
			[]any{m.c.name, m.name, upto, int64(total), time.Now().UnixNano()}, nil)
		if err != nil {
			return 0, 0, false, err
		}
	}
	entries, err := loadKeys(conn, m.c.store.d, m.c.name)
	if err != nil {
		return 0, 0, false, err
	}
	// Keys the registry does not know (a field of Old that was never
	// stored) are given to Old's decoder only, never persisted: they are
	// above every stored key, so they match nothing.
	m.dec, _, err = codec.New[Old](m.c.name, codec.NewRegistry(entries))
	return done, total, false, err
}

// step converts the next batch and moves the cursor, in the caller's
// transaction.
// It returns how many values it converted and how many it looked at.
func (m *migration[Old, New]) step(conn backend.Conn) (n, seen int, finished bool, err error) {
	var cursor, upto []byte
	err = query(conn, "SELECT cursor, upto FROM _airnest_migrations WHERE collection = ? AND name = ?", []any{m.c.name, m.name}, func(st backend.Stmt) error {
		cursor, upto = st.ColumnBlob(0, nil), st.ColumnBlob(1, nil)
		return nil
	})
	if err != nil {
		return 0, 0, false, err
	}
	type row struct {
		id    [16]byte
		blob  []byte
		isNew bool // written by a program whose type is stored as New is
	}
	var rows []row
	if upto != nil {
		after, args := "", []any{m.c.shape}
		if cursor != nil {
			after, args = "id > ? AND ", append(args, cursor)
		}
		args = append(args, upto)
		sql := fmt.Sprintf("SELECT id, v, CASE WHEN %s = ? THEN 1 ELSE 0 END FROM %s WHERE %sid <= ? ORDER BY id LIMIT %d%s", sqlgen.ShapeColumn, sqlgen.Quote(m.c.name), after, m.batch, m.c.store.d.ForUpdate)
		err = query(conn, sql, args, func(st backend.Stmt) error {
			id := st.ColumnRawBlob(0)
			if len(id) != 16 {
				return fmt.Errorf("%w: a stored id is %d bytes, not 16", ErrSchema, len(id))
			}
			rows = append(rows, row{id: [16]byte(id), blob: st.ColumnBlob(1, nil), isNew: st.ColumnInt64(2) != 0})
			return nil
		})
		if err != nil {
			return 0, 0, false, err
		}
	}
	var buf []byte
	var vals []sqlValue
	newCodec := m.c.codec.Load()
	for _, r := range rows {
		id := ID[New]{u: r.id}
		if r.isNew && m.shapesDiffer {
			continue // saved as New before or while Migrate ran
		}
		var old Old
		if err := m.dec.Decode(r.blob, &old); err != nil {
			var probe New
			if newErr := newCodec.Decode(r.blob, &probe); newErr == nil {
				continue // already saved in the new shape
			}
			return 0, 0, false, fmt.Errorf("id %s: %w", id, err)
		}
		if m.oldID != nil {
			reflect.ValueOf(&old).Elem().FieldByIndex(m.oldID).Set(reflect.ValueOf(ID[Old]{u: r.id}))
		}
		nv, err := m.fn(old)
		if err != nil {
			return 0, 0, false, fmt.Errorf("id %s: %w", id, err)
		}
		idp := m.c.idOf(&nv)
		if idp.IsZero() {
			*idp = id
		} else if *idp != id {
			return 0, 0, false, fmt.Errorf("%w: id %s: the conversion function returned ID %s", ErrInvalid, id, *idp)
		}
		buf, vals, err = m.c.encode(buf[:0], &nv, vals[:0])
		if err != nil {
			return 0, 0, false, fmt.Errorf("id %s: %w", id, err)
		}
		if err := m.c.write(conn, id, buf, vals); err != nil {
			if isUnique(err) {
				return 0, 0, false, fmt.Errorf("id %s: %w: %w", id, ErrConflict, err)
			}
			return 0, 0, false, fmt.Errorf("id %s: %w", id, err)
		}
		n++
	}
	finished = len(rows) < m.batch
	last := cursor
	if len(rows) > 0 {
		last = rows[len(rows)-1].id[:]
	}
	sql := "UPDATE _airnest_migrations SET cursor = ?, done = done + ? WHERE collection = ? AND name = ?"
	args := []any{last, int64(len(rows)), m.c.name, m.name}
	if finished {
		sql = "UPDATE _airnest_migrations SET cursor = ?, done = done + ?, finished = ? WHERE collection = ? AND name = ?"
		args = []any{last, int64(len(rows)), time.Now().UnixNano(), m.c.name, m.name}
	}
	if err := query(conn, sql, args, nil); err != nil {
		return 0, 0, false, err
	}
	return n, len(rows), finished, nil
}
