// Package faultvfs is a test-support SQLite VFS for power-loss and I/O fault
// tests.
//
// An [FS] wraps the default OS VFS of github.com/ncruces/go-sqlite3 and models a
// volatile disk cache: bytes written to a file reach the real file immediately
// (so every open handle sees them), but they only become durable once the file
// is synced. [FS.Crash] simulates a power cut by rewriting every file to its last
// durable state and invalidating every handle opened before the crash.
//
// Faults can be injected with [FS.FailAfter]: the n-th subsequent operation of a
// [Kind] fails with a given error, optionally for every later operation too.
//
// The model, in short:
//
//   - A file's durable image is its on-disk content when this FS first opens it,
//     and is replaced by its current content whenever it is synced (xSync). No
//     fsync is issued to the operating system: durability is modelled in memory.
//   - A file created through the FS whose content was never synced has no durable
//     directory entry: a crash removes it. (With [Model].DirSync, the entry is
//     durable only once its directory is synced.)
//   - Deleting a file (xDelete) is immediately durable: SQLite deletes only
//     files whose content no longer matters (a checkpointed WAL, a finished
//     journal), so bringing one back would test nothing.
//   - Writes, truncations and size hints are recorded in a per-file log of
//     unsynced operations; a sync applies the log to the durable image.
//   - On crash, the -shm file (WAL-index) of every database opened through the FS
//     is unlinked: SQLite rebuilds it from the WAL. It is never truncated in place,
//     because dead connections may still have it memory-mapped.
//   - On crash, every handle opened before it is closed at the OS level, which
//     releases its file locks as the death of the process would.
//   - Temporary files (no name, or delete-on-close) are not tracked for crashes,
//     but are subject to fault injection.
//   - Memory-mapped database I/O is not offered to SQLite (every read goes
//     through xRead), nor are batch-atomic writes. Shared memory (the WAL-index)
//     and the other optional interfaces of the OS file are passed through.
//
// [Model] makes the disk harsher (torn sectors, no power-safe overwrite, writes
// dropped by a failed sync, directory entries that need a directory sync), and
// [FS.CrashAtSync] cuts the power at the n-th sync of a named file.
//
// Keep it simple: the FS is meant for tests that write at most a few megabytes.
package faultvfs

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/util/vfsutil"
	"github.com/ncruces/go-sqlite3/vfs"
)

// Kind is a kind of file operation that can be made to fail.
type Kind int

// Operation kinds for [FS.FailAfter].
const (
	Write    Kind = iota // xWrite
	Sync                 // xSync
	Read                 // xRead
	Truncate             // xTruncate
	numKinds
)

