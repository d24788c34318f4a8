// Command airnest looks inside, checks, backs up and moves the data of an
// airnest file (the one SQLite file a program using
// github.com/airnest/airnest writes), or of a store kept in PostgreSQL
// (given its postgres:// URL), without that program's Go types: field
// names come from the key registry stored in the file.
//
//	go install github.com/airnest/airnest/cmd/airnest@latest
//	airnest ls app.db
//	airnest get app.db Job 0193a8f2-...
//	airnest dump app.db Job --where status=pending --limit 10
//	airnest export app.db ./dump && airnest import copy.db ./dump
//	airnest backup app.db app-backup.db
//	airnest verify app.db
//	airnest stats app.db
//	airnest vacuum app.db
//	airnest ls 'postgres://app@db.example.com/app'
//
// Exit status: 0 success; 1 a problem found or the command failed; 2 a
// usage error. Run airnest --help for details.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// Exit codes scripts may rely on.
const (
	exitOK      = 0
	exitProblem = 1 // verify found damage, something does not exist, the command failed
	exitUsage   = 2 // bad command line
)

const rootLong = `airnest looks inside, checks, backs up and moves the data of an airnest
file (the one SQLite file a program using github.com/airnest/airnest
writes) without that program's Go types: field names come from the key
registry stored in the file. Every command is safe to run while the
program is using the file.

Wherever a command takes FILE it also takes the postgres:// (or
postgresql://) URL of a store kept in PostgreSQL, and prints the same
for the same stored content; the password in a URL is never shown.
import fills a database that holds no airnest tables yet. backup and
vacuum are for files: on PostgreSQL use pg_dump (or 'airnest copy URL
FILE.db' for a local copy) and the server's autovacuum. --timeout bounds
a whole command, connecting included.

Names read from the file (collections, index columns, stored field names,
migrations) are checked as the library checks declared ones before they
become a path, an SQL identifier or part of a message: a file holding a
name no program could declare, edited by hand or damaged, is refused by
every command with the name quoted.

Long operations (dump -o, export, import, backup, verify, vacuum) draw a
progress bar on standard error when both standard output and standard
error are a terminal, and stay quiet otherwise: no bar ever goes into a
pipe or a file.

Exit status:
  0  success
  1  a problem was found or the command failed: verify found damage, the
     file, collection or value does not exist, the file or database is not
     an airnest store, the server cannot be reached or did not answer in
     time, or a SQLite, PostgreSQL or I/O error
  2  usage error: unknown command or flag, wrong number of arguments, or a
     malformed argument (an ID that is not a UUID, a bad --where), or
     backup or vacuum given a URL`

// usageError marks an error in the command line: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// app holds the global flags and the streams, so the end-to-end test and
// main share one code path.
type app struct {
	stdout, stderr io.Writer
	quiet          bool
	// tty reports whether progress bars may be drawn: standard output and
	// standard error (where bars go) are both a terminal, so that no bar
	// ever lands in a pipe or a file.
	tty bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	a := &app{stdout: os.Stdout, stderr: os.Stderr, tty: isTerminal(os.Stdout) && isTerminal(os.Stderr)}
	code := a.run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// run executes one command line and returns the exit status.
func (a *app) run(ctx context.Context, args []string) int {
	started := false // set once the arguments were accepted and a command runs
	var timeout time.Duration
	var deadline context.Context // set when --timeout is
	cancel := func() {}
	defer func() { cancel() }()
	root := &cobra.Command{
		Use:           "airnest",
		Short:         "Inspect, check, back up and move the data of an airnest file",
		Long:          rootLong,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			started = true
			if timeout > 0 {
				deadline, cancel = context.WithTimeout(cmd.Context(), timeout)
				cmd.SetContext(deadline)
			}
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(a.stderr)
			cmd.Help()
			return usagef("no command given")
		},
	}
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetArgs(args)
	root.PersistentFlags().BoolVarP(&a.quiet, "quiet", "q", false, "never draw a progress bar")
	root.PersistentFlags().DurationVar(&timeout, "timeout", 0, "give up after `DURATION` (e.g. 30s), connecting included; 0: no limit")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		a.lsCmd(), a.getCmd(), a.dumpCmd(), a.exportCmd(), a.importCmd(),
		a.backupCmd(), a.verifyCmd(), a.statsCmd(), a.vacuumCmd(),
	)
	root.AddCommand(a.copyCmd())
	root.CompletionOptions.HiddenDefaultCmd = true

	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	// Errors from the library already name it.
	msg := strings.TrimPrefix(err.Error(), "airnest: ")
	if deadline != nil && deadline.Err() == context.DeadlineExceeded {
		msg += fmt.Sprintf(" (gave up after --timeout %s)", timeout)
	}
	fmt.Fprintf(a.stderr, "airnest: %s\n", msg)
	var ue usageError
	if !started || errors.As(err, &ue) {
		fmt.Fprintln(a.stderr, "Run 'airnest --help' for usage.")
		return exitUsage
	}
	return exitProblem
}

// exactArgs is cobra.ExactArgs with a message that names the arguments.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != len(names) {
			return usagef("usage: airnest %s %s (got %d arguments)", cmd.Name(), strings.Join(names, " "), len(args))
		}
		return nil
	}
}
