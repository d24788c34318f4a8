package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/sqlgen"
)

// writeConfig opens the database import writes: one connection.
func writeConfig() backend.Config {
	cfg := readConfig()
	cfg.ReadOnly = false
	return cfg
}

// bookkeeping is every table of airnest's own, which import creates.
var bookkeeping = []string{"_airnest_format", "_airnest_collections", "_airnest_keys", "_airnest_migrations"}

// load writes the export read through root into db, a database with no
// airnest tables, in one transaction that holds the schema lock: a failure
// or an interrupt leaves nothing, and no program opening the store
// meanwhile sees part of it. It prints what it imported.
func (a *app) load(ctx context.Context, db backend.DB, root *os.Root, meta exportMeta) error {
	d := db.Dialect()
	var total int64
	for _, ec := range meta.Collections {
		total += ec.Rows
	}
	var summary []string
	err := db.Exclusive(ctx, func(c backend.Conn) error {
		defer c.SetInterrupt(c.SetInterrupt(ctx))
		if err := c.Exec(d.Begin); err != nil {
			return err
		}
		bar := a.newProgress(total, "import", false)
		var err error
		summary, err = loadTx(c, d, root, meta, bar)
		bar.done()
		if err == nil {
			err = c.Exec(d.Commit)
		}
		if err != nil {
			c.Rollback()
		}
		return err
	})
	if err != nil {
		return err
	}
	for _, s := range summary {
		fmt.Fprintln(a.stdout, s)
	}
	return nil
}

// loadTx is load's transaction.
func loadTx(c backend.Conn, d *sqlgen.Dialect, root *os.Root, meta exportMeta, bar *progress) ([]string, error) {
	if d.SchemaLock != "" {
		if err := c.Exec(d.SchemaLock); err != nil {
			return nil, err
		}
	}
	var found []string
	for _, t := range bookkeeping {
		ok, err := tableExists(c, d, t)
		if err != nil {
			return nil, err
		}
		if ok {
			found = append(found, t)
		}
	}
	if len(found) > 0 {
		return nil, fmt.Errorf("import: the database already holds airnest tables (%s): import into a new, empty database", strings.Join(found, ", "))
	}
	for _, ddl := range []string{d.FormatTable, d.Meta(), d.WriteFormat} {
		if ddl == "" {
			continue
		}
		if err := c.Exec(ddl); err != nil {
			return nil, err
		}
	}
	var summary []string
	imported := map[string]bool{}
	for _, ec := range meta.Collections {
		n, err := importCollection(c, d, root, ec, bar)
		if err != nil {
			return nil, fmt.Errorf("import %s: %w (nothing was imported)", ec.Name, err)
		}
		imported[ec.Name] = true
		summary = append(summary, fmt.Sprintf("imported %s: %d values", ec.Name, n))
	}
	if err := importMigrations(c, d, meta.Migrations, imported); err != nil {
		return nil, fmt.Errorf("import: %w (nothing was imported)", err)
	}
	if len(meta.Migrations) > 0 {
		summary = append(summary, fmt.Sprintf("imported the state of %d migrations", len(meta.Migrations)))
	}
	if d.BumpSchema != "" {
		if err := c.Exec(d.BumpSchema); err != nil {
			return nil, err
		}
	}
	return summary, nil
}

// tableExists reports whether the database has the table name.
func tableExists(c backend.Conn, d *sqlgen.Dialect, name string) (bool, error) {
	ok := false
	err := c.Each(d.TableExists, []any{name}, func(backend.Stmt) error {
		ok = true
		return nil
	})
	return ok, err
}

// refuseClash fails when a table or index t would create exists already
// under that name (in any case): import never writes into a table it did
// not make, nor leaves an index out because one of another table has its
// name.
func refuseClash(c backend.Conn, d *sqlgen.Dialect, t sqlgen.Table) error {
	for _, name := range t.ObjectNames() {
		err := c.Each(d.NameClash, []any{name, t.Name}, func(st backend.Stmt) error {
			return fmt.Errorf("the database already has a %s named %q: import into a new, empty database", st.ColumnText(0), st.ColumnText(1))
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// importServer imports into the database at the URL dsn, which must hold
// no airnest tables, then verifies it; if the check fails, what was
// imported is dropped again.
func (a *app) importServer(ctx context.Context, dsn string, root *os.Root, meta exportMeta, verify bool) error {
	name := backend.Redact(dsn)
	db, err := openDB(ctx, dsn, writeConfig())
	if err != nil {
		return err
	}
	defer db.Close()
	if err := a.load(ctx, db, root, meta); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if !verify {
		return nil
	}
	verr := a.verifyImport(ctx, dsn, name)
	if verr == nil {
		return nil
	}
	if err := unload(ctx, db, meta); err != nil {
		return fmt.Errorf("%w, and removing what was imported failed: %w (drop the tables of %s by hand)", verr, err, name)
	}
	return fmt.Errorf("%w: what was imported into %s is removed again", verr, name)
}

// unload drops what load created, in one transaction holding the schema
// lock; load refused a database holding any airnest table, so every
// airnest table is its own.
func unload(ctx context.Context, db backend.DB, meta exportMeta) error {
	d := db.Dialect()
	ctx = context.WithoutCancel(ctx) // undo even after an interrupt
	return db.Exclusive(ctx, func(c backend.Conn) error {
		stmts := []string{d.Begin, d.SchemaLock}
		for _, ec := range meta.Collections {
			stmts = append(stmts, sqlgen.DropTable(ec.Name))
		}
		for _, t := range bookkeeping {
			stmts = append(stmts, sqlgen.DropTable(t))
		}
		for _, s := range append(stmts, d.Commit) {
			if s == "" {
				continue
			}
			if err := c.Exec(s); err != nil {
				c.Rollback()
				return err
			}
		}
		return nil
	})
}
