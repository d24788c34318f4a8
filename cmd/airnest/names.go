package main

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/airnest/airnest/internal/sqlgen"
)

// Every name the command reads from a file (the bookkeeping tables, or an
// export's _meta.json) is checked here before it becomes a path, an SQL
// identifier or part of a message. A program declares collection and
// column names through sqlgen.ValidName, so a name that fails it was put
// there by hand or by damage; a hostile name such as ../../x must never
// choose where a file is written.

// maxText bounds the other names (stored field names, migration names).
const maxText = 1024

// maxShown is the longest name an error message quotes whole.
const maxShown = 128

// quoteName quotes a name for a message, %q so that control characters
// cannot forge output, and only its start when it is long.
func quoteName(s string) string {
	if len(s) <= maxShown {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q... (%d bytes)", s[:maxShown/2], len(s))
}

// checkTable checks a collection or index column name as the library
// checks a declared one.
func checkTable(what, name string) error {
	if len(name) > maxShown {
		return fmt.Errorf("%s name %s: at most 128 bytes", what, quoteName(name))
	}
	if err := sqlgen.ValidName(name); err != nil {
		return fmt.Errorf("%s %w", what, err)
	}
	return nil
}

// checkText checks a name that is shown but never a path or an identifier:
// valid UTF-8, no control characters, 1 to maxText bytes.
func checkText(what, name string) error {
	var why string
	switch {
	case name == "":
		why = "empty"
	case len(name) > maxText:
		return fmt.Errorf("%s %s: at most %d bytes", what, quoteName(name), maxText)
	case !utf8.ValidString(name):
		why = "not valid UTF-8"
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		why = "holds a control character"
	default:
		return nil
	}
	return fmt.Errorf("%s %s: %s", what, quoteName(name), why)
}

// checkShown checks text that is only ever shown (a Go type's name): as
// checkText, but it may be empty.
func checkShown(what, text string) error {
	if text == "" {
		return nil
	}
	return checkText(what, text)
}

// checkKey checks one key registry entry's space (the dotted path of
// stored field names, "" for the root) and name. The codec refuses '.'
// in a stored name, so neither may hold an empty part.
func checkKey(collection, space, name string) error {
	what := fmt.Sprintf("collection %s: stored field name", collection)
	if strings.Contains(name, ".") {
		return fmt.Errorf("%s %s: holds '.'", what, quoteName(name))
	}
	if err := checkText(what, name); err != nil {
		return err
	}
	if space == "" {
		return nil
	}
	for _, part := range strings.Split(space, ".") {
		if err := checkText(fmt.Sprintf("collection %s: field path %s: part", collection, quoteName(space)), part); err != nil {
			return err
		}
	}
	return nil
}

// foldSet finds names that differ only in case: SQLite treats them as one
// table or column, and a case-insensitive file system as one file.
type foldSet map[string]string

func (s foldSet) add(what, name string) error {
	k := strings.ToLower(name)
	if prev, ok := s[k]; ok {
		return fmt.Errorf("%s %s and %s differ only in case: SQLite and some file systems take them for one", what, quoteName(prev), quoteName(name))
	}
	s[k] = name
	return nil
}

// checkCollections checks the names of every collection, its index
// columns, composite indexes and key registry.
func checkCollections(cs []*collection) error {
	names := foldSet{}
	for _, c := range cs {
		if err := checkTable("collection", c.Name); err != nil {
			return err
		}
		if err := names.add("collection names", c.Name); err != nil {
			return err
		}
		if err := checkShown(fmt.Sprintf("collection %s: Go type", c.Name), c.GoType); err != nil {
			return err
		}
	}
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.checkNames())
	}
	return errors.Join(errs...)
}

func (c *collection) checkNames() error {
	cols := foldSet{}
	for _, col := range c.schema.Columns {
		if err := checkTable(fmt.Sprintf("collection %s: index column", c.Name), col.Name); err != nil {
			return err
		}
		if l := strings.ToLower(col.Name); l == sqlgen.IDColumn || l == sqlgen.BlobColumn {
			return fmt.Errorf("collection %s: index column %q: the names id and v are airnest's own", c.Name, col.Name)
		}
		if err := cols.add(fmt.Sprintf("collection %s: index columns", c.Name), col.Name); err != nil {
			return err
		}
		switch col.Type {
		case "INTEGER", "REAL", "TEXT", "BLOB":
		default:
			return fmt.Errorf("collection %s: index column %s: type %s, want INTEGER, REAL, TEXT or BLOB", c.Name, col.Name, quoteName(col.Type))
		}
		if err := checkPath(c.Name, col); err != nil {
			return err
		}
	}
	for _, comp := range c.schema.Composites {
		for _, name := range comp.Columns {
			if col, ok := c.column(name); !ok || col.Name != name {
				return fmt.Errorf("collection %s: a composite index names %s, not one of its index columns", c.Name, quoteName(name))
			}
		}
	}
	for _, e := range c.Keys {
		if err := checkKey(c.Name, e.Space, e.Name); err != nil {
			return err
		}
		if err := checkShown(fmt.Sprintf("collection %s: field %s: Go type", c.Name, e.Name), e.Type); err != nil {
			return err
		}
	}
	return nil
}

// checkPath checks a column's declared path and side table: the path's
// parts are names as a declaration's are, and a slice's side table is the
// one airnest names after the collection and column, never another table.
func checkPath(coll string, col sqlgen.Column) error {
	if col.Path != "" {
		for _, part := range strings.Split(col.Path, ".") {
			if err := checkTable(fmt.Sprintf("collection %s: index column %s: path %s: part", coll, col.Name, quoteName(col.Path)), part); err != nil {
				return err
			}
		}
	}
	if e := col.Elems; e != nil {
		if want := sqlgen.ElemsTable(coll, col.Name); e.Table != want {
			return fmt.Errorf("collection %s: index column %s: side table %s, want %s", coll, col.Name, quoteName(e.Table), want)
		}
		switch e.Type {
		case "INTEGER", "REAL", "TEXT", "BLOB":
		default:
			return fmt.Errorf("collection %s: index column %s: element type %s, want INTEGER, REAL, TEXT or BLOB", coll, col.Name, quoteName(e.Type))
		}
	}
	return nil
}

// checkNames checks the names of collections and of migration records.
func checkNames(cs []*collection, ms []exportMigration) error {
	if err := checkCollections(cs); err != nil {
		return err
	}
	for _, m := range ms {
		if err := checkMigration(m); err != nil {
			return err
		}
	}
	return nil
}

// checkMigration checks the names of one airnest.Migrate record.
func checkMigration(m exportMigration) error {
	if err := checkText("migration name", m.Name); err != nil {
		return err
	}
	return checkTable(fmt.Sprintf("migration %q: collection", m.Name), m.Collection)
}
