package faultvfs

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ncruces/go-sqlite3"
)

// tornNode is a synced file of three 512-byte sectors of 'A', then one
// unsynced write of 'B' over bytes [100, 700): the end of sector 0 and the
// start of sector 1. Sector 2 is not written.
func tornNode() *node {
	n := &node{durable: bytes.Repeat([]byte{'A'}, 3*512), exists: true}
	n.log(op{kind: opWrite, off: 100, data: bytes.Repeat([]byte{'B'}, 600)})
	return n
}

// garbage reports whether data[lo:hi] holds a byte that is neither 'A' nor 'B'.
func garbage(data []byte, lo, hi int) bool {
	return slices.ContainsFunc(data[lo:hi], func(b byte) bool { return b != 'A' && b != 'B' })
}

// crashImages returns the crash images of tornNode over many seeded cuts.
func crashImages(t *testing.T, m Model) [][]byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(21, 22))
	var out [][]byte
	for range 200 {
		data, exists, _ := tornNode().crashImage(m, rng)
		if !exists || len(data) != 3*512 {
			t.Fatalf("crash image: exists %v, %d bytes; want the 1536-byte file", exists, len(data))
		}
		out = append(out, data)
	}
	return out
}

// With power-safe overwrite, a torn sector holds garbage only where it was
// written since the sync; without torn sectors, never.
func TestTornSectorsPowersafe(t *testing.T) {
	m := Model{SectorSize: 512, TornSectors: true}
	torn := 0
	for _, data := range crashImages(t, m) {
		if garbage(data, 0, 100) || garbage(data, 700, 3*512) {
			t.Fatal("bytes not written since the sync were damaged, despite power-safe overwrite")
		}
		if garbage(data, 100, 700) {
			torn++
		}
	}
	if torn == 0 {
		t.Fatal("no cut tore a sector")
	}
	for _, data := range crashImages(t, Model{SectorSize: 512}) {
		if garbage(data, 0, len(data)) {
			t.Fatal("garbage without the torn-sector model")
		}
	}
}

// Without power-safe overwrite, a torn sector may lose the bytes around the
// write too, but a sector that was not written is never touched.
func TestTornSectorsWithoutPowersafeOverwrite(t *testing.T) {
	m := Model{SectorSize: 512, TornSectors: true, NoPowersafeOverwrite: true}
	around := 0
	for _, data := range crashImages(t, m) {
		if garbage(data, 2*512, 3*512) {
			t.Fatal("a sector never written was damaged")
		}
		if garbage(data, 0, 100) || garbage(data, 700, 2*512) {
			around++
		}
	}
	if around == 0 {
		t.Fatal("no torn sector damaged the bytes around the write")
	}
}

// A failed sync drops the unsynced writes in the fsyncgate model: a later
// successful sync does not make them durable. Otherwise it does.
func TestSyncFailureDropsWrites(t *testing.T) {
	for _, drop := range []bool{false, true} {
		m := Model{SyncFailureDropsWrites: drop}
		n := &node{durable: []byte("old."), exists: true}
		n.log(op{kind: opWrite, off: 0, data: []byte("new")})
		n.syncFailed(m)
		n.log(op{kind: opWrite, off: 3, data: []byte("!")})
		n.sync(m)
		data, _, _ := n.crashImage(m, nil)
		want := "new!"
		if drop {
			want = "old!"
		}
		if string(data) != want {
			t.Errorf("SyncFailureDropsWrites=%v: after a failed sync, a good sync and a crash: %q, want %q", drop, data, want)
		}
	}
}

