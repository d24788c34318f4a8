package main

import (
	"errors"
	"os"
	"path/filepath"
)

// newTemp creates an empty temporary file beside path, for a new file to
// be written whole and then published with publish.
func newTemp(path string) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", err
	}
	return f.Name(), f.Close()
}

// publish syncs tmp and renames it to path, then syncs the directory so
// that the rename survives a power loss. The file gets the permissions a
// new SQLite file has (CreateTemp made it private).
func publish(tmp, path string) error {
	if err := os.Chmod(tmp, 0o644); err != nil {
		return err
	}
	if err := syncFile(tmp); err != nil {
		return err
	}
	if _, err := os.Lstat(path); err == nil {
		return &os.PathError{Op: "import", Path: path, Err: os.ErrExist}
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncFile(filepath.Dir(path))
}

// syncFile syncs a file or a directory.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}

// removeDB removes a database file and whatever SQLite left beside it.
func removeDB(path string) {
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		os.Remove(path + suffix)
	}
}
