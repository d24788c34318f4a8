package faultvfs

import (
	"path/filepath"
	"sync"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/util/vfsutil"
	"github.com/ncruces/go-sqlite3/vfs"
)

// file wraps a file of the underlying VFS.
//
// It intercepts the data operations (read, write, truncate, sync, size hint)
// and forwards every optional interface of the underlying file, except:
//   - vfs.FileMemoryMapper: not exposed, so that all database reads go
//     through ReadAt (and can fail);
//   - vfs.FileBatchAtomicWrite: not exposed, and IOCAP_BATCH_ATOMIC is masked,
//     so SQLite always uses its journal/WAL.
type file struct {
	vfs.File // the underlying file; only used under mu

	fs   *FS
	path string
	node *node            // nil for untracked (temporary) files
	shm  vfs.SharedMemory // same instance for the life of the file

	mu      sync.Mutex
	dead    bool // closed, or killed by a crash
	syncDir bool // the next successful sync also syncs the directory
}

var (
	_ vfs.FileUnwrap             = &file{}
	_ vfs.FileSharedMemory       = &file{}
	_ vfs.FileLockState          = &file{}
	_ vfs.FilePersistWAL         = &file{}
	_ vfs.FilePowersafeOverwrite = &file{}
	_ vfs.FileChunkSize          = &file{}
	_ vfs.FileSizeHint           = &file{}
	_ vfs.FileHasMoved           = &file{}
	_ vfs.FileOverwrite          = &file{}
	_ vfs.FileSync               = &file{}
	_ vfs.FileCommitPhaseTwo     = &file{}
	_ vfs.FileCheckpoint         = &file{}
	_ vfs.FilePragma             = &file{}
	_ vfs.FileBusyHandler        = &file{}
)

func crashed(code sqlite3.ExtendedErrorCode) error {
	return vfs.SystemError(ErrCrashed, code)
}

// kill closes the underlying file, as the death of the process would.
func (f *file) kill() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.killLocked()
}

func (f *file) killLocked() {
	if !f.dead {
		f.dead = true
		f.File.Close()
	}
}

func (f *file) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dead {
		return nil // killed by a crash: already closed
	}
	f.dead = true
	err := f.File.Close()

	fs := f.fs
	fs.mu.Lock()
	defer fs.mu.Unlock()
	delete(fs.handles, f)
	if n := f.node; n != nil {
		n.refs--
		// Forget clean files, so that they are reread if reopened.
		if n.refs == 0 && n.exists && len(n.pending) == 0 && fs.nodes[f.path] == n {
			delete(fs.nodes, f.path)
		}
	}
	return err
}

func (f *file) ReadAt(p []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dead {
		return 0, crashed(sqlite3.IOERR_READ)
	}
	if err := f.fs.begin(Read); err != nil {
		return 0, err
	}
	return f.File.ReadAt(p, off)
}

func (f *file) WriteAt(p []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dead {
		return 0, crashed(sqlite3.IOERR_WRITE)
	}
	if err := f.fs.begin(Write); err != nil {
		return 0, err
	}
	n, err := f.File.WriteAt(p, off)
	if n > 0 {
		f.fs.mu.Lock()
		f.fs.stats.BytesWritten += int64(n)
		if f.node != nil {
			f.node.log(op{kind: opWrite, off: off, data: append([]byte(nil), p[:n]...)})
		}
		f.fs.mu.Unlock()
	}
	return n, err
}

func (f *file) Truncate(size int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dead {
		return crashed(sqlite3.IOERR_TRUNCATE)
	}
	if err := f.fs.begin(Truncate); err != nil {
		return err
	}
	err := f.File.Truncate(size)
	if err == nil && f.node != nil {
		f.fs.mu.Lock()
		f.node.log(op{kind: opTruncate, off: size})
		f.fs.mu.Unlock()
	}
	return err
}

