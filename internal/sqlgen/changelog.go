package sqlgen

import (
	"fmt"
	"strings"
)

// The change log of the collections declared with airnest.ChangeLog.
//
// _airnest_changes holds one row per committed change: seq, a number that
// grows in commit order across all collections; the collection; n, the
// change's number within its collection (what count retention trims by);
// op (OpSaved or OpDeleted); the value's id; v, the value as committed
// (NULL for a delete); at, unix seconds when it was logged.
// _airnest_changelog holds one row per logged collection: its n so far,
// trimmed (the highest seq removed by retention: a watcher resuming below
// it has missed changes), and the retention its triggers were made with.
//
// The rows are written by triggers on the collection's table, in the
// transaction of the write, so every write is logged whatever path it
// takes (Save, Update, Delete, a query's Delete, Migrate, another program
// on the same database) and a collection without a log has no trigger and
// pays nothing. Every TrimEvery changes of a collection the trigger also
// trims its log: the changes beyond the newest keep, and those older than
// age seconds (0: no age limit).

// Change operations as stored in _airnest_changes.op.
const (
	OpSaved   = 1
	OpDeleted = 2
)

// TrimEvery is how many changes of a collection pass between two trims of
// its log: the log holds up to TrimEvery-1 more changes than it keeps.
const TrimEvery = 64

// NotifyChannel is the PostgreSQL channel a commit of logged changes
// notifies (once per transaction).
const NotifyChannel = "airnest_changes"

// ChangeLogTables is the DDL of the change log's tables.
func (d *Dialect) ChangeLogTables() string {
	integer, blob := d.TypeName("INTEGER"), d.TypeName("BLOB")
	seq := "seq INTEGER PRIMARY KEY AUTOINCREMENT"
	extra := ""
	if d.or().pg {
		seq = "seq BIGINT PRIMARY KEY"
		// One row whose lock, held from a transaction's first logged change
		// to its commit, orders the changes (see ChangeLogTrigger).
		extra = `;
CREATE TABLE IF NOT EXISTS _airnest_seq (seq BIGINT NOT NULL);
INSERT INTO _airnest_seq (seq) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM _airnest_seq)`
	}
	return fmt.Sprintf(`CREATE TABLE IF NOT EXISTS _airnest_changes (
	%[3]s,
	collection TEXT NOT NULL,
	n %[1]s NOT NULL,
	op %[1]s NOT NULL,
	id %[2]s NOT NULL,
	v %[2]s,
	at %[1]s NOT NULL
);
CREATE INDEX IF NOT EXISTS _airnest_changes_n ON _airnest_changes (collection, n);
CREATE TABLE IF NOT EXISTS _airnest_changelog (
	collection TEXT PRIMARY KEY NOT NULL,
	n %[1]s NOT NULL,
	trimmed %[1]s NOT NULL,
	keep %[1]s NOT NULL,
	age %[1]s NOT NULL
)%[4]s%[5]s`, integer, blob, seq, d.tableSuffix(), extra)
}

// ChangeLogState reads (keep, age) of collection ? and whether its
// triggers exist (1 or 0).
func (d *Dialect) ChangeLogState() string {
	exists := "(SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' AND name = ?)"
	if d.or().pg {
		exists = "(SELECT count(*) FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid WHERE t.tgname = ? AND c.relnamespace = current_schema()::regnamespace)"
	}
	return d.Rebind("SELECT keep, age, " + exists + " FROM _airnest_changelog WHERE collection = ?")
}

// ChangeLogRow records collection ?'s retention (keep ?, age ?), keeping
// its counters.
func (d *Dialect) ChangeLogRow() string {
	return d.Rebind(`INSERT INTO _airnest_changelog (collection, n, trimmed, keep, age) VALUES (?, 0, 0, ?, ?)
	ON CONFLICT (collection) DO UPDATE SET keep = excluded.keep, age = excluded.age`)
}

