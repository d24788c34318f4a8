package airnest_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/airnest/airnest"
	"github.com/airnest/airnest/internal/pgtest"
)

// The server goes away mid-operation (killed, as a crash or an operator
// would): the call in flight returns an error, never hangs, and once the
// server is back the store works again and a new Open works.

// pgSleep is the statement the running-query case kills the server under.
const pgSleep = `SELECT v FROM "PGAccount", pg_sleep(600) AS nap`

func TestPGServerGoesAway(t *testing.T) {
	t.Parallel()
	srv := privateServer(t)
	ctx := context.Background()
	dsn, err := srv.NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dsn = strings.Replace(dsn, "postgres@", "postgres:"+pgSecret+"@", 1)
	s := airnest.NewStore()
	accounts := airnest.Collection[PGAccount](s)
	if err := s.Open(ctx, dsn, nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	first := PGAccount{Name: "first", Balance: 1}
	if err := accounts.Save(ctx, &first); err != nil {
		t.Fatal(err)
	}
	// gone checks the error of what ran when the server was killed (at
	// since) and starts the server again.
	gone := func(t *testing.T, what string, since time.Time, err error, say ...string) {
		t.Helper()
		defer func() {
			if err := srv.Restart(ctx); err != nil {
				t.Fatalf("%v\n%s", err, srv.Log())
			}
		}()
		if err == nil {
			t.Fatalf("%s succeeded on a killed server", what)
		}
		noSecret(t, err)
		wants(t, err, say...)
		t.Logf("%s returned %v after the kill: %v", what, time.Since(since).Round(time.Millisecond), err)
	}

	t.Run("query", func(t *testing.T) {
		start := time.Now()
		err := within(t, "QueryRaw while the server is killed", time.Minute, func(ctx context.Context) error {
			errc := make(chan error, 1)
			go func() {
				_, err := accounts.QueryRaw(ctx, pgSleep)
				errc <- err
			}()
			waitForQuery(t, srv.DSN("postgres"), pgSleep)
			start = time.Now()
			killServer(t, srv)
			return <-errc
		})
		gone(t, "QueryRaw", start, err, "lost the connection")
	})

	t.Run("tx", func(t *testing.T) {
		start := time.Now()
		err := within(t, "Tx while the server is killed", time.Minute, func(ctx context.Context) error {
			return s.Tx(ctx, func(tx *airnest.Tx) error {
				a := PGAccount{Name: "in the killed Tx", Balance: 2}
				if err := accounts.In(tx).Save(ctx, &a); err != nil {
					return err
				}
				start = time.Now()
				killServer(t, srv)
				b := PGAccount{Name: "after the kill", Balance: 3}
				return accounts.In(tx).Save(ctx, &b)
			})
		})
		gone(t, "Tx", start, err, "lost the connection")
	})

	t.Run("save", func(t *testing.T) {
		start := time.Now()
		killServer(t, srv)
		err := within(t, "Save on a killed server", time.Minute, func(ctx context.Context) error {
			return accounts.Save(ctx, &PGAccount{Name: "server down"})
		})
		gone(t, "Save", start, err, "cannot connect to database", srv.SocketDir())
	})

	// Back up: the store opened before the crashes works again, and a new
	// Open works; nothing of the killed Tx or the failed Save is there.
	all, err := accounts.Scan(ctx)
	if err != nil {
		t.Fatalf("Scan on the store opened before the crashes, after Restart: %v", err)
	}
	if len(all) != 1 || all[0] != first {
		t.Errorf("after the crashes the store holds %+v, want only %+v", all, first)
	}
	if err := accounts.Save(ctx, &PGAccount{Name: "after restart"}); err != nil {
		t.Errorf("Save on the store opened before the crashes, after Restart: %v", err)
	}
	s2 := airnest.NewStore()
	accounts2 := airnest.Collection[PGAccount](s2)
	if err := s2.Open(ctx, dsn, nil); err != nil {
		t.Fatalf("Open after Restart: %v", err)
	}
	defer s2.Close()
	if n, err := accounts2.Count(ctx); err != nil || n != 2 {
		t.Errorf("a new store after Restart counts %d, %v; want 2", n, err)
	}
}

// killServer kills every process of srv with SIGKILL, as the server's
// machine going down would: the postmaster, then its children (each
// session leads a process group of its own, so they are found in /proc).
// srv.Kill alone kills the postmaster, whose sessions go on until they
// notice: one may still run and commit a statement sent after the kill.
func killServer(t *testing.T, srv *pgtest.Server) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(srv.SocketDir(), "data", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		t.Fatalf("postmaster.pid: %v", err)
	}
	for _, p := range append([]int{pid}, childrenOf(t, pid)...) {
		syscall.Kill(p, syscall.SIGKILL)
	}
	if err := srv.Kill(); err != nil { // waits for the postmaster
		t.Fatal(err)
	}
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(t *testing.T, pid int) []int {
	t.Helper()
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("killing a server's sessions needs /proc: %v", err)
	}
	var kids []int
	for _, d := range dirs {
		p, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			kids = append(kids, p)
		}
	}
	return kids
}

