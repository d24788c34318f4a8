package faultvfs

import (
	"math/rand/v2"
	"path/filepath"
	"strings"
)

// Model chooses how harsh the simulated disk is. The zero value is the
// kindest disk: a power cut keeps or drops whole writes, overwriting a
// sector never harms its other bytes, a failed sync leaves the writes
// queued for the next one, and a file's directory entry becomes durable
// with its first sync. Each field removes one of those kindnesses, after the
// failure modes of SQLite's own crash tests (test6.c) and of Linux.
type Model struct {
	// SectorSize is the unit of a torn write, and what files report to
	// SQLite as their sector size. Zero means 4096, as the OS VFS reports.
	SectorSize int

	// TornSectors: at a crash that has a random source ([FS.CrashPartial],
	// or [FS.CrashAtSync] given one), each sector written since its file's
	// last sync comes out torn with probability 1/4, holding garbage in the
	// bytes written to it since that sync (or in all its bytes, without
	// power-safe overwrite).
	TornSectors bool

	// NoPowersafeOverwrite: the device does not promise that writing part
	// of a sector leaves the rest of it alone. Files stop reporting
	// IOCAP_POWERSAFE_OVERWRITE (so SQLite pads WAL commits to a sector
	// boundary), and a torn sector loses its old bytes too.
	NoPowersafeOverwrite bool

	// SyncFailureDropsWrites: a failed xSync (injected with [FS.FailAfter])
	// forgets the file's unsynced writes, as Linux marks the pages clean
	// after reporting the error ("fsyncgate"): they stay readable until the
	// crash, but no later sync makes them durable.
	SyncFailureDropsWrites bool

	// DirSync: a created file's directory entry is durable only once its
	// directory is synced, not with the file's own sync. The OS VFS syncs
	// the directory at the first sync of a journal or WAL it created (as
	// SQLite's unix VFS does with its DIRSYNC flag), and when asked to on
	// xDelete; it never does for a database file.
	DirSync bool
}

func (m Model) sectorSize() int {
	if m.SectorSize > 0 {
		return m.SectorSize
	}
	return 4096
}

// NewModel returns an FS like [New] that simulates the disk described by m.
func NewModel(m Model) *FS {
	fs := New()
	fs.model = m
	return fs
}

// Model returns the disk model of fs.
func (fs *FS) Model() Model { return fs.model }

// crashImage is what the disk holds of n after a power cut. Without rng every
// unsynced operation is lost; with it, each one (and a pending directory
// entry) reached the disk or not, with probability 1/2, in order. Then, in the
// torn-sector model, each sector written since the last sync may be garbage
// (torn counts those).
func (n *node) crashImage(m Model, rng *rand.Rand) (data []byte, exists bool, torn int) {
	data, exists = n.durable, n.exists
	if rng != nil {
		data, exists = n.partial(rng)
	}
	if !exists || !m.TornSectors || rng == nil {
		return data, exists, 0
	}
	data = append([]byte(nil), data...)
	ss := int64(m.sectorSize())
	for _, s := range n.writtenSectors(ss) {
		if rng.IntN(4) != 0 {
			continue
		}
		lo, hi := s.sector*ss, (s.sector+1)*ss
		if !m.NoPowersafeOverwrite {
			// Only the bytes written since the sync are in doubt.
			lo, hi = s.lo, s.hi
		}
		if lo >= int64(len(data)) {
			continue // the write did not reach the disk's copy of the file
		}
		torn++
		for i := lo; i < hi && i < int64(len(data)); i++ {
			data[i] = byte(rng.Uint32())
		}
	}
	return data, exists, torn
}

// sectorSpan is the part of one sector written since the last sync.
type sectorSpan struct {
	sector, lo, hi int64 // [lo, hi) are absolute offsets
}

// writtenSectors lists the sectors the pending writes touch, in order of
// first touch, each with the span of bytes written to it.
func (n *node) writtenSectors(ss int64) []sectorSpan {
	var spans []sectorSpan
	at := map[int64]int{}
	for _, o := range n.pending {
		if o.kind != opWrite || len(o.data) == 0 {
			continue
		}
		end := o.off + int64(len(o.data))
		for s := o.off / ss; s*ss < end; s++ {
			lo, hi := max(o.off, s*ss), min(end, (s+1)*ss)
			if i, ok := at[s]; ok {
				spans[i].lo, spans[i].hi = min(spans[i].lo, lo), max(spans[i].hi, hi)
				continue
			}
			at[s] = len(spans)
			spans = append(spans, sectorSpan{sector: s, lo: lo, hi: hi})
		}
	}
	return spans
}

// syncDir makes durable the directory entry of every tracked file in dir,
// as an fsync of the directory does. Called with fs.mu held.
func (fs *FS) syncDir(dir string) {
	for path, n := range fs.nodes {
		if filepath.Dir(path) == dir {
			n.exists = true
		}
	}
}

// crashTrigger is an armed [FS.CrashAtSync].
type crashTrigger struct {
	suffix string
	n      int // syncs of a matching file still to go, counting the one that crashes
	rng    *rand.Rand
	before func()
}

// CrashAtSync arms a crash at the n-th (1-based) subsequent xSync of a file
// whose path ends with suffix (for example "-wal", or ".db" for the database
// file, whose syncs come from checkpoints): the power fails as that sync
// starts, so what it was to make durable is not. Aim it at checkpoints and
// WAL resets by counting the syncs of a quiet run first.
//
// The crash is that of [FS.CrashPartial] with rng, or of [FS.Crash] if rng is
// nil. before, if not nil, runs first, on the goroutine of the sync: a test
// uses it to stop counting acknowledgements. The sync then fails, as every
// operation on the handles opened before the crash does. A later call
// replaces an armed trigger that has not fired.
func (fs *FS) CrashAtSync(suffix string, n int, rng *rand.Rand, before func()) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.trigger = &crashTrigger{suffix: suffix, n: max(n, 1), rng: rng, before: before}
}

// CrashFired reports whether the crash armed by [FS.CrashAtSync] happened.
func (fs *FS) CrashFired() bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.fired
}

// takeTrigger counts a sync of path against the armed trigger and returns
// it if this sync is the one that crashes. Called with fs.mu held.
func (fs *FS) takeTrigger(path string) *crashTrigger {
	t := fs.trigger
	if t == nil || !strings.HasSuffix(path, t.suffix) {
		return nil
	}
	if t.n--; t.n > 0 {
		return nil
	}
	fs.trigger, fs.fired = nil, true
	return t
}

// SyncHook observes syncs: it is called as an xSync of path starts, and the
// function it returns, if not nil, with the sync's result.
type SyncHook func(path string) (done func(err error))

// OnSync installs hook (nil removes it). Hooks run on SQLite's goroutine,
// with no lock of fs held; they must not use the database.
func (fs *FS) OnSync(hook SyncHook) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.syncHook = hook
}

// Syncs returns how many xSync calls were made on files whose path ends
// with suffix, since fs was created (an injected failure counts too).
func (fs *FS) Syncs(suffix string) int64 {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var n int64
	for path, c := range fs.syncs {
		if strings.HasSuffix(path, suffix) {
			n += c
		}
	}
	return n
}