// The same through SQLite: commits whose WAL writes a failed sync dropped
// are not saved by a later commit's successful sync.
func TestSyncFailureDropsWritesSQLite(t *testing.T) {
	for _, drop := range []bool{false, true} {
		fs := NewModel(Model{SyncFailureDropsWrites: drop})
		name := register(t, fs)
		path := filepath.Join(t.TempDir(), "drop.db")
		rng := rand.New(rand.NewPCG(23, 24))
		db := open(t, name, path, "FULL") // durable schema
		db.Close()
		db = open(t, name, path, "OFF") // commits reach the WAL, unsynced
		for id := int64(1); id <= 5; id++ {
			if err := insert(db, id, id, rng); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.Exec(`PRAGMA synchronous=FULL`); err != nil {
			t.Fatal(err)
		}
		fs.FailAfter(Sync, 1, nil, false)
		if err := insert(db, 6, 6, rng); !errors.Is(err, sqlite3.IOERR) {
			t.Fatalf("insert with a failing sync: %v, want IOERR", err)
		}
		if err := insert(db, 7, 7, rng); err != nil {
			t.Fatal(err)
		}
		fs.Crash()
		db.Close()
		db = open(t, name, path, "FULL")
		integrityCheck(t, db)
		got := ids(t, db)
		db.Close()
		want := []int64{1, 2, 3, 4, 5, 7}
		if drop {
			// The WAL header and frames 1-5 were dropped: the frames of 7
			// no longer continue a valid WAL.
			want = nil
		}
		if !slices.Equal(got, want) {
			t.Errorf("SyncFailureDropsWrites=%v: rows after the crash %v, want %v", drop, got, want)
		}
	}
}

// In the directory-sync model a database file synced without a journal (so
// without a directory sync) vanishes in a crash; with a WAL, whose first
// sync syncs the directory, it stays.
func TestDirSync(t *testing.T) {
	for _, dirSync := range []bool{false, true} {
		fs := NewModel(Model{DirSync: dirSync})
		name := register(t, fs)
		path := filepath.Join(t.TempDir(), "dir.db")
		db, err := sqlite3.Open("file:" + path + "?vfs=" + name)
		if err != nil {
			t.Fatal(err)
		}
		for _, sql := range []string{`PRAGMA journal_mode=OFF`, `PRAGMA synchronous=FULL`, `CREATE TABLE t (x)`, `INSERT INTO t VALUES (1)`} {
			if err := db.Exec(sql); err != nil {
				t.Fatalf("%s: %v", sql, err)
			}
		}
		fs.Crash()
		db.Close()
		_, err = os.Stat(path)
		if exists := err == nil; exists == dirSync {
			t.Errorf("DirSync=%v: the database file exists after the crash: %v", dirSync, exists)
		}

		// WAL from the start: no journal ever syncs the directory, the
		// WAL's first sync must.
		wal := filepath.Join(t.TempDir(), "wal.db")
		db, err = sqlite3.Open("file:" + wal + "?vfs=" + name)
		if err != nil {
			t.Fatal(err)
		}
		for _, sql := range []string{`PRAGMA journal_mode=WAL`, `PRAGMA synchronous=FULL`, `CREATE TABLE t (x)`, `INSERT INTO t VALUES (1)`} {
			if err := db.Exec(sql); err != nil {
				t.Fatalf("%s: %v", sql, err)
			}
		}
		fs.Crash()
		db.Close()
		db, err = sqlite3.Open("file:" + wal + "?vfs=" + name)
		if err != nil {
			t.Fatal(err)
		}
		stmt, _, err := db.Prepare(`SELECT count(*) FROM t`)
		if err != nil {
			t.Fatalf("DirSync=%v: WAL database after the crash: %v", dirSync, err)
		}
		if !stmt.Step() || stmt.ColumnInt(0) != 1 {
			t.Errorf("DirSync=%v: WAL database after the crash holds %d rows, want 1 (%v)", dirSync, stmt.ColumnInt(0), stmt.Err())
		}
		stmt.Close()
		db.Close()
	}
}

// Without power-safe overwrite the device stops reporting it, and SQLite
// pads each synced WAL commit to a sector boundary: the WAL grows faster.
func TestNoPowersafeOverwriteReported(t *testing.T) {
	walSize := func(m Model) int64 {
		fs := NewModel(m)
		name := register(t, fs)
		path := filepath.Join(t.TempDir(), "psow.db")
		db := open(t, name, path, "FULL")
		defer db.Close()
		rng := rand.New(rand.NewPCG(27, 28))
		for id := int64(1); id <= 10; id++ {
			if err := insertSize(db, id, id, rng, 10); err != nil {
				t.Fatal(err)
			}
		}
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	psow, nopsow := walSize(Model{}), walSize(Model{NoPowersafeOverwrite: true, SectorSize: 16 << 10})
	if nopsow <= psow {
		t.Fatalf("WAL of 10 small commits: %d bytes without power-safe overwrite, %d with; want more without (padding)", nopsow, psow)
	}
	t.Logf("WAL after 10 small commits: %d bytes with power-safe overwrite, %d without", psow, nopsow)
}

// CrashAtSync cuts the power as the n-th sync of the named file starts:
// with synchronous=FULL every commit syncs the WAL, so the n-th commit
// (counting a WAL's header sync) fails and exactly the earlier ones survive.
func TestCrashAtSync(t *testing.T) {
	fs := New()
	name := register(t, fs)
	path := filepath.Join(t.TempDir(), "at.db")
	rng := rand.New(rand.NewPCG(29, 30))
	db := open(t, name, path, "FULL")
	if err := insert(db, 1, 1, rng); err != nil { // the WAL's first commit (and header) is behind us
		t.Fatal(err)
	}
	walSyncs := fs.Syncs("-wal")
	if walSyncs == 0 {
		t.Fatal("no WAL sync counted")
	}
	before := 0
	fs.CrashAtSync("-wal", 4, nil, func() { before++ })
	var acked []int64
	for id := int64(2); id < 20; id++ {
		if err := insert(db, id, id, rng); err != nil {
			if !errors.Is(err, sqlite3.IOERR) {
				t.Fatalf("insert %d: %v, want IOERR", id, err)
			}
			break
		}
		acked = append(acked, id)
	}
	db.Close()
	if !fs.CrashFired() || before != 1 {
		t.Fatalf("crash fired %v, before ran %d times", fs.CrashFired(), before)
	}
	if len(acked) != 3 {
		t.Fatalf("%d commits succeeded before the 4th WAL sync crashed, want 3", len(acked))
	}
	db = open(t, name, path, "FULL")
	defer db.Close()
	integrityCheck(t, db)
	if got := ids(t, db); !slices.Equal(got, append([]int64{1}, acked...)) {
		t.Fatalf("after the crash: %v, want 1 and %v", got, acked)
	}

	// Aimed at the database file: the sync of a checkpoint.
	fs.CrashAtSync(".db", 1, rand.New(rand.NewPCG(31, 32)), nil)
	if err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); !errors.Is(err, sqlite3.IOERR) {
		t.Fatalf("checkpoint with a crash at its sync: %v, want IOERR", err)
	}
	db.Close()
	db = open(t, name, path, "FULL")
	integrityCheck(t, db)
	if got := ids(t, db); !slices.Equal(got, append([]int64{1}, acked...)) {
		t.Fatalf("after a crash in the checkpoint: %v, want 1 and %v", got, acked)
	}
}

// OnSync sees every sync start and end, with its result.
func TestOnSync(t *testing.T) {
	fs := New()
	name := register(t, fs)
	path := filepath.Join(t.TempDir(), "hook.db")
	db := open(t, name, path, "FULL")
	defer db.Close()
	var started, ok, failed int
	fs.OnSync(func(string) func(error) {
		started++
		return func(err error) {
			if err != nil {
				failed++
			} else {
				ok++
			}
		}
	})
	syncs := fs.Stats().Syncs
	rng := rand.New(rand.NewPCG(33, 34))
	if err := insert(db, 1, 1, rng); err != nil {
		t.Fatal(err)
	}
	fs.FailAfter(Sync, 1, nil, false)
	if err := insert(db, 2, 2, rng); err == nil {
		t.Fatal("insert with a failing sync succeeded")
	}
	if n := fs.Stats().Syncs - syncs; started != int(n) || ok+failed != started || failed != 1 {
		t.Fatalf("hook saw %d syncs start, %d succeed, %d fail; the FS counted %d", started, ok, failed, n)
	}
}
