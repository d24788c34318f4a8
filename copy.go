package airnest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/airnest/airnest/internal/atomicfile"
	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/sqlgen"
)

// CopyOptions configures Copy. A nil *CopyOptions means the defaults.
type CopyOptions struct {
	// Overwrite replaces a destination that already holds an airnest
	// store. Without it such a destination is refused with ErrInvalid
	// naming its collections. A destination holding tables that are not an
	// airnest store's is refused either way.
	Overwrite bool
	// Progress, if set, is called as rows are copied, with the rows copied
	// so far and the total, counted over every collection.
	Progress func(done, total int64)
}

// CopyReport is what Copy copied.
type CopyReport struct {
	// Collections lists every collection copied, in name order.
	Collections []CopiedCollection
	// Skipped names the source's tables that are not an airnest store's
	// (tables of your own, a replication tool's): Copy leaves them out.
	Skipped []string
	// Verify is the destination's verification (the checks of VerifyFile),
	// run before Copy reports success.
	Verify VerifyReport
}

// CopiedCollection is one collection Copy copied.
type CopiedCollection struct {
	Name string
	Rows int64
}

// copyPage is how many rows one source statement reads.
const copyPage = 1000

// Copy copies the whole store at src to dst, each an SQLite file path or a
// postgres:// URL: SQLite to PostgreSQL to move a store up, PostgreSQL to
// SQLite for a local copy, SQLite to SQLite for a compact copy of a file
// that shrank. It needs no Go types: it copies what is stored, every
// collection's rows (the exact CBOR, the index columns, the shape each was
// written in), tables and indexes made with the DDL the store itself
// makes in dst's dialect, the key registry, the collections' bookkeeping
// and the state of Migrate.
//
// The source is read in one read snapshot while programs go on using it,
// page by page, in constant memory. dst must be new, empty, or (with
// Overwrite) an airnest store, which is replaced. Nothing is half written:
// an SQLite destination is built in a temporary file beside it and renamed
// into place once complete; a PostgreSQL destination is written in one
// transaction, holding the lock the store takes to change its schema. Copy
// verifies the destination (the checks of VerifyFile) before it commits
// or renames it; a failed check is an error wrapping ErrSchema and leaves
// no destination. No program may have an SQLite destination open while it
// is replaced.
//
// Errors: ErrInvalid (a source that is not an airnest store, a
// destination that holds data), ErrSchema (a table Copy does not know, a
// failed verification), the context's error, the database's. Passwords in
// URLs are never repeated.
func Copy(ctx context.Context, src, dst string, opts *CopyOptions) (CopyReport, error) {
	if opts == nil {
		opts = &CopyOptions{}
	}
	rep, err := copyStore(ctx, src, dst, opts)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w: %w", cerr, err)
		}
		return rep, errorf("airnest: copy %s to %s: %w", backend.Redact(src), backend.Redact(dst), err)
	}
	return rep, nil
}

func copyStore(ctx context.Context, src, dst string, opts *CopyOptions) (CopyReport, error) {
	var rep CopyReport
	if src == dst || sameFile(src, dst) {
		return rep, fmt.Errorf("%w: the source and the destination are the same", ErrInvalid)
	}
	do, ok := backend.For(dst)
	if !ok {
		return rep, fmt.Errorf("%w: no database understands the destination", ErrInvalid)
	}
	cfg, err := (&Options{Readers: 1, Writers: 1}).config()
	if err != nil {
		return rep, err
	}
	sdb, err := openReadOnly(ctx, src)
	if err != nil {
		return rep, fmt.Errorf("source: %w", err)
	}
	defer sdb.Close()
	sc, err := sdb.Read(ctx)
	if err != nil {
		return rep, fmt.Errorf("source: %w", err)
	}
	defer sdb.Release(sc)
	if err := sc.BeginSnapshot(); err != nil {
		return rep, fmt.Errorf("source: %w", err)
	}
	defer sc.Rollback()
	source, err := readSource(sc, sdb.Dialect())
	if err != nil {
		return rep, err
	}
	rep.Skipped = source.skipped
	cp := &copier{ctx: ctx, from: sc, fromD: sdb.Dialect(), src: source, opts: opts, rep: &rep}
	if do.File {
		err = cp.intoFile(do, dst, cfg)
		return rep, err // filled in by cp
	}
	ddb, err := do.Open(ctx, dst, cfg)
	if err != nil {
		return rep, fmt.Errorf("destination: %w", err)
	}
	defer ddb.Close()
	err = cp.into(ddb, true)
	return rep, err
}

