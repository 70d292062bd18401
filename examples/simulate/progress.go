package main

// A long run shows how far it has got on stderr, from one second of wall time on: a line
// updated in place on a terminal, or a line every ten seconds otherwise (a log file, CI), so
// that stdout, and -json, stay clean.

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/swim-go/swim"
)

type progress struct {
	label      string
	tty        bool
	shown      bool
	last       time.Time
	prevEvents uint64
	prevWall   time.Duration
}

func newProgress(label string) *progress {
	fi, err := os.Stderr.Stat()
	return &progress{label: label, tty: err == nil && fi.Mode()&os.ModeCharDevice != 0}
}

func (p *progress) update(sp swim.SimProgress) {
	if sp.Wall < time.Second || (!p.tty && time.Since(p.last) < 10*time.Second) {
		return
	}
	rate := 0.0
	if dw := (sp.Wall - p.prevWall).Seconds(); dw > 0 {
		rate = float64(sp.Events-p.prevEvents) / dw
	}
	p.last, p.prevEvents, p.prevWall = time.Now(), sp.Events, sp.Wall
	line := fmt.Sprintf("%s: virtual %.1f s, wall %.1f s, %d of %d members converged, %s events/s",
		p.label, sp.Virtual.Seconds(), sp.Wall.Seconds(), sp.Converged, sp.Live, rateString(rate))
	if p.tty {
		fmt.Fprintf(os.Stderr, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(os.Stderr, line)
	}
	p.shown = true
}

// done clears the line in place, if one was shown.
func (p *progress) done() {
	if p.tty && p.shown {
		fmt.Fprint(os.Stderr, "\r\033[K")
	}
}

// sweepProgress counts a sweep's finished runs, which run on several goroutines at once.
type sweepProgress struct {
	*progress
	mu    sync.Mutex
	start time.Time
	runs  int
	total int
}

func newSweepProgress(total int) *sweepProgress {
	return &sweepProgress{progress: newProgress("sweep"), start: time.Now(), total: total}
}

func (p *sweepProgress) ranOne() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.runs++
	wall := time.Since(p.start)
	if wall < time.Second || (!p.tty && time.Since(p.last) < 10*time.Second && p.runs < p.total) {
		return
	}
	p.last = time.Now()
	line := fmt.Sprintf("sweep: %d of %d runs done, wall %.1f s", p.runs, p.total, wall.Seconds())
	if p.tty {
		fmt.Fprintf(os.Stderr, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(os.Stderr, line)
	}
	p.shown = true
}

// rateString prints an event rate with a unit that keeps its digits: a 10,000-member join
// runs a few thousand events a second, a converged cluster millions.
func rateString(r float64) string {
	switch {
	case r >= 1e6:
		return fmt.Sprintf("%.2fM", r/1e6)
	case r >= 1e3:
		return fmt.Sprintf("%.1fk", r/1e3)
	}
	return fmt.Sprintf("%.0f", r)
}