// TriggerName is the name of table's change-log trigger (on SQLite, the
// stem of its three triggers' names).
func TriggerName(table string) string { return "_airnest_log_" + table }

// ChangeLogTrigger is the DDL that (re)creates the triggers logging every
// change of table, keeping keep changes and none older than age seconds.
//
// PostgreSQL runs many writers at once, and a sequence (BIGSERIAL) hands
// out numbers in the order transactions ask, not the order they commit: a
// watcher reading "seq > 5" could see 7 commit before 6 and skip 6 for
// ever. So the trigger is a constraint trigger deferred to commit, and
// takes its numbers from the one row of _airnest_seq with UPDATE ...
// RETURNING: the row stays locked until the transaction's commit is
// visible, so the next committer numbers its changes after it, and seq
// order is commit order. Deferring to commit keeps that lock out of the
// transaction's body (no deadlock with the rows it locks) and as short as
// a commit. pg_notify in the same transaction is delivered at commit.
//
// SQLite has one writer at a time, so an AUTOINCREMENT key is in commit
// order, and never reuses a number the log trimmed.
func (d *Dialect) ChangeLogTrigger(table string, keep, age int64) string {
	name := TriggerName(table)
	if d.or().pg {
		return fmt.Sprintf(`DROP TRIGGER IF EXISTS %[1]s ON %[2]s;
CREATE CONSTRAINT TRIGGER %[1]s AFTER INSERT OR UPDATE OF v OR DELETE ON %[2]s
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION _airnest_log('%[3]s', '%[4]d', '%[5]d')`,
			Quote(name), Quote(table), table, keep, age)
	}
	var b strings.Builder
	for _, ev := range []struct{ suffix, event, row string }{
		{"_i", "INSERT", "NEW"}, {"_u", "UPDATE OF v", "NEW"}, {"_d", "DELETE", "OLD"},
	} {
		op, v := OpSaved, ev.row+".v"
		if ev.row == "OLD" {
			op, v = OpDeleted, "NULL"
		}
		fmt.Fprintf(&b, "DROP TRIGGER IF EXISTS %s;\n", Quote(name+ev.suffix))
		fmt.Fprintf(&b, "CREATE TRIGGER %s AFTER %s ON %s BEGIN\n", Quote(name+ev.suffix), ev.event, Quote(table))
		fmt.Fprintf(&b, "%s\nEND;\n", sqliteLogBody(table, op, ev.row+".id", v, keep, age))
	}
	return b.String()
}

// sqliteLogBody is the body of one SQLite change-log trigger.
func sqliteLogBody(table string, op int, id, v string, keep, age int64) string {
	c := "'" + table + "'" // a valid name: letters, digits and _
	n := "(SELECT n FROM _airnest_changelog WHERE collection = " + c + ")"
	cut := fmt.Sprintf("%s - %d", n, keep)
	if age > 0 {
		cut = fmt.Sprintf("max(%s, coalesce((SELECT n - 1 FROM _airnest_changes WHERE collection = %s AND at >= unixepoch() - %d ORDER BY collection, n LIMIT 1), %s))", cut, c, age, n)
	}
	return fmt.Sprintf(`UPDATE _airnest_changelog SET n = n + 1 WHERE collection = %[1]s;
INSERT INTO _airnest_changes (collection, n, op, id, v, at) VALUES (%[1]s, %[2]s, %[3]d, %[4]s, %[5]s, unixepoch());
UPDATE _airnest_changelog SET trimmed = max(trimmed, coalesce((SELECT max(seq) FROM _airnest_changes WHERE collection = %[1]s AND n <= %[6]s), 0))
	WHERE collection = %[1]s AND n %% %[7]d = 0;
DELETE FROM _airnest_changes WHERE collection = %[1]s AND n <= %[6]s AND %[2]s %% %[7]d = 0;`,
		c, n, op, id, v, cut, TrimEvery)
}

