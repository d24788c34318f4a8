package main

import (
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// progress is a bar on standard error, or nothing when standard output or
// standard error is not a terminal (a pipe, a file, a test) or --quiet was
// given.
type progress struct {
	bar *progressbar.ProgressBar
}

// showProgress reports whether bars are drawn: standard output and
// standard error are terminals and --quiet was not given. Check it before
// counting for a bar.
func (a *app) showProgress() bool { return a.tty && !a.quiet }

// newProgress starts a bar counting up to total (-1: unknown, a spinner).
// bytes formats the counts as sizes.
func (a *app) newProgress(total int64, what string, bytes bool) *progress {
	if !a.showProgress() {
		return &progress{}
	}
	opts := []progressbar.Option{
		progressbar.OptionSetDescription(what),
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionClearOnFinish(),
	}
	if total >= 0 {
		opts = append(opts, progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true))
	} else {
		opts = append(opts, progressbar.OptionSpinnerType(14), progressbar.OptionSetElapsedTime(true))
	}
	if bytes {
		opts = append(opts, progressbar.OptionShowBytes(true), progressbar.OptionShowTotalBytes(true))
	}
	return &progress{bar: progressbar.NewOptions64(total, opts...)}
}

func (p *progress) set(n int64) {
	if p.bar != nil {
		p.bar.Set64(n)
	}
}

func (p *progress) add(n int) {
	if p.bar != nil {
		p.bar.Add(n)
	}
}

// tick redraws a spinner.
func (p *progress) tick() {
	if p.bar != nil {
		p.bar.RenderBlank()
	}
}

func (p *progress) done() {
	if p.bar != nil {
		p.bar.Finish()
	}
}
