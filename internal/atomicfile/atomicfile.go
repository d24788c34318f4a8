// Package atomicfile publishes a file written whole under a temporary
// name, so that a reader never sees it half written: Store.Backup and the
// airnest command's import use it.
package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// Temp creates an empty temporary file beside path, hidden as
// .<name>.tmp-<random>, and returns its name.
func Temp(path string) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", err
	}
	return f.Name(), f.Close()
}

// Publish syncs tmp, gives it the name path unless path exists (then the
// error wraps fs.ErrExist and tmp is left for the caller to remove), and
// syncs the directory so that the new name survives a power loss.
//
// A hard link, which fails when path exists, makes the new name; on a file
// system without hard links Publish renames instead, which would replace a
// file created at path after its check.
func Publish(tmp, path string) error {
	if err := Sync(tmp); err != nil {
		return err
	}
	err := os.Link(tmp, path)
	switch {
	case err == nil:
		if err := os.Remove(tmp); err != nil {
			return err
		}
	case errors.Is(err, fs.ErrExist):
		return err
	default:
		if _, err := os.Lstat(path); err == nil {
			return &fs.PathError{Op: "publish", Path: path, Err: fs.ErrExist}
		}
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
	}
	return Sync(filepath.Dir(path))
}

// Sync syncs a file or a directory.
func Sync(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}

// RemoveDB removes a database file and whatever SQLite left beside it.
func RemoveDB(path string) {
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		os.Remove(path + suffix)
	}
}
