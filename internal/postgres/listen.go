package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// Listen opens a connection of its own (a LISTEN session cannot go back
// to a pool), listens on channel, calls ready, then notify at each
// notification until ctx ends or the connection fails. It closes the
// connection before it returns.
func (d *DB) Listen(ctx context.Context, channel string, ready, notify func()) error {
	c, err := pgx.ConnectConfig(ctx, d.writers.Config().ConnConfig.Copy())
	if err != nil {
		return d.connectErr(ctx, err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return err
	}
	ready()
	for {
		if _, err := c.WaitForNotification(ctx); err != nil {
			return err
		}
		notify()
	}
}