// sameFile reports whether two paths name one existing file.
func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

// copier writes one source's store into a destination.
type copier struct {
	ctx   context.Context
	from  backend.Conn // the source, in its read snapshot
	fromD *sqlgen.Dialect
	src   *copySource
	opts  *CopyOptions
	rep   *CopyReport
	done  int64
}

// intoFile builds the destination file beside path under a temporary
// name, then renames it into place.
func (cp *copier) intoFile(o backend.Opener, path string, cfg backend.Config) error {
	fi, err := os.Stat(path)
	exists := err == nil
	switch {
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return err
	case exists && !fi.Mode().IsRegular():
		return fmt.Errorf("%w: the destination is not a file", ErrInvalid)
	case exists && fi.Size() > 0:
		if err := cp.checkFile(path); err != nil {
			return err
		}
	}
	tmp, err := atomicfile.Temp(path)
	if err != nil {
		return err
	}
	defer atomicfile.RemoveDB(tmp) // nothing left once renamed
	// As SQLite creates a file, not the temporary file's 0600.
	mode := fs.FileMode(0o644)
	if exists {
		mode = fi.Mode().Perm()
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return err
	}
	db, err := o.Open(cp.ctx, tmp, cfg)
	if err != nil {
		return err
	}
	err = cp.into(db, false)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	// Closing checkpointed the WAL into the file: only the file is moved.
	if wal, err := os.Stat(tmp + "-wal"); err == nil && wal.Size() > 0 {
		return fmt.Errorf("the copy's WAL (%d bytes) was not checkpointed into it when it closed", wal.Size())
	}
	if !exists {
		if err := atomicfile.Publish(tmp, path); errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: the destination was created by another program while copying", ErrInvalid)
		} else if err != nil {
			return err
		}
		return nil
	}
	// The old file's journals would be replayed into the new one. (A crash
	// before the rename loses the old file's last commits still in its
	// WAL; it was being replaced.)
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := atomicfile.Sync(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return atomicfile.Sync(filepath.Dir(path))
}

// checkFile refuses an existing destination file that holds data Copy
// may not replace.
func (cp *copier) checkFile(path string) error {
	db, err := openReadOnly(cp.ctx, path)
	if err != nil {
		return fmt.Errorf("%w: the destination exists and is not an airnest store: %w", ErrInvalid, err)
	}
	defer db.Close()
	c, err := db.Read(cp.ctx)
	if err != nil {
		return err
	}
	defer db.Release(c)
	if err := c.BeginSnapshot(); err != nil {
		return fmt.Errorf("%w: the destination exists and is not an airnest store: %w", ErrInvalid, err)
	}
	defer c.Rollback()
	ours, colls, other, err := holdings(c, db.Dialect())
	if err != nil {
		return err
	}
	return refuseHoldings(ours, colls, other, cp.opts.Overwrite)
}

// into writes the store into db in one transaction that takes the schema
// lock, and verifies it before committing. check makes it look first at
// what db holds (a file made for the copy holds nothing).
func (cp *copier) into(db backend.DB, check bool) error {
	d := db.Dialect()
	return db.Exclusive(cp.ctx, func(c backend.Conn) error {
		prev := c.SetInterrupt(cp.ctx)
		defer c.SetInterrupt(prev)
		return schemaTx(c, d, func() error {
			if check {
				if err := cp.clear(c, d); err != nil {
					return err
				}
			}
			if err := cp.write(c, d); err != nil {
				return err
			}
			return cp.verify(c, d, db.Check)
		})
	})
}

// clear refuses a destination holding data, or drops an airnest store's
// tables with Overwrite.
func (cp *copier) clear(c backend.Conn, d *sqlgen.Dialect) error {
	ours, colls, other, err := holdings(c, d)
	if err != nil {
		return err
	}
	if err := refuseHoldings(ours, colls, other, cp.opts.Overwrite); err != nil {
		return err
	}
	for _, t := range ours {
		if err := c.Exec(sqlgen.DropTable(t)); err != nil {
			return err
		}
	}
	return nil
}

