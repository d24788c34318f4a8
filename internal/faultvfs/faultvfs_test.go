package faultvfs

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
)

var vfsSeq atomic.Int64

// register registers fs under a fresh name for the duration of the test.
func register(t *testing.T, fs *FS) string {
	t.Helper()
	name := fmt.Sprintf("faultvfs-test-%d", vfsSeq.Add(1))
	fs.Register(name)
	t.Cleanup(func() { vfs.Unregister(name) })
	return name
}

// open opens path through the named VFS in WAL mode with the given
// synchronous setting, and creates the test table.
func open(t *testing.T, vfsName, path, synchronous string) *sqlite3.Conn {
	t.Helper()
	db, err := openErr(vfsName, path, synchronous)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return db
}

func openErr(vfsName, path, synchronous string) (*sqlite3.Conn, error) {
	db, err := sqlite3.Open("file:" + path + "?vfs=" + vfsName)
	if err != nil {
		return nil, err
	}
	for _, sql := range []string{
		`PRAGMA synchronous=` + synchronous,
		`PRAGMA cache_size=20`, // small cache: big transactions spill to the WAL before commit
		`CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, batch INTEGER NOT NULL, payload BLOB NOT NULL)`,
	} {
		if err := db.Exec(sql); err != nil {
			db.Close()
			return nil, fmt.Errorf("%s: %w", sql, err)
		}
	}
	// WAL needs the wrapped file's shared memory: check it was not lost.
	stmt, _, err := db.Prepare(`PRAGMA journal_mode=WAL`)
	if err != nil {
		db.Close()
		return nil, err
	}
	defer stmt.Close()
	if !stmt.Step() || stmt.ColumnText(0) != "wal" {
		db.Close()
		return nil, fmt.Errorf("journal_mode=WAL: got %q, %v", stmt.ColumnText(0), stmt.Err())
	}
	return db, nil
}

func insert(db *sqlite3.Conn, id, batch int64, rng *rand.Rand) error {
	return insertSize(db, id, batch, rng, 200+rng.IntN(3000))
}