// Sync makes the file's content durable in the model.
// No fsync is issued to the operating system.
func (f *file) Sync(flags vfs.SyncFlag) (err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dead {
		return crashed(sqlite3.IOERR_FSYNC)
	}
	fs := f.fs
	fs.mu.Lock()
	fs.syncs[f.path]++
	hook := fs.syncHook
	var trigger *crashTrigger
	if f.node != nil {
		trigger = fs.takeTrigger(f.path)
	}
	fs.mu.Unlock()
	if hook != nil {
		if done := hook(f.path); done != nil {
			defer func() { done(err) }()
		}
	}
	if trigger != nil {
		if trigger.before != nil {
			trigger.before()
		}
		fs.crash(trigger.rng, f)
		return crashed(sqlite3.IOERR_FSYNC)
	}

	err = fs.begin(Sync)
	if f.node == nil {
		return err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if err != nil {
		f.node.syncFailed(fs.model)
		return err
	}
	f.node.sync(fs.model)
	if f.syncDir {
		f.syncDir = false
		if fs.model.DirSync {
			fs.syncDir(filepath.Dir(f.path))
		}
	}
	return nil
}

// SizeHint forwards the hint (which may grow the file) and records its effect.
// It is not subject to fault injection: SQLite ignores size hint errors.
func (f *file) SizeHint(size int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dead {
		return crashed(sqlite3.IOERR_TRUNCATE)
	}
	err := vfsutil.WrapSizeHint(f.File, size)
	if err == nil && f.node != nil {
		f.fs.mu.Lock()
		f.node.log(op{kind: opGrow, off: size})
		f.fs.mu.Unlock()
	}
	return err
}

func (f *file) Size() (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dead {
		return 0, crashed(sqlite3.IOERR_FSTAT)
	}
	return f.File.Size()
}

func (f *file) Lock(lock vfs.LockLevel) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dead {
		return crashed(sqlite3.IOERR_LOCK)
	}
	return f.File.Lock(lock)
}

func (f *file) Unlock(lock vfs.LockLevel) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dead {
		return crashed(sqlite3.IOERR_UNLOCK)
	}
	return f.File.Unlock(lock)
}

func (f *file) CheckReservedLock() (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dead {
		return false, crashed(sqlite3.IOERR_CHECKRESERVEDLOCK)
	}
	return f.File.CheckReservedLock()
}

// SectorSize reports the model's sector size, the unit of a torn write.
func (f *file) SectorSize() int {
	return f.fs.model.sectorSize()
}

func (f *file) DeviceCharacteristics() vfs.DeviceCharacteristic {
	f.mu.Lock()
	defer f.mu.Unlock()
	dc := f.File.DeviceCharacteristics() &^ vfs.IOCAP_BATCH_ATOMIC
	if f.fs.model.NoPowersafeOverwrite {
		dc &^= vfs.IOCAP_POWERSAFE_OVERWRITE
	}
	return dc
}

// Optional interfaces, forwarded.

func (f *file) Unwrap() vfs.File { return f.File }

func (f *file) SharedMemory() vfs.SharedMemory { return f.shm }

func (f *file) LockState() vfs.LockLevel {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dead {
		return vfs.LOCK_NONE
	}
	return vfsutil.WrapLockState(f.File)
}

func (f *file) PersistWAL() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return vfsutil.WrapPersistWAL(f.File)
}

func (f *file) SetPersistWAL(keepWAL bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	vfsutil.WrapSetPersistWAL(f.File, keepWAL)
}

func (f *file) PowersafeOverwrite() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.fs.model.NoPowersafeOverwrite && vfsutil.WrapPowersafeOverwrite(f.File)
}

func (f *file) SetPowersafeOverwrite(psow bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	vfsutil.WrapSetPowersafeOverwrite(f.File, psow)
}

func (f *file) ChunkSize(size int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	vfsutil.WrapChunkSize(f.File, size)
}

func (f *file) HasMoved() (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dead {
		return false, crashed(sqlite3.IOERR_FSTAT)
	}
	return vfsutil.WrapHasMoved(f.File)
}

func (f *file) Overwrite() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dead {
		return crashed(sqlite3.ExtendedErrorCode(sqlite3.IOERR))
	}
	return vfsutil.WrapOverwrite(f.File)
}

func (f *file) SyncSuper(super string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dead {
		return crashed(sqlite3.ExtendedErrorCode(sqlite3.IOERR))
	}
	return vfsutil.WrapSyncSuper(f.File, super)
}

func (f *file) CommitPhaseTwo() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dead {
		return crashed(sqlite3.ExtendedErrorCode(sqlite3.IOERR))
	}
	return vfsutil.WrapCommitPhaseTwo(f.File)
}

func (f *file) CheckpointStart() {
	f.mu.Lock()
	defer f.mu.Unlock()
	vfsutil.WrapCheckpointStart(f.File)
}

func (f *file) CheckpointDone() {
	f.mu.Lock()
	defer f.mu.Unlock()
	vfsutil.WrapCheckpointDone(f.File)
}

func (f *file) Pragma(name, value string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return vfsutil.WrapPragma(f.File, name, value)
}

func (f *file) BusyHandler(handler func() bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	vfsutil.WrapBusyHandler(f.File, handler)
}