// write creates and fills every table; indexes are made after their
// table's rows are in.
func (cp *copier) write(c backend.Conn, d *sqlgen.Dialect) error {
	cp.progress()
	for _, k := range cp.src.kinds {
		if k.create != nil {
			if err := c.Exec(k.create(d)); err != nil {
				return err
			}
		}
		if err := cp.rows(c, cp.fromD.SelectAll(k.name, k.cols, k.key), nil, d.Insert(k.name, k.cols), nil); err != nil {
			return fmt.Errorf("%s: %w", k.name, err)
		}
	}
	for _, cc := range cp.src.colls {
		t := cc.table
		t.D = d
		n, err := cp.collection(c, cc.table, t)
		if err != nil {
			return fmt.Errorf("collection %q: %w", t.Name, err)
		}
		cp.rep.Collections = append(cp.rep.Collections, CopiedCollection{Name: t.Name, Rows: n})
	}
	return c.Exec(d.WriteFormat)
}

// collection copies one collection's table page by page, then makes its
// indexes.
func (cp *copier) collection(c backend.Conn, from, to sqlgen.Table) (int64, error) {
	if err := c.Exec(to.CreateTable()); err != nil {
		return 0, err
	}
	elems := sideTables(to.Columns)
	for _, e := range elems {
		for _, ddl := range to.CreateElems(e) {
			if err := c.Exec(ddl); err != nil {
				return 0, err
			}
		}
	}
	var total int64
	var after, prev []byte
	for {
		if err := cp.ctx.Err(); err != nil {
			return total, err
		}
		var args []any
		if after != nil {
			args = []any{after}
		}
		prev = append(prev[:0], after...)
		var n int64
		err := cp.rows(c, from.CopyPage(after != nil, copyPage), args, to.Upsert(), func(st backend.Stmt) {
			after = st.ColumnBlob(0, after[:0])
			n++
		})
		if err != nil {
			return total, err
		}
		if n > 0 {
			if err := cp.elems(c, from, to, elems, after, prev, total > 0); err != nil {
				return total, err
			}
		}
		total += n
		cp.done += n
		cp.progress()
		if n < copyPage {
			break
		}
	}
	for _, col := range to.Columns {
		if col.Indexed {
			if err := c.Exec(to.CreateIndex(col)); err != nil {
				return total, err
			}
		}
	}
	for _, comp := range to.Composites {
		if err := c.Exec(to.CreateComposite(comp)); err != nil {
			return total, err
		}
	}
	return total, nil
}

// elems copies the side-table rows of the page of ids up to last (past
// prev when after is set), once that page's rows are in.
func (cp *copier) elems(c backend.Conn, from, to sqlgen.Table, elems []*sqlgen.Elems, last, prev []byte, after bool) error {
	args := []any{last}
	if after {
		args = append(args, prev)
	}
	for _, e := range elems {
		if err := cp.rows(c, from.CopyElemsPage(e, after), args, to.D.Insert(e.Table, []string{"elem", "id"}), nil); err != nil {
			return fmt.Errorf("side table %s: %w", e.Table, err)
		}
	}
	return nil
}

// rows copies the rows sel selects on the source with ins on c.
func (cp *copier) rows(c backend.Conn, sel string, args []any, ins string, row func(backend.Stmt)) error {
	st, err := c.PrepareOnce(ins)
	if err != nil {
		return err
	}
	defer st.Close()
	_, err = copyRows(cp.from, c, sel, args, st, row)
	return err
}

func (cp *copier) progress() {
	if cp.opts.Progress != nil {
		cp.opts.Progress(cp.done, cp.src.rows)
	}
}

// verify checks the destination inside the copy's transaction: a problem
// fails the copy, so it is never committed.
func (cp *copier) verify(c backend.Conn, d *sqlgen.Dialect, check func(backend.Conn) ([]backend.Problem, error)) error {
	rep, err := verifyIn(cp.ctx, c, d, check, nil)
	cp.rep.Verify = rep
	if err != nil {
		return fmt.Errorf("verifying the copy: %w", err)
	}
	if !rep.OK() {
		return fmt.Errorf("%w: the copy failed verification with %d problems, the first: %s", ErrSchema, len(rep.Problems)+rep.Omitted, rep.Problems[0])
	}
	for i, vc := range rep.Collections {
		if i >= len(cp.rep.Collections) || int64(vc.Rows) != cp.rep.Collections[i].Rows || vc.Name != cp.rep.Collections[i].Name {
			return fmt.Errorf("%w: the copy's collections (%v) differ from those copied (%v)", ErrSchema, rep.Collections, cp.rep.Collections)
		}
	}
	if len(rep.Collections) != len(cp.rep.Collections) {
		return fmt.Errorf("%w: the copy has %d collections, %d were copied", ErrSchema, len(rep.Collections), len(cp.rep.Collections))
	}
	return nil
}