func insertSize(db *sqlite3.Conn, id, batch int64, rng *rand.Rand, size int) error {
	stmt, _, err := db.Prepare(`INSERT INTO t (id, batch, payload) VALUES (?, ?, ?)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte(rng.Uint32())
	}
	stmt.BindInt64(1, id)
	stmt.BindInt64(2, batch)
	stmt.BindBlob(3, payload)
	return stmt.Exec()
}

// ids returns the ids present in the table, in order.
func ids(t *testing.T, db *sqlite3.Conn) []int64 {
	t.Helper()
	stmt, _, err := db.Prepare(`SELECT id FROM t ORDER BY id`)
	if err != nil {
		t.Fatalf("select: %v", err)
	}
	defer stmt.Close()
	var out []int64
	for stmt.Step() {
		out = append(out, stmt.ColumnInt64(0))
	}
	if err := stmt.Err(); err != nil {
		t.Fatalf("select: %v", err)
	}
	return out
}

func integrityCheck(t *testing.T, db *sqlite3.Conn) {
	t.Helper()
	if err := integrityErr(db); err != nil {
		t.Fatal(err)
	}
}

func integrityErr(db *sqlite3.Conn) error {
	stmt, _, err := db.Prepare(`PRAGMA integrity_check`)
	if err != nil {
		return fmt.Errorf("integrity_check: %w", err)
	}
	defer stmt.Close()
	var res []string
	for stmt.Step() {
		res = append(res, stmt.ColumnText(0))
	}
	if err := stmt.Err(); err != nil {
		return fmt.Errorf("integrity_check: %w", err)
	}
	if len(res) != 1 || res[0] != "ok" {
		return fmt.Errorf("integrity_check: %q", res)
	}
	return nil
}

// crashRounds runs rounds of inserts and crashes, and returns, per round,
// the rows acknowledged and the rows found after the crash.
// Rounds alternate between Crash and CrashPartial; odd rounds also leave
// a large uncommitted transaction (spilled to the WAL) pending at the crash.
func crashRounds(t *testing.T, synchronous string, rounds int, check func(round int, acked, uncommitted, found []int64)) {
	fs := New()
	name := register(t, fs)
	path := filepath.Join(t.TempDir(), "crash.db")
	rng := rand.New(rand.NewPCG(1, uint64(len(synchronous))))

	// The schema itself must be durable before the test starts.
	db := open(t, name, path, "FULL")
	db.Close()

	var acked []int64
	next := int64(1)
	for round := range rounds {
		db := open(t, name, path, synchronous)
		integrityCheck(t, db)
		before := ids(t, db)

		var roundAcked, uncommitted []int64
		for range 5 + rng.IntN(40) {
			if err := insert(db, next, next, rng); err != nil {
				t.Fatalf("round %d: insert %d: %v", round, next, err)
			}
			roundAcked = append(roundAcked, next)
			next++
		}
		if round%2 == 1 {
			// Pending, unsynced data at the time of the crash.
			if err := db.Exec(`BEGIN`); err != nil {
				t.Fatal(err)
			}
			for range 30 {
				if err := insert(db, next, -1, rng); err != nil {
					t.Fatalf("round %d: insert %d: %v", round, next, err)
				}
				uncommitted = append(uncommitted, next)
				next++
			}
		}

		if round%3 == 2 {
			fs.CrashPartial(rng)
		} else {
			fs.Crash()
		}
		// The dead connection must fail, not corrupt anything.
		if err := db.Exec(`INSERT INTO t (id, batch, payload) VALUES (0, 0, x'00')`); err == nil {
			t.Fatalf("round %d: write after crash succeeded", round)
		} else if !errors.Is(err, sqlite3.IOERR) {
			t.Fatalf("round %d: write after crash: %v, want IOERR", round, err)
		}
		db.Close() // may fail: the process is dead

		acked = append(acked, roundAcked...)
		db = open(t, name, path, synchronous)
		integrityCheck(t, db)
		found := ids(t, db)
		db.Close()
		for _, id := range before {
			if !slices.Contains(found, id) {
				t.Fatalf("round %d: row %d, present before the round, lost", round, id)
			}
		}
		check(round, acked, uncommitted, found)
		acked = found // carry on from what survived
	}

	// A fresh VFS instance, reading only the disk, sees the same.
	db = open(t, register(t, New()), path, synchronous)
	defer db.Close()
	integrityCheck(t, db)
	if got := ids(t, db); !slices.Equal(got, acked) {
		t.Fatalf("fresh VFS sees %d rows, want %d", len(got), len(acked))
	}
	st := fs.Stats()
	t.Logf("stats: %+v", st)
}

// With synchronous=FULL, every acknowledged commit survives a crash.
func TestCrashSynchronousFull(t *testing.T) {
	crashRounds(t, "FULL", 12, func(round int, acked, uncommitted, found []int64) {
		if !slices.Equal(found, acked) {
			t.Fatalf("round %d: found %d rows, acknowledged %d", round, len(found), len(acked))
		}
		for _, id := range uncommitted {
			if slices.Contains(found, id) {
				t.Fatalf("round %d: uncommitted row %d visible after crash", round, id)
			}
		}
	})
}

// With synchronous=NORMAL, the database survives a crash intact,
// but the latest commits may be lost.
func TestCrashSynchronousNormal(t *testing.T) {
	lost := 0
	crashRounds(t, "NORMAL", 12, func(round int, acked, uncommitted, found []int64) {
		// WAL recovery keeps a prefix of the commit sequence: no holes.
		if len(found) > len(acked) || !slices.Equal(found, acked[:len(found)]) {
			t.Fatalf("round %d: found rows are not a prefix of the acknowledged ones", round)
		}
		lost += len(acked) - len(found)
		t.Logf("round %d: %d acknowledged rows, %d lost", round, len(acked), len(acked)-len(found))
	})
	t.Logf("synchronous=NORMAL: %d acknowledged rows lost in total", lost)
}

// The crash model is real: without syncs, a crash loses committed data.
func TestCrashWithoutSyncLosesData(t *testing.T) {
	fs := New()
	name := register(t, fs)
	path := filepath.Join(t.TempDir(), "nosync.db")
	rng := rand.New(rand.NewPCG(3, 4))

	db := open(t, name, path, "FULL") // durable schema
	db.Close()

	db = open(t, name, path, "OFF")
	syncs := fs.Stats().Syncs
	for id := int64(1); id <= 50; id++ {
		if err := insert(db, id, id, rng); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(ids(t, db)); got != 50 {
		t.Fatalf("before crash: %d rows, want 50", got)
	}
	if s := fs.Stats().Syncs; s != syncs {
		t.Fatalf("synchronous=OFF issued %d syncs", s-syncs)
	}
	fs.Crash()
	db.Close()

	db = open(t, name, path, "OFF")
	defer db.Close()
	integrityCheck(t, db)
	if got := len(ids(t, db)); got != 0 {
		t.Fatalf("after crash: %d of 50 unsynced rows survived, want 0", got)
	}
}

// A file that was created but never synced vanishes in a crash;
// one closed with unsynced writes reverts to its synced content.
func TestCrashRestoresFiles(t *testing.T) {
	fs := New()
	name := register(t, fs)
	path := filepath.Join(t.TempDir(), "files.db")

	db := open(t, name, path, "OFF")
	db.Close()
	fs.Crash()
	if ok, _ := vfs.Find("").Access(path, vfs.ACCESS_EXISTS); ok {
		t.Fatal("never-synced database file survived the crash")
	}

	db = open(t, name, path, "FULL")
	db.Exec(`PRAGMA synchronous=OFF`)
	if err := insert(db, 1, 1, rand.New(rand.NewPCG(5, 6))); err != nil {
		t.Fatal(err)
	}
	db.Close() // checkpoints into the database file, without syncing it
	fs.Crash()
	db = open(t, name, path, "FULL")
	defer db.Close()
	integrityCheck(t, db)
	if got := ids(t, db); len(got) != 0 {
		t.Fatalf("unsynced rows survived the crash: %v", got)
	}
}

type faultCase struct {
	kind Kind
	err  error
	want sqlite3.ErrorCode
	maxN int // FailAfter n in 1..maxN
}

// Injected faults surface as errors, and leave no partial transaction.
func TestFaults(t *testing.T) {
	cases := []faultCase{
		{Write, syscall.EIO, sqlite3.IOERR, 30},
		{Sync, syscall.ENOSPC, sqlite3.FULL, 30},
		{Write, syscall.ENOSPC, sqlite3.FULL, 8},
		{Sync, syscall.EIO, sqlite3.IOERR, 8},
		{Truncate, syscall.EIO, sqlite3.IOERR, 4},
		{Read, syscall.EIO, sqlite3.IOERR, 8},
		{Write, sqlite3.IOERR_WRITE, sqlite3.IOERR, 4}, // SQLite error codes pass through
		{Sync, sqlite3.FULL, sqlite3.FULL, 4},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%v-%v", c.kind, c.err), func(t *testing.T) {
			fs := New()
			name := register(t, fs)
			path := filepath.Join(t.TempDir(), "fault.db")
			rng := rand.New(rand.NewPCG(7, uint64(c.kind)))
			maxN := c.maxN
			var batch int64
			var committed []int64
			fired := 0
			for n := 1; n <= maxN; n++ {
				committed, fired = faultRound(t, fs, name, path, c, n, rng, &batch, committed, fired)
			}
			if fired == 0 {
				t.Fatal("no fault fired")
			}
			t.Logf("%d/%d rounds failed a statement; stats: %+v", fired, maxN, fs.Stats())
		})
	}
}

const batchRows = 4

func faultRound(t *testing.T, fs *FS, name, path string, c faultCase, n int, rng *rand.Rand,
	batch *int64, committed []int64, fired int) ([]int64, int) {
	t.Helper()
	db := open(t, name, path, "FULL")
	if err := db.Exec(`PRAGMA wal_autocheckpoint=0`); err != nil { // checkpoints are explicit, below
		t.Fatal(err)
	}
	if c.kind == Read {
		db.Exec(`PRAGMA cache_size=1`)
	}
	sticky := n%2 == 0
	fs.FailAfter(c.kind, n, c.err, sticky)

	failed := false
	check := func(what string, err error) bool {
		if err == nil {
			return true
		}
		if !errors.Is(err, c.want) {
			t.Fatalf("n=%d: %s: %v, want %v", n, what, err, c.want)
		}
		failed = true
		db.Exec(`ROLLBACK`) // may fail: no transaction left
		return false
	}
	// Every statement that sees a fault must fail.
	run := func(what string, f func() error) bool {
		before := fs.Stats().Faults
		err := f()
		if err == nil && fs.Stats().Faults != before {
			t.Fatalf("n=%d: %s succeeded despite an injected fault", n, what)
		}
		return check(what, err)
	}

	for i := range 24 {
		if failed && sticky {
			break
		}
		if i%8 == 7 {
			run("checkpoint", func() error { return db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`) })
			continue
		}
		if c.kind == Read && i%4 == 3 {
			run("select", func() error { return selectAll(db) })
			continue
		}
		*batch++
		b := *batch
		ok := run("begin", func() error { return db.Exec(`BEGIN`) })
		for r := int64(0); ok && r < batchRows; r++ {
			ok = run("insert", func() error { return insertSize(db, b*batchRows+r, b, rng, 100+rng.IntN(1500)) })
		}
		if ok && run("commit", func() error { return db.Exec(`COMMIT`) }) {
			committed = append(committed, b)
		}
	}
	if failed {
		fired++
	}
	fs.Reset()

	// The same connection works again, or else a reopened one does.
	if err := verifyBatches(db, committed); err != nil {
		t.Logf("n=%d: connection unusable after Reset (%v); reopening", n, err)
		db.Close()
		db = open(t, name, path, "FULL")
		if err := verifyBatches(db, committed); err != nil {
			t.Fatalf("n=%d: after reopen: %v", n, err)
		}
	}
	if err := insert(db, 0, 0, rng); err != nil {
		t.Fatalf("n=%d: insert after Reset: %v", n, err)
	}
	if err := db.Exec(`DELETE FROM t WHERE id = 0`); err != nil {
		t.Fatalf("n=%d: delete after Reset: %v", n, err)
	}

	// And whatever was acknowledged despite the faults is durable.
	fs.Crash()
	db.Close()
	db = open(t, name, path, "FULL")
	defer db.Close()
	if err := verifyBatches(db, committed); err != nil {
		t.Fatalf("n=%d: after crash: %v", n, err)
	}
	return committed, fired
}

