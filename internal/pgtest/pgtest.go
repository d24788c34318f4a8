// Package pgtest runs a throwaway PostgreSQL server for tests: initdb into a
// temporary directory, postgres listening only on a unix socket there, one
// fresh database per caller, and everything removed at Stop.
//
// The server binaries come from the machine (Debian's postgresql package puts
// them in /usr/lib/postgresql/N/bin). PostgreSQL refuses to run as root, so
// when the tests run as root the server runs as the postgres user.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoServer means no PostgreSQL server binaries were found.
var ErrNoServer = errors.New("pgtest: no PostgreSQL server binaries found (install Debian's postgresql package: apt-get install postgresql)")

// BinDir returns the directory holding initdb and postgres: $AIRNEST_PG_BIN
// when set, else the newest /usr/lib/postgresql/N/bin, else the directory of
// a postgres on PATH.
func BinDir() (string, error) {
	if d := os.Getenv("AIRNEST_PG_BIN"); d != "" {
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "postgres")) && isExec(filepath.Join(d, "initdb")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("postgres"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		d := filepath.Dir(p)
		if isExec(filepath.Join(d, "initdb")) {
			return d, nil
		}
	}
	return "", ErrNoServer
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// Server is one running PostgreSQL server. Its methods are safe for
// concurrent use.
type Server struct {
	bin  string
	dir  string // holds data/ and the socket
	cred *syscall.Credential

	mu     sync.Mutex
	cmd    *exec.Cmd
	out    *os.File
	exited chan struct{} // closed when cmd has been waited for

	seq atomic.Int64
}

// Start creates a data directory and starts a server on a unix socket in it.
func Start(ctx context.Context) (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin}
	if os.Geteuid() == 0 {
		if s.cred, err = postgresUser(); err != nil {
			return nil, err
		}
	}
	// Not t.TempDir: as root its parent is private to root, and the server
	// runs as postgres. A short name keeps the socket path under 107 bytes.
	if s.dir, err = os.MkdirTemp("", "anpg"); err != nil {
		return nil, err
	}
	if err := s.chown(s.dir); err != nil {
		s.remove()
		return nil, err
	}
	initdb := s.command(ctx, filepath.Join(bin, "initdb"), "-D", s.dataDir(), "-U", "postgres",
		"-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		s.remove()
		return nil, fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	if err := s.start(ctx); err != nil {
		s.remove()
		return nil, err
	}
	return s, nil
}

func postgresUser() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root needs a postgres user to run the server as: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func (s *Server) chown(p string) error {
	if s.cred == nil {
		return nil
	}
	return os.Chown(p, int(s.cred.Uid), int(s.cred.Gid))
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }

// SocketDir is the directory of the server's unix socket.
func (s *Server) SocketDir() string { return s.dir }

func (s *Server) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd
}

// start runs postgres on the existing data directory and waits until it
// accepts connections or ctx ends. After a crash the old server's children
// need a moment to notice and exit; until they do, postgres refuses to start
// ("pre-existing shared memory block is still in use") and start tries again.
func (s *Server) start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		err := s.launch(ctx)
		if err == nil || !errors.Is(err, errShmInUse) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgtest: old server processes still hold the data directory: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

var errShmInUse = errors.New("pre-existing shared memory block is still in use")

func (s *Server) launch(ctx context.Context) error {
	logPath := filepath.Join(s.dir, "server.log")
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	start, _ := log.Seek(0, io.SeekEnd)
	// Not CommandContext: the server outlives the ctx that started it.
	cmd := s.command(context.Background(), filepath.Join(s.bin, "postgres"), "-D", s.dataDir(),
		"-k", s.dir, "-c", "listen_addresses=", "-c", "dynamic_shared_memory_type=mmap",
		"-c", "max_connections=300", "-c", "shared_buffers=64MB")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	for {
		c, err := pgx.Connect(ctx, s.DSN("postgres"))
		if err == nil {
			c.Close(ctx)
			s.cmd, s.out, s.exited = cmd, log, exited
			return nil
		}
		select {
		case <-exited:
			log.Close()
			b, _ := os.ReadFile(logPath)
			if int(start) <= len(b) {
				b = b[start:]
			}
			if strings.Contains(string(b), "pre-existing shared memory block") {
				return errShmInUse
			}
			return fmt.Errorf("pgtest: postgres exited at start:\n%s", b)
		case <-ctx.Done():
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
			log.Close()
			return fmt.Errorf("pgtest: postgres did not accept connections: %w (last: %v)", ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// DSN is the URL of database db on this server.
func (s *Server) DSN(db string) string {
	return "postgres://postgres@/" + db + "?host=" + s.dir + "&sslmode=disable"
}

// NewDatabase creates an empty database and returns its URL.
func (s *Server) NewDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("t%d_%d", os.Getpid(), s.seq.Add(1))
	c, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return "", err
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("pgtest: create database: %w", err)
	}
	return s.DSN(name), nil
}

// Kill ends the postmaster with SIGKILL, as a crash would. Its children
// notice on their own and exit; Restart waits for that.
func (s *Server) Kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	s.cmd.Process.Kill()
	<-s.exited
	s.out.Close()
	s.cmd = nil
	return nil
}

// Restart starts the server again on the same data directory after Kill.
func (s *Server) Restart(ctx context.Context) error { return s.start(ctx) }

// Stop shuts the server down (immediate mode) and removes its directory.
func (s *Server) Stop() {
	s.mu.Lock()
	if s.cmd != nil {
		s.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.exited
		}
		s.out.Close()
		s.cmd = nil
	}
	s.mu.Unlock()
	s.remove()
}

func (s *Server) remove() { os.RemoveAll(s.dir) }

// Log returns what the server has written to its log so far, for failure
// messages.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
	return strings.TrimSpace(string(b))
}
