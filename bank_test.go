package airnest_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airnest/airnest"
)

// Checking and Savings are accounts in two collections; money moves between
// any two accounts, across collections, inside Store.Tx.
type Checking struct {
	ID      airnest.ID[Checking]
	Owner   int
	Balance int64
}

type Savings struct {
	ID      airnest.ID[Savings]
	Owner   int
	Balance int64
}

var errInsufficient = errors.New("insufficient funds")

// txDeadlocks says whether two Txs can deadlock, one of them then failing
// with ErrBusy: not on SQLite, whose one writer runs them in turn, but on
// PostgreSQL, where two transfers lock the same two rows in opposite order.
var txDeadlocks = map[string]bool{"sqlite": false, "postgres": true}

func TestBankTotalNeverChanges(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		const (
			accounts = 16 // per collection
			initial  = 1000
			writers  = 8
			readers  = 8
		)
		run := 3 * time.Second
		if testing.Short() {
			run = time.Second
		}
		s := airnest.NewStore()
		checking := airnest.Collection[Checking](s, airnest.Index("owner"))
		savings := airnest.Collection[Savings](s, airnest.Index("owner", "balance"))
		if err := s.Open(bg, dsn, nil); err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var cIDs []airnest.ID[Checking]
		var sIDs []airnest.ID[Savings]
		err := s.Tx(bg, func(tx *airnest.Tx) error {
			for i := range accounts {
				c := Checking{Owner: i, Balance: initial}
				if err := checking.In(tx).Save(bg, &c); err != nil {
					return err
				}
				v := Savings{Owner: i, Balance: initial}
				if err := savings.In(tx).Save(bg, &v); err != nil {
					return err
				}
				cIDs, sIDs = append(cIDs, c.ID), append(sIDs, v.ID)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		const total = 2 * accounts * initial

		// balance reads or changes one account by index: 0..accounts-1 are
		// checking accounts, the rest savings accounts.
		adjust := func(ctx context.Context, tx *airnest.Tx, i int, delta int64) error {
			if i < accounts {
				c, err := checking.In(tx).Load(ctx, cIDs[i])
				if err != nil {
					return err
				}
				if c.Balance+delta < 0 {
					return errInsufficient
				}
				c.Balance += delta
				return checking.In(tx).Save(ctx, &c)
			}
			v, err := savings.In(tx).Load(ctx, sIDs[i-accounts])
			if err != nil {
				return err
			}
			if v.Balance+delta < 0 {
				return errInsufficient
			}
			v.Balance += delta
			return savings.In(tx).Save(ctx, &v)
		}

		ctx, cancel := context.WithTimeout(bg, run)
		defer cancel()
		var transfers, refused, views atomic.Int64
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				r := rand.New(rand.NewPCG(uint64(w), 1))
				for ctx.Err() == nil {
					from, to := r.IntN(2*accounts), r.IntN(2*accounts)
					amount := int64(r.IntN(300))
					if r.IntN(10) == 0 {
						amount = total + 1 // always refused, after the credit was written
					}
					// The credit goes first: a refused debit must undo it.
					err := s.Tx(bg, func(tx *airnest.Tx) error {
						if err := adjust(bg, tx, to, amount); err != nil {
							return err
						}
						return adjust(bg, tx, from, -amount)
					})
					switch {
					case err == nil:
						transfers.Add(1)
					case errors.Is(err, errInsufficient):
						refused.Add(1)
					case errors.Is(err, airnest.ErrBusy) && txDeadlocks[backendOf(dsn)]:
						refused.Add(1) // the database chose this Tx to break a deadlock
					default:
						t.Errorf("transfer: %v", err)
						return
					}
				}
			})
		}
		for range readers {
			wg.Go(func() {
				for ctx.Err() == nil {
					var sum int64
					var n int
					err := s.View(bg, func(tx *airnest.Tx) error {
						cs, err := checking.In(tx).Scan(bg)
						if err != nil {
							return err
						}
						time.Sleep(time.Millisecond) // let writers commit between the two reads
						for v, err := range savings.In(tx).All(bg) {
							if err != nil {
								return err
							}
							sum += v.Balance
							n++
						}
						for _, c := range cs {
							sum += c.Balance
						}
						n += len(cs)
						return nil
					})
					if err != nil {
						t.Errorf("View: %v", err)
						return
					}
					if sum != total || n != 2*accounts {
						t.Errorf("a View saw a total of %d over %d accounts, want %d over %d", sum, n, total, 2*accounts)
						return
					}
					views.Add(1)
				}
			})
		}
		wg.Wait()

		var sum int64
		cs, err := checking.Scan(bg)
		if err != nil {
			t.Fatal(err)
		}
		ss, err := savings.Scan(bg)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			sum += c.Balance
			if c.Balance < 0 {
				t.Errorf("checking %d overdrawn: %d", c.Owner, c.Balance)
			}
		}
		for _, v := range ss {
			sum += v.Balance
			if v.Balance < 0 {
				t.Errorf("savings %d overdrawn: %d", v.Owner, v.Balance)
			}
		}
		if sum != total {
			t.Errorf("final total %d, want %d", sum, total)
		}
		if transfers.Load() == 0 || refused.Load() == 0 || views.Load() == 0 {
			t.Errorf("too little happened: %d transfers, %d refused, %d views", transfers.Load(), refused.Load(), views.Load())
		}
		if rep, err := s.Verify(bg); err != nil || !rep.OK() {
			t.Errorf("Verify: %v\n%s", err, rep)
		}
		t.Logf("bank: %d transfers, %d refused (rolled back), %d consistent views in %v", transfers.Load(), refused.Load(), views.Load(), run)
	})
}
