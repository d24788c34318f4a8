// Package airnest stores typed Go values in one SQLite file, or in a
// PostgreSQL database when an application outgrows one machine: declare a
// struct and a collection once, then save, load, update, query and delete
// values of that type from many goroutines, with no schema files, no
// migrations and no SQL unless you want it.
//
//	type Job struct {
//		ID       airnest.ID[Job] // UUIDv7, assigned by the first Save
//		Status   string
//		Priority int
//	}
//
//	var (
//		store = airnest.NewStore()
//		Jobs  = airnest.Collection[Job](store, airnest.Index("status", "priority"))
//	)
//
//	err := store.Open(ctx, "app.db", nil)
//	err = Jobs.Save(ctx, &job)
//	job, err = Jobs.Load(ctx, job.ID)
//
// # Databases
//
// [Store.Open] takes an SQLite path, or a postgres:// (postgresql://) URL
// for PostgreSQL 15 or later through pgx; nothing else in the program
// changes. On PostgreSQL the tables live in the connection's current schema
// (pick one with the URL's search_path parameter), several processes and
// servers may open the same database, and schema changes at Open are
// serialized across them with an advisory lock. What differs: [Query.Explain]
// prints PostgreSQL's plan; [Coll.QueryRaw] takes that database's SQL ($1
// parameters on PostgreSQL); [Store.Backup] and [Store.Vacuum] return
// [ErrInvalid] on PostgreSQL, naming pg_dump and autovacuum; [Store.Tx] on
// PostgreSQL runs at READ COMMITTED, where Load and Update inside it lock
// the row they read (values found by a query are not locked: load them by
// ID to change them), and a deadlock between two transactions fails one
// with [ErrBusy], while on SQLite a write transaction excludes every other
// writer. [Copy] copies a whole store from one database to another
// (SQLite to PostgreSQL and back, or a file to a compact file) without the
// program's Go types, verifying the copy before it is committed.
//
// Inside, the package plans and a backend runs the plans. The root package
// owns the typed API, the codec, index columns and queries as a tree;
// internal/sqlgen writes every statement's text for the database's dialect;
// internal/backend is the seam: a backend hands out connections whose
// prepared statements bind parameters and step through rows, runs write
// jobs and transactions, and does what only it knows (backups, vacuum,
// integrity checks). internal/sqlite (group commit, reader pool) and
// internal/postgres (pgx pools) implement it; a new database is a folder
// that implements the seam and registers itself, not a rewrite.
//
// # Collections
//
// A collection of T lives in one table named after T (or [Name]). T must be a
// struct with a field `ID airnest.ID[T]`. The whole value is stored as a CBOR
// blob with small integer keys (package [github.com/airnest/airnest/codec]);
// fields named in [Index] or [Unique] are also stored as typed SQL columns
// with SQLite indexes, written by the same statement as the blob so they never
// disagree. Adding, removing and reordering fields needs no migration; see the
// codec package for the rules. Declared index columns may change between runs:
// [Store.Open] adds and back-fills new ones in the opening transaction; it
// keeps (and keeps current) columns no longer declared, since another
// version of the program may still use them, until [DropIndex] says to drop
// them. A field whose type changes needs [Migrate].
//
// An index name may also be a dotted path to a nested field ("meta.owner",
// through structs and pointers to structs; NULL when a pointer on it is
// nil), a slice of an index-able type (indexed by its elements in a side
// table, queried with [Contains], [ContainsAny], [ContainsAll] and
// [IsEmpty]), or the name of an [IndexFunc], a column computed by a Go
// function of the value.
//
// # Transactions
//
// Every method of a [Coll] is atomic on its own. [Store.Tx] runs a closure in
// one write transaction across collections, through [Coll.In]:
//
//	err := store.Tx(ctx, func(tx *airnest.Tx) error {
//		if err := Jobs.In(tx).Save(ctx, &job); err != nil {
//			return err // rolls everything back
//		}
//		return Sessions.In(tx).Save(ctx, &session)
//	})
//
// [Store.View] gives a read-only snapshot across collections. A context
// that is done when the closure (or an Update function) returns rolls it
// back, and the call returns the context's error.
//
// # Errors
//
// Errors wrap one of the sentinels ([ErrNotFound], [ErrConflict],
// [ErrInvalid], [ErrSchema], [ErrTxDone], [ErrClosed], [ErrBusy]) or a
// context error with %w, keep SQLite's error underneath, and read
// "airnest: <Collection>.<Method>: <sentinel>: <detail>", ids as UUIDs.
//
// # Queries
//
// [Coll.Where] builds queries on declared index columns, named as [Index]
// names them (any case, underscores ignored, in each part of a nested
// path); values are always
// bound parameters and each query uses SQLite's indexes ([Query.Explain]
// shows the plan). [Coll.QueryRaw] and [Store.DB] are the escape hatches.
//
// [Query.Count], [Query.Exists], [Query.IDs] and [Query.Delete] never decode
// a stored value. They find the matches in an index alone when one index
// holds every column the filter names (a column's own index, or a composite
// index for an And over several columns); an Or, a Not of a range on a
// column that can hold NULL, or an And over columns indexed one by one also
// reads table rows. Delete removes each match by its primary key.
//
// [Query.Where] adds filters to a query; [Query.Match] adds a Go function
// that runs on every value the filters leave (each one read and decoded),
// with Limit, Offset, Count and Delete counting only what it accepts.
// [Sum], [Avg], [Min], [Max] and [CountBy] aggregate an index column into Go
// types. [Coll.SaveAll], [Coll.LoadMany] and [Query.Update] do bulk work:
// one transaction for many values, one call for many IDs, and a function
// applied to every match in batches of transactions.
//
// # Watching changes
//
// A collection declared with [ChangeLog] records every committed save and
// delete, with the value as committed, in the same transaction as the
// write, by database triggers: Save, Update, Delete, [Query.Delete],
// [Migrate] and other programs on the same database are all logged.
// [Coll.Watch] and [Query.Watch] stream those changes as an iter.Seq2 of
// [Change], in commit order, each with a Seq that grows in commit order;
// [WatchOptions] resumes after a recorded Seq, and a Seq the log no longer
// holds gives [ErrGap] rather than a silent skip. Writes of the store wake
// its watchers at once; other processes' writes arrive by polling (SQLite,
// [WatchOptions].Poll) or LISTEN/NOTIFY (PostgreSQL). A collection without
// a log pays nothing. Numbers are in the README's "Watching changes".
//
// # Concurrency
//
// A [Store] and its collections are safe for concurrent use. One connection
// writes; a pool of readers serves reads, which never wait for writes (WAL).
// Writes that arrive while a commit is in flight are committed together in
// the next transaction (group commit), each caller still getting its own
// result. Close waits for operations in flight.
//
// # Caveats
//
//   - Durability: the default [SyncFull] makes every acknowledged write
//     survive a power cut; [SyncNormal] is faster but a power cut may lose
//     the last commits (a process crash loses nothing either way).
//   - A write through the store (not through [Coll.In]) from inside a Tx
//     closure or an Update function returns [ErrInvalid] instead of waiting
//     for itself, and so do [Store.Close] inside a Tx, View or Update
//     function and [Store.Vacuum] inside a View.
//   - Recursive types (a struct that contains itself, type L []L, type M
//     map[string]M) are stored with field names rather than integer keys
//     below the point of recursion, where `airnest:` tags and type-change
//     errors do not reach. A value that refers back to itself fails Save
//     with [ErrInvalid].
//   - Values in `any` fields load as encoding/json users expect: int64,
//     float64, string, []any, map[string]any (map[any]any when a map has
//     other keys), []byte, time.Time; see the codec package.
//   - Values that cannot be indexed (uint64 above 2^63-1, times outside the
//     years 1678–2262) fail Save with [ErrInvalid] rather than being stored
//     wrongly.
//   - Tables are WITHOUT ROWID, so rows sit in ID order; a lookup that
//     passes a very large value (many megabytes) on its way reads all of it.
//     Keep values small and split big ones into their own collection.
//   - The writer checkpoints the WAL every Options.CheckpointPages pages
//     (4000). Under a replication tool that checkpoints itself (Litestream),
//     [NoCheckpoint] stops the two competing, at the cost of a WAL that can
//     grow larger between the tool's checkpoints; without such a tool the
//     WAL then grows until the store closes.
//   - A lock held by another process for longer than Options.BusyTimeout
//     fails the write with [ErrBusy]; a statement that needs more memory
//     than Options.ConnMemoryLimit fails with an error, not a crash.
//   - The file records its format (PRAGMA application_id and user_version);
//     a file of another application or a newer format fails Open with
//     [ErrSchema], and one from before versions were recorded is upgraded.
//   - SQLite ignores case in table and index names: collections whose names
//     differ only in case are refused.
//   - airnest never logs; every problem is an error value wrapping one of
//     the sentinel errors, with SQLite's error kept underneath.
package airnest