func selectAll(db *sqlite3.Conn) error {
	stmt, _, err := db.Prepare(`SELECT sum(length(payload)) FROM t`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for stmt.Step() {
	}
	return stmt.Err()
}

// verifyBatches checks integrity, that every batch is complete or absent,
// and that every committed batch is present.
func verifyBatches(db *sqlite3.Conn, committed []int64) error {
	if err := integrityErr(db); err != nil {
		return err
	}
	stmt, _, err := db.Prepare(`SELECT batch, count(*) FROM t GROUP BY batch`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	present := map[int64]bool{}
	for stmt.Step() {
		b, n := stmt.ColumnInt64(0), stmt.ColumnInt64(1)
		if n != batchRows {
			return fmt.Errorf("batch %d partially visible: %d of %d rows", b, n, batchRows)
		}
		present[b] = true
	}
	if err := stmt.Err(); err != nil {
		return err
	}
	for _, b := range committed {
		if !present[b] {
			return fmt.Errorf("committed batch %d missing", b)
		}
	}
	return nil
}

// Two connections share the WAL-index (shared memory) through the wrapper,
// and a crash in the middle of a writer's work keeps acknowledged rows.
func TestConcurrentReaderAndCrash(t *testing.T) {
	fs := New()
	name := register(t, fs)
	path := filepath.Join(t.TempDir(), "concurrent.db")
	rng := rand.New(rand.NewPCG(9, 10))

	w := open(t, name, path, "FULL")
	r := open(t, name, path, "FULL")
	if err := w.Exec(`BEGIN`); err != nil {
		t.Fatal(err)
	}
	if err := insert(w, 1, 1, rng); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, r); len(got) != 0 {
		t.Fatalf("reader sees uncommitted rows: %v", got)
	}
	if err := w.Exec(`COMMIT`); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, r); !slices.Equal(got, []int64{1}) {
		t.Fatalf("reader sees %v, want [1]", got)
	}
	r.Close()

	// Crash while another goroutine is writing. Under the race detector this
	// part is skipped: a crash closes the dead handle's shared memory, which
	// the writer goroutine may be inside at that instant (the driver's
	// shared-memory methods are unexported, so the wrapper cannot lock
	// around them). The detector rightly flags that; a real crash has no
	// second goroutine left to race. The run without -race covers it.
	if raceEnabled {
		t.Skip("crash during a concurrent write is checked without -race")
	}
	var acked atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		wrng := rand.New(rand.NewPCG(11, 12))
		for id := int64(2); ; id++ {
			if err := insert(w, id, id, wrng); err != nil {
				return // the crash
			}
			acked.Store(id)
		}
	}()
	for acked.Load() < 20 {
		runtime.Gosched()
	}
	fs.Crash()
	<-done
	w.Close()

	db := open(t, name, path, "FULL")
	defer db.Close()
	integrityCheck(t, db)
	got := ids(t, db)
	n := acked.Load()
	for id := int64(1); id <= n; id++ {
		if !slices.Contains(got, id) {
			t.Fatalf("acknowledged row %d lost (%d acknowledged, %d survived)", id, n, len(got))
		}
	}
	t.Logf("%d rows acknowledged before the crash, %d survived", n, len(got))
}