// ChangeLogFunction is the PostgreSQL trigger function of every logged
// table (arguments: collection, keep, age); "" on SQLite, whose triggers
// carry their own body.
func (d *Dialect) ChangeLogFunction() string {
	if !d.or().pg {
		return ""
	}
	return fmt.Sprintf(`CREATE OR REPLACE FUNCTION _airnest_log() RETURNS trigger LANGUAGE plpgsql AS $f$
DECLARE
	coll text := TG_ARGV[0];
	keep bigint := TG_ARGV[1]::bigint;
	age bigint := TG_ARGV[2]::bigint;
	now_s bigint := extract(epoch FROM clock_timestamp())::bigint;
	s bigint;
	k bigint;
	cut bigint;
BEGIN
	UPDATE _airnest_seq SET seq = seq + 1 RETURNING seq INTO s;
	UPDATE _airnest_changelog SET n = n + 1 WHERE collection = coll RETURNING n INTO k;
	IF TG_OP = 'DELETE' THEN
		INSERT INTO _airnest_changes (seq, collection, n, op, id, v, at) VALUES (s, coll, k, %[1]d, OLD.id, NULL, now_s);
	ELSE
		INSERT INTO _airnest_changes (seq, collection, n, op, id, v, at) VALUES (s, coll, k, %[2]d, NEW.id, NEW.v, now_s);
	END IF;
	IF k %% %[3]d = 0 THEN
		cut := k - keep;
		IF age > 0 THEN
			cut := greatest(cut, coalesce((SELECT c.n - 1 FROM _airnest_changes c WHERE c.collection = coll AND c.at >= now_s - age ORDER BY c.collection, c.n LIMIT 1), k));
		END IF;
		UPDATE _airnest_changelog SET trimmed = greatest(trimmed, coalesce((SELECT max(c.seq) FROM _airnest_changes c WHERE c.collection = coll AND c.n <= cut), 0))
			WHERE collection = coll;
		DELETE FROM _airnest_changes c WHERE c.collection = coll AND c.n <= cut;
	END IF;
	PERFORM pg_notify('%[4]s', '');
	RETURN NULL;
END
$f$`, OpDeleted, OpSaved, TrimEvery, NotifyChannel)
}

// ReadChanges reads collection ?'s changes after seq ?, in order, at most
// limit, each as (seq, op, id, v, trimmed); trimmed, the highest seq of
// the collection that retention removed, is
// read in the same statement, so from the same snapshot. With no change to
// read it returns one row of NULLs and trimmed; no row when the collection
// keeps no log.
func (d *Dialect) ReadChanges(limit int) string {
	// The collection is compared as an expression, not an indexed column,
	// so the database reads the key range after seq rather than every
	// change of the collection through (collection, n).
	coll := "+collection"
	if d.or().pg {
		coll = "collection || ''"
	}
	return d.Rebind(fmt.Sprintf(`SELECT c.seq, c.op, c.id, c.v, l.trimmed FROM _airnest_changelog l LEFT JOIN
	(SELECT seq, op, id, v FROM _airnest_changes WHERE %s = ? AND seq > ? ORDER BY seq LIMIT %d) c ON TRUE
	WHERE l.collection = ? ORDER BY c.seq`, coll, limit))
}

// ChangeLogHead reads the newest seq of any change logged, in a row that
// exists when collection ? keeps a log.
func (d *Dialect) ChangeLogHead() string {
	newest := "(SELECT coalesce(max(seq), 0) FROM _airnest_changes)"
	if d.or().pg {
		newest = "(SELECT seq FROM _airnest_seq)"
	} else {
		newest = "max(" + newest + ", coalesce((SELECT seq FROM sqlite_sequence WHERE name = '_airnest_changes'), 0))"
	}
	return d.Rebind("SELECT " + newest + " FROM _airnest_changelog WHERE collection = ?")
}
