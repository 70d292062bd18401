package main

// -timeline FILE.csv writes a single run's timeline: a row per 100 ms of virtual time with the
// members holding the full view, and the suspicions, deaths, packets and bytes of that tick;
// what a join's S-curve, a death spreading and the suspicion spikes under loss look like.
// examples/plot draws it.

import (
	"bufio"
	"fmt"
	"os"

	"github.com/swim-go/swim"
)

type timeline struct {
	f   *os.File
	w   *bufio.Writer
	err error
}

func newTimeline(path string) (*timeline, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	t := &timeline{f: f, w: bufio.NewWriter(f)}
	_, t.err = fmt.Fprintln(t.w, "virtual_s,live,full_view,suspicions,deaths,packets,bytes")
	return t, nil
}

func (t *timeline) add(k swim.SimTick) {
	if t.err == nil {
		_, t.err = fmt.Fprintf(t.w, "%.1f,%d,%d,%d,%d,%d,%d\n", k.At.Seconds(), k.Live, k.FullView, k.Suspicions, k.Deaths, k.Packets, k.Bytes)
	}
}

func (t *timeline) close() error {
	if err := t.w.Flush(); t.err == nil {
		t.err = err
	}
	if err := t.f.Close(); t.err == nil {
		t.err = err
	}
	return t.err
}