// waitForQuery returns once a session of the server at superDSN runs a
// statement containing sql.
func waitForQuery(t *testing.T, superDSN, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := pgx.Connect(ctx, superDSN)
	if err != nil {
		t.Error(err)
		return
	}
	defer c.Close(ctx)
	for {
		var n int
		err := c.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query = $1", sql).Scan(&n)
		if err != nil || n > 0 {
			if err != nil {
				t.Error(err)
			}
			return
		}
		select {
		case <-ctx.Done():
			t.Errorf("no session runs %q", sql)
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// freezer is a TCP proxy to a server's unix socket that can stop passing
// bytes without closing anything, as a network that drops every packet
// does: the client sees no error, only silence.
type freezer struct {
	l      net.Listener
	frozen chan struct{} // closed to freeze
	once   sync.Once
}

func newFreezer(t *testing.T, socket string) *freezer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{l: l, frozen: make(chan struct{})}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go f.serve(c, socket)
		}
	}()
	return f
}

func (f *freezer) serve(c net.Conn, socket string) {
	s, err := net.Dial("unix", socket)
	if err != nil {
		c.Close()
		return
	}
	pass := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			select {
			case <-f.frozen:
				<-make(chan struct{}) // hold both ends open, pass nothing
			default:
			}
			if n > 0 {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				dst.Close()
				return
			}
		}
	}
	go pass(s, c)
	go pass(c, s)
}

func (f *freezer) freeze() { f.once.Do(func() { close(f.frozen) }) }

// A network that goes silent mid-operation: each call returns by its
// context's deadline, not when TCP gives up minutes later.
func TestPGNetworkGoesSilent(t *testing.T) {
	t.Parallel()
	srv := pgtest.Shared(t)
	ctx := context.Background()
	dsn, err := srv.NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	f := newFreezer(t, filepath.Join(srv.SocketDir(), ".s.PGSQL.5432"))
	s := airnest.NewStore()
	accounts := airnest.Collection[PGAccount](s)
	proxied := fmt.Sprintf("postgres://postgres:%s@%s%s?sslmode=disable", pgSecret, f.l.Addr(), u.Path)
	if err := s.Open(ctx, proxied, nil); err != nil {
		t.Fatal(err)
	}
	a := PGAccount{Name: "before the silence"}
	if err := accounts.Save(ctx, &a); err != nil {
		t.Fatal(err)
	}
	f.freeze()
	const deadline = 2 * time.Second
	for name, call := range map[string]func(ctx context.Context) error{
		"Load": func(ctx context.Context) error { _, err := accounts.Load(ctx, a.ID); return err },
		"Save": func(ctx context.Context) error { return accounts.Save(ctx, &PGAccount{Name: "lost"}) },
		"Update": func(ctx context.Context) error {
			_, err := accounts.Update(ctx, a.ID, func(v *PGAccount) error { v.Balance++; return nil })
			return err
		},
		"Tx": func(ctx context.Context) error {
			return s.Tx(ctx, func(tx *airnest.Tx) error {
				return accounts.In(tx).Save(ctx, &PGAccount{Name: "lost in a Tx"})
			})
		},
		"View": func(ctx context.Context) error {
			return s.View(ctx, func(tx *airnest.Tx) error {
				_, err := accounts.In(tx).Load(ctx, a.ID)
				return err
			})
		},
	} {
		start := time.Now()
		err := within(t, name+" on a silent network", deadline, call)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s on a silent network: %v, want context.DeadlineExceeded", name, err)
		}
		noSecret(t, err)
		wants(t, err, "airnest: ")
		t.Logf("%s returned after %v (deadline %v): %v", name, time.Since(start).Round(time.Millisecond), deadline, err)
	}
	closed := make(chan error, 1)
	start := time.Now()
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		t.Logf("Close on a silent network took %v: %v", time.Since(start).Round(time.Millisecond), err)
	case <-time.After(time.Minute):
		t.Error("Close on a silent network still waits after a minute")
	}
}
