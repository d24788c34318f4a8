package airnest_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/airnest/airnest"
	"github.com/airnest/airnest/internal/pgtest"
)

// A process killed (SIGKILL) inside Tx leaves no partial transaction: each
// transaction moves money between two accounts and writes a ledger entry
// between the two legs, so any part of one alone breaks the books.
const (
	killRounds   = 40
	killAccounts = 5
	killOpening  = 1000
)

// PGAccount is an account of the kill test.
type PGAccount struct {
	ID      airnest.ID[PGAccount]
	Name    string
	Balance int
}

// PGLedger is one transfer of the kill test.
type PGLedger struct {
	ID       airnest.ID[PGLedger]
	From, To airnest.ID[PGAccount]
	Amount   int
}

func declareBooks(s *airnest.Store) (*airnest.Coll[PGAccount], *airnest.Coll[PGLedger]) {
	return airnest.Collection[PGAccount](s), airnest.Collection[PGLedger](s)
}

// transferChild runs transfers until it is killed, printing "B n" before
// transaction n begins and "C n" once it has committed.
func transferChild(dsn string) error {
	s := airnest.NewStore()
	accounts, ledger := declareBooks(s)
	ctx := context.Background()
	if err := s.Open(ctx, dsn, nil); err != nil {
		return err
	}
	all, err := accounts.Scan(ctx)
	if err != nil {
		return err
	}
	if len(all) < 2 {
		return fmt.Errorf("%d accounts, want at least 2", len(all))
	}
	for n := 0; ; n++ {
		i := rand.IntN(len(all))
		j := (i + 1 + rand.IntN(len(all)-1)) % len(all)
		amount := 1 + rand.IntN(100)
		fmt.Println("B", n)
		err := s.Tx(ctx, func(tx *airnest.Tx) error {
			from, err := accounts.In(tx).Load(ctx, all[i].ID)
			if err != nil {
				return err
			}
			to, err := accounts.In(tx).Load(ctx, all[j].ID)
			if err != nil {
				return err
			}
			from.Balance -= amount
			if err := accounts.In(tx).Save(ctx, &from); err != nil {
				return err
			}
			e := PGLedger{From: from.ID, To: to.ID, Amount: amount}
			if err := ledger.In(tx).Save(ctx, &e); err != nil {
				return err
			}
			to.Balance += amount
			return accounts.In(tx).Save(ctx, &to)
		})
		if err != nil {
			return fmt.Errorf("transfer %d: %w", n, err)
		}
		fmt.Println("C", n)
	}
}

func TestPGKillMidTx(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Database(t)
	ctx := context.Background()
	s := airnest.NewStore()
	accounts, ledger := declareBooks(s)
	if err := s.Open(ctx, dsn, nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range killAccounts {
		if err := accounts.Save(ctx, &PGAccount{Name: fmt.Sprintf("account %d", i), Balance: killOpening}); err != nil {
			t.Fatal(err)
		}
	}

	acked, inside := 0, 0
	for round := range killRounds {
		k := startPGChild(t, "transfer", dsn, nil)
		// Kill after a random number of commits and then a random pause:
		// the child is then somewhere in its loop, most of the time inside
		// a transaction. (Killing right after reading a line would land
		// next to the child's print, not at a random point; the pause
		// only spreads the moments, the outcome never depends on it.)
		target, n := 5+rand.IntN(60), 0
		for n < target {
			if strings.HasPrefix(k.line(t), "C ") {
				n++
			}
		}
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
		if err := k.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		last := ""
		for {
			l, err := k.out.ReadString('\n')
			if err != nil {
				break
			}
			last = strings.TrimSpace(l)
			if strings.HasPrefix(last, "C ") {
				n++
			}
		}
		if err := k.cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
			t.Fatalf("round %d: the child ended with %v, not killed:\n%s", round, err, k.errText())
		}
		acked += n
		if strings.HasPrefix(last, "B ") {
			inside++ // killed between "B n" and "C n": inside transaction n
		}
		committed := checkBooks(t, ctx, s, accounts, ledger)
		// At most one transaction per round commits unacknowledged: the
		// one killed between its commit and its "C" line.
		if committed < acked || committed > acked+round+1 {
			t.Fatalf("round %d: %d transfers committed, %d acknowledged", round, committed, acked)
		}
	}
	committed := checkBooks(t, ctx, s, accounts, ledger)
	t.Logf("%d rounds, each child killed (SIGKILL) after a random number of commits: %d transfers committed, %d acknowledged; %d kills landed between a transaction's begin and its acknowledgement", killRounds, committed, acked, inside)
}

// checkBooks fails unless the books balance, read in one snapshot: the
// balances sum to the opening total and each account's balance is its
// opening balance plus its ledger entries. It returns the number of
// ledger entries.
func checkBooks(t *testing.T, ctx context.Context, s *airnest.Store, accounts *airnest.Coll[PGAccount], ledger *airnest.Coll[PGLedger]) int {
	t.Helper()
	// One snapshot: the server may still be committing the killed child's
	// last transaction, which two reads could see half of.
	var all []PGAccount
	var entries []PGLedger
	err := s.View(ctx, func(tx *airnest.Tx) error {
		var err error
		if all, err = accounts.In(tx).Scan(ctx); err != nil {
			return err
		}
		entries, err = ledger.In(tx).Scan(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[airnest.ID[PGAccount]]int{}
	for _, a := range all {
		want[a.ID] = killOpening
	}
	for _, e := range entries {
		want[e.From] -= e.Amount
		want[e.To] += e.Amount
	}
	sum := 0
	for _, a := range all {
		sum += a.Balance
		if a.Balance != want[a.ID] {
			t.Errorf("%s has balance %d; its ledger entries say %d: a partial transaction is visible", a.Name, a.Balance, want[a.ID])
		}
	}
	if sum != killAccounts*killOpening {
		t.Errorf("the balances sum to %d, want %d", sum, killAccounts*killOpening)
	}
	if t.Failed() {
		t.FailNow()
	}
	return len(entries)
}