func (k Kind) String() string {
	switch k {
	case Write:
		return "Write"
	case Sync:
		return "Sync"
	case Read:
		return "Read"
	case Truncate:
		return "Truncate"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// ErrCrashed is the cause reported (as the system error of an SQLITE_IOERR_*
// code) by every operation on a handle opened before a simulated crash.
var ErrCrashed = errors.New("faultvfs: file handle invalidated by simulated crash")

// Stats are counters of the operations seen by an [FS].
type Stats struct {
	Reads        int64 // xRead calls
	Writes       int64 // xWrite calls
	BytesWritten int64 // bytes written by successful xWrite calls
	Syncs        int64 // xSync calls
	Truncates    int64 // xTruncate calls and size hints
	Faults       int64 // operations failed by fault injection
	Crashes      int64 // simulated crashes
	TornSectors  int64 // sectors left holding garbage by crashes (see [Model])
}

type fault struct {
	armed  bool
	n      int // fail the n-th operation (1-based) ...
	seen   int // ... counting from the FailAfter call
	fired  bool
	sticky bool
	err    error
}

// FS is a [vfs.VFS] that wraps the default OS VFS and models a disk cache.
// Create it with [New]; register it with [FS.Register].
// All methods are safe for concurrent use.
type FS struct {
	base  vfs.VFS
	model Model

	mu      sync.Mutex
	nodes   map[string]*node   // tracked files, by path
	handles map[*file]struct{} // open handles
	mainDBs map[string]struct{}
	faults  [numKinds]fault
	stats   Stats

	syncs    map[string]int64 // xSync calls, by path
	trigger  *crashTrigger
	fired    bool
	syncHook SyncHook
}

var (
	_ vfs.VFS         = &FS{}
	_ vfs.VFSFilename = &FS{}
)

// New returns an FS wrapping the default OS VFS (vfs.Find("")).
func New() *FS {
	return &FS{
		base:    vfs.Find(""),
		nodes:   map[string]*node{},
		handles: map[*file]struct{}{},
		mainDBs: map[string]struct{}{},
		syncs:   map[string]int64{},
	}
}

// Register registers fs under name, so that a URI filename such as
// "file:/path/x.db?vfs=name" is opened through it.
// Use vfs.Unregister(name) to undo it.
func (fs *FS) Register(name string) {
	vfs.Register(name, fs)
}

// FailAfter makes the n-th (1-based) subsequent operation of the given kind
// fail with err, and, if sticky, every later operation of that kind until
// [FS.Reset]. n < 1 is treated as 1. A later call for the same kind replaces
// the earlier one.
//
// err may be an sqlite3.ErrorCode or sqlite3.ExtendedErrorCode, which SQLite
// receives as is, or any other error: an error matching syscall.ENOSPC is
// reported to SQLite as SQLITE_FULL, anything else (e.g. syscall.EIO) as the
// I/O error code of the operation (SQLITE_IOERR_WRITE, _FSYNC, _READ or
// _TRUNCATE), with err attached as the system error. A nil err means EIO.
func (fs *FS) FailAfter(kind Kind, n int, err error, sticky bool) {
	if kind < 0 || kind >= numKinds {
		panic("faultvfs: invalid Kind " + kind.String())
	}
	if err == nil {
		err = syscall.EIO
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.faults[kind] = fault{armed: true, n: max(n, 1), sticky: sticky, err: err}
}

// Reset disarms all injected faults and a crash armed by [FS.CrashAtSync]
// that has not fired. It does not undo a crash, nor reset [Stats].
func (fs *FS) Reset() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.faults = [numKinds]fault{}
	fs.trigger = nil
}

// Stats returns a snapshot of the counters.
func (fs *FS) Stats() Stats {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.stats
}

// Crash simulates a power cut: every file written through fs is rewritten on
// disk to its last-synced content (files never synced are removed), the -shm
// file of every database opened through fs is removed, and every handle
// opened before the crash is closed at the OS level (releasing its locks, as
// the death of a process would) and fails every further operation with an
// I/O error. Connections opened before the crash must be discarded (closing
// them is fine); reopen the database to recover.
//
// Crash should not run concurrently with opening files through fs.
// It panics if the files cannot be restored, as the test would be meaningless.
func (fs *FS) Crash() {
	fs.crash(nil, nil)
}

// CrashPartial is like [FS.Crash], but models a disk that wrote back part of its
// cache before losing power: each unsynced write, truncation, or file creation
// independently reached the disk, or not, as decided by rng (probability 1/2),
// in the order the operations were issued.
// A database that syncs correctly must survive this too.
func (fs *FS) CrashPartial(rng *rand.Rand) {
	if rng == nil {
		panic("faultvfs: nil rng")
	}
	fs.crash(rng, nil)
}

// crash cuts the power. self, if not nil, is a handle whose lock the caller
// holds (a crash from inside its xSync).
func (fs *FS) crash(rng *rand.Rand, self *file) {
	// Kill the "process": close every underlying handle.
	fs.mu.Lock()
	handles := make([]*file, 0, len(fs.handles))
	for h := range fs.handles {
		handles = append(handles, h)
	}
	fs.mu.Unlock()
	for _, h := range handles {
		if h == self {
			h.killLocked()
		} else {
			h.kill()
		}
	}

	// Lose the disk cache.
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.stats.Crashes++
	var errs []error
	for path, n := range fs.nodes {
		data, exists, torn := n.crashImage(fs.model, rng)
		fs.stats.TornSectors += int64(torn)
		if exists {
			errs = append(errs, os.WriteFile(path, data, 0o666))
		} else if err := os.Remove(path); err != nil && !errors.Is(err, iofs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	for path := range fs.mainDBs {
		if err := os.Remove(path + "-shm"); err != nil && !errors.Is(err, iofs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	// The next process starts from the disk, as a fresh FS would.
	fs.nodes = map[string]*node{}
	fs.handles = map[*file]struct{}{}
	fs.mainDBs = map[string]struct{}{}
	if err := errors.Join(errs...); err != nil {
		panic(fmt.Sprintf("faultvfs: restoring files after crash: %v", err))
	}
}

// begin counts an operation of the given kind and reports an injected fault,
// already translated for SQLite.
func (fs *FS) begin(kind Kind) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	switch kind {
	case Write:
		fs.stats.Writes++
	case Sync:
		fs.stats.Syncs++
	case Read:
		fs.stats.Reads++
	case Truncate:
		fs.stats.Truncates++
	}
	f := &fs.faults[kind]
	if !f.armed {
		return nil
	}
	if !f.fired {
		f.seen++
		if f.seen < f.n {
			return nil
		}
		f.fired = true
	}
	err := f.err
	if !f.sticky {
		*f = fault{}
	}
	fs.stats.Faults++
	return translate(err, kind)
}

// translate maps an injected error to what the vfs package expects:
// SQLite error codes pass through; ENOSPC becomes SQLITE_FULL;
// anything else becomes the I/O error code of the operation.
func translate(err error, kind Kind) error {
	switch err.(type) {
	case sqlite3.ErrorCode, sqlite3.ExtendedErrorCode:
		return err
	}
	var serr *sqlite3.Error
	if errors.As(err, &serr) {
		return vfs.SystemError(err, serr.ExtendedCode())
	}
	if errors.Is(err, syscall.ENOSPC) {
		return vfs.SystemError(err, sqlite3.FULL)
	}
	return vfs.SystemError(err, ioerrCode(kind))
}

func ioerrCode(kind Kind) sqlite3.ExtendedErrorCode {
	switch kind {
	case Write:
		return sqlite3.IOERR_WRITE
	case Sync:
		return sqlite3.IOERR_FSYNC
	case Read:
		return sqlite3.IOERR_READ
	case Truncate:
		return sqlite3.IOERR_TRUNCATE
	}
	return sqlite3.ExtendedErrorCode(sqlite3.IOERR)
}

// Open implements [vfs.VFS]. SQLite calls [FS.OpenFilename] instead.
func (fs *FS) Open(name string, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	if name == "" {
		return fs.OpenFilename(nil, flags)
	}
	return nil, flags, sqlite3.CANTOPEN
}

// OpenFilename implements [vfs.VFSFilename].
func (fs *FS) OpenFilename(name *vfs.Filename, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	path := name.String()
	track := path != "" && flags&(vfs.OPEN_DELETEONCLOSE|vfs.OPEN_MEMORY) == 0

	var n *node
	if track {
		fs.mu.Lock()
		n = fs.nodes[path]
		if n == nil {
			// First sight of this file: whatever is on disk is durable.
			data, err := os.ReadFile(path)
			switch {
			case err == nil:
				n = &node{durable: data, exists: true}
			case errors.Is(err, iofs.ErrNotExist):
				n = &node{}
			default:
				fs.mu.Unlock()
				return nil, flags, err
			}
			fs.nodes[path] = n
		}
		n.refs++
		fs.mu.Unlock()
	}

	f, flags, err := vfsutil.WrapOpenFilename(fs.base, name, flags)
	if err != nil {
		if n != nil {
			fs.mu.Lock()
			n.refs--
			if n.refs == 0 && len(n.pending) == 0 && fs.nodes[path] == n {
				delete(fs.nodes, path)
			}
			fs.mu.Unlock()
		}
		return nil, flags, err
	}

	h := &file{
		File: f,
		fs:   fs,
		path: path,
		node: n,
		shm:  vfsutil.WrapSharedMemory(f),
		// As the OS VFS: the first sync of a journal or WAL it created
		// also syncs the directory.
		syncDir: flags&vfs.OPEN_CREATE != 0 &&
			flags&(vfs.OPEN_MAIN_JOURNAL|vfs.OPEN_SUPER_JOURNAL|vfs.OPEN_WAL) != 0,
	}
	fs.mu.Lock()
	fs.handles[h] = struct{}{}
	if track && flags&vfs.OPEN_MAIN_DB != 0 {
		fs.mainDBs[path] = struct{}{}
	}
	fs.mu.Unlock()
	return h, flags, nil
}

// Delete implements [vfs.VFS]. Deletions are immediately durable; with
// syncDir, the directory is synced too (see [Model].DirSync).
func (fs *FS) Delete(name string, syncDir bool) error {
	err := fs.base.Delete(name, syncDir)
	fs.mu.Lock()
	delete(fs.nodes, name) // open handles keep their (now detached) node
	if err == nil && syncDir {
		fs.syncDir(filepath.Dir(name))
	}
	fs.mu.Unlock()
	return err
}

// Access implements [vfs.VFS].
func (fs *FS) Access(name string, flags vfs.AccessFlag) (bool, error) {
	return fs.base.Access(name, flags)
}

// FullPathname implements [vfs.VFS].
func (fs *FS) FullPathname(name string) (string, error) {
	return fs.base.FullPathname(name)
}

// node is the crash model of one file path.
// Its fields are guarded by FS.mu.
type node struct {
	durable []byte // content as of the last sync
	exists  bool   // the directory entry is durable
	pending []op   // unsynced operations, in order
	refs    int    // open handles
}

type opKind uint8

const (
	opWrite    opKind = iota
	opTruncate        // set the size
	opGrow            // extend to at least size (fallocate)
)

type op struct {
	kind opKind
	off  int64 // write offset, or size
	data []byte
}

func (n *node) log(o op) {
	n.pending = append(n.pending, o)
}

// sync makes the pending operations durable, and the directory entry too
// unless the model wants a directory sync for that.
func (n *node) sync(m Model) {
	for _, o := range n.pending {
		n.durable = o.apply(n.durable)
	}
	n.pending = nil
	if !m.DirSync {
		n.exists = true
	}
}

// syncFailed applies a failed sync: in the fsyncgate model the pending
// operations are forgotten (the page cache holds them as clean), otherwise
// they stay queued for the next sync.
func (n *node) syncFailed(m Model) {
	if m.SyncFailureDropsWrites {
		n.pending = nil
	}
}

// partial returns a crash image where each pending operation
// (and a pending file creation) survives with probability 1/2.
func (n *node) partial(rng *rand.Rand) ([]byte, bool) {
	exists := n.exists
	if !exists {
		if len(n.pending) == 0 && len(n.durable) == 0 || rng.IntN(2) == 0 {
			return nil, false
		}
		exists = true
	}
	data := append([]byte(nil), n.durable...)
	for _, o := range n.pending {
		if rng.IntN(2) == 0 {
			data = o.apply(data)
		}
	}
	return data, exists
}

func (o op) apply(data []byte) []byte {
	switch o.kind {
	case opWrite:
		data = resize(data, max(int64(len(data)), o.off+int64(len(o.data))))
		copy(data[o.off:], o.data)
	case opTruncate:
		data = resize(data, o.off)
	case opGrow:
		data = resize(data, max(int64(len(data)), o.off))
	}
	return data
}

// resize truncates or zero-extends data.
func resize(data []byte, size int64) []byte {
	if size <= int64(len(data)) {
		return data[:size]
	}
	// append, not reslice: bytes past len(data) may hold stale content.
	return append(data, make([]byte, size-int64(len(data)))...)
}
