package main

// The narrated demo: five instances on loopback in one process, with DefaultLocalConfig
// timings; 10,000 keys written through random instances; then a join, a crash and a
// graceful stop. Through each change a client keeps reading keys through random surviving
// instances, and the demo watches every live instance's GET /ring until their checksums
// agree. Key movement is measured on rings built from the member names before and after:
// placement depends on names alone, so such a ring places every key as the instances do.
// Random choices come from one seeded source, so a run with the same -seed makes the same
// choices; timings and the counts of requests that raced a change vary.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/swim-go/swim"
	"github.com/swim-go/swim/ring"
)

const (
	demoInstances = 5
	demoKeys      = 10000
	demoWorkers   = 8                     // concurrent client requests while writing and verifying
	demoTimeout   = 30 * time.Second      // give up waiting for any one step after this long
	readEvery     = time.Millisecond      // the reading client's pace while a change happens
	pollEvery     = 10 * time.Millisecond // how often GET /ring is polled
)

type demo struct {
	w      io.Writer
	log    *slog.Logger
	rng    *rand.Rand
	began  time.Time
	client *http.Client
	all    []*instance // every instance started, for the counters
	live   []*instance
	keys   []string
	values []string // values[i] is what keys[i] was written with
	next   int      // number of the next instance's name
	steps  []step
}

// step is what one change did, for the summary.
type step struct {
	what                string
	agree               time.Duration
	moved, ideal, toNew int // toNew is -1 unless a member joined
	handedOff, copied   uint64
	reads               tally
	missing             int
}

func runDemo(w io.Writer, seed uint64, log *slog.Logger) error {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	d := &demo{
		w:      w,
		log:    log,
		rng:    rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		began:  time.Now(),
		client: &http.Client{Transport: t, Timeout: 5 * time.Second},
	}
	defer func() {
		for _, in := range d.live {
			in.crash()
		}
	}()

	d.say("starting %d instances on 127.0.0.1, each joining node-0 (DefaultLocalConfig, seed %d)", demoInstances, seed)
	for range demoInstances {
		if _, err := d.startOne(); err != nil {
			return err
		}
	}
	took, st, err := d.waitAgree(d.live, d.began)
	if err != nil {
		return err
	}
	d.say("rings agree after %v: %d members, checksum %s", round(took), len(st.Members), st.Checksum)

	if err := d.writeAll(); err != nil {
		return err
	}
	if err := d.join(); err != nil {
		return err
	}
	if err := d.crash(); err != nil {
		return err
	}
	if err := d.stop(); err != nil {
		return err
	}
	d.summary()
	return nil
}

func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(d.w, "%7.3fs  %s\n", time.Since(d.began).Seconds(), fmt.Sprintf(format, args...))
}

// startOne starts the next instance, joining the first live one if there is one.
func (d *demo) startOne() (*instance, error) {
	o := options{
		name:     fmt.Sprintf("node-%d", d.next),
		bindAddr: "127.0.0.1",
		httpAddr: "127.0.0.1:0",
		log:      d.log,
	}
	if len(d.live) > 0 {
		o.join = []string{d.live[0].memberAddr()}
	}
	in, err := startInstance(o)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", o.name, err)
	}
	d.next++
	d.all = append(d.all, in)
	d.live = append(d.live, in)
	return in, nil
}

// writeAll writes every key once, through a random instance each.
func (d *demo) writeAll() error {
	d.keys = make([]string, demoKeys)
	d.values = make([]string, demoKeys)
	via := make([]*instance, demoKeys)
	for i := range demoKeys {
		d.keys[i] = fmt.Sprintf("key-%05d", i)
		d.values[i] = fmt.Sprintf("value-%d-%08x", i, d.rng.Uint32())
		via[i] = d.live[d.rng.IntN(len(d.live))]
	}
	began := time.Now()
	var t tally
	d.parallel(func(i int, t *tally) { t.add(d.put(via[i], d.keys[i], d.values[i])) }, &t)
	d.say("wrote %d keys through random instances in %v: %d by the owner (0 hops), %d forwarded (1 hop), %d failed%s",
		demoKeys, round(time.Since(began)), t.hops0, t.hops1, t.failed(), t.why())
	if t.failed() > 0 {
		return fmt.Errorf("%d writes failed", t.failed())
	}
	d.printHoldings()
	return nil
}

// join adds a member and narrates what moved.
func (d *demo) join() error {
	name := fmt.Sprintf("node-%d", d.next)
	fmt.Fprintln(d.w)
	d.say("change 1: %s joins", name)
	return d.change("join "+name, name, "", slices.Clone(d.live), func() (func() error, error) {
		_, err := d.startOne()
		return nil, err
	})
}

// crash kills a random member without a word.
func (d *demo) crash() error {
	victim := d.pick()
	fmt.Fprintln(d.w)
	d.say("change 2: %s crashes (swim Shutdown without Leave, HTTP connections cut)", victim.name)
	survivors := d.without(victim)
	return d.change("crash "+victim.name, "", victim.name, survivors, func() (func() error, error) {
		victim.crash()
		d.live = survivors
		return nil, nil
	})
}

// stop stops a random member gracefully: it leaves, hands its keys off, then shuts down.
func (d *demo) stop() error {
	victim := d.pick()
	fmt.Fprintln(d.w)
	d.say("change 3: %s stops gracefully (Leave, hand its keys off, Shutdown)", victim.name)
	survivors := d.without(victim)
	return d.change("stop "+victim.name, "", victim.name, survivors, func() (func() error, error) {
		d.live = survivors
		done := make(chan error, 1)
		go func() {
			_, err := victim.stop(5 * time.Second)
			done <- err
		}()
		return func() error { return <-done }, nil
	})
}

// change makes one change and narrates it: act makes it, returning at once or with a
// function that waits for what it left running; joined or departed names the member that
// came or went; readers are the instances the client reads through meanwhile.
func (d *demo) change(what, joined, departed string, readers []*instance, act func() (func() error, error)) error {
	before := ringOf(d.live)
	handedBefore, copiedBefore, throughBefore := d.counters()

	ctx, stopReading := context.WithCancel(context.Background())
	readDone := make(chan tally)
	go d.readWhile(ctx, readers, rand.New(rand.NewPCG(d.rng.Uint64(), d.rng.Uint64())), readDone)

	began := time.Now()
	wait, err := act()
	if err != nil {
		stopReading()
		<-readDone
		return err
	}
	took, st, err := d.waitAgree(d.live, began)
	stopReading()
	reads := <-readDone
	if err != nil {
		return err
	}
	if wait != nil {
		if err := wait(); err != nil {
			d.say("  (%s: %v)", departed, err)
		}
	}
	d.say("every live instance's ring agrees after %v: %d members, checksum %s", round(took), len(st.Members), st.Checksum)
	d.say("  meanwhile a client read random keys through random live instances: %d reads, %d ok, %d failed%s", reads.total(), reads.ok, reads.failed(), reads.why())

	if err := d.waitPlaced(); err != nil {
		return err
	}
	after := ringOf(d.live)
	s := step{what: what, agree: took, reads: reads, toNew: -1}
	var toNew int
	s.moved, toNew = moved(before, after, d.keys, joined)
	if joined != "" {
		s.toNew = toNew
		s.ideal = len(d.keys) / len(d.live)
		d.say("  %d keys changed primary (ideal 1/%d = %d); %d of them went to %s", s.moved, len(d.live), s.ideal, s.toNew, joined)
	} else {
		s.ideal = share(before, d.keys, departed)
		d.say("  %d keys changed primary; %s was primary of %d (1/%d would be %d)", s.moved, departed, s.ideal, len(d.live)+1, len(d.keys)/(len(d.live)+1))
	}
	handed, copied, through := d.counters()
	s.handedOff, s.copied = handed-handedBefore, copied-copiedBefore
	d.say("  handoff: %d keys handed to their new replicas and dropped; %d copied by their primary to a new second replica; %d reads a primary missed were served from its second replica", s.handedOff, s.copied, through-throughBefore)
	s.missing = d.verify()
	d.printHoldings()
	d.steps = append(d.steps, s)
	return nil
}

// readWhile reads random written keys through random readers until ctx is done, and sends
// what it counted.
func (d *demo) readWhile(ctx context.Context, readers []*instance, rng *rand.Rand, done chan<- tally) {
	var t tally
	tick := time.NewTicker(readEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			done <- t
			return
		case <-tick.C:
		}
		i := rng.IntN(len(d.keys))
		t.add(d.get(readers[rng.IntN(len(readers))], d.keys[i], d.values[i]))
	}
}

// verify reads every key back through a random live instance and says what it found. It
// returns how many were missing or wrong.
func (d *demo) verify() int {
	via := make([]*instance, len(d.keys))
	for i := range via {
		via[i] = d.live[d.rng.IntN(len(d.live))]
	}
	var t tally
	var mu sync.Mutex
	var bad []string
	d.parallel(func(i int, t *tally) {
		o := d.get(via[i], d.keys[i], d.values[i])
		t.add(o)
		if !o.ok {
			mu.Lock()
			bad = append(bad, d.keys[i])
			mu.Unlock()
		}
	}, &t)
	if len(bad) == 0 {
		d.say("  read back all %d keys through random instances: every value right (%d by the owner, %d forwarded)", len(d.keys), t.hops0, t.hops1)
		return 0
	}
	slices.Sort(bad)
	d.say("  read back %d keys: %d MISSING or wrong%s, e.g. %s", len(d.keys), len(bad), t.why(), strings.Join(bad[:min(5, len(bad))], " "))
	return len(bad)
}

// parallel runs f for every key index on demoWorkers goroutines and adds up their tallies.
func (d *demo) parallel(f func(i int, t *tally), total *tally) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan int)
	for range demoWorkers {
		wg.Go(func() {
			var t tally
			for i := range next {
				f(i, &t)
			}
			mu.Lock()
			total.merge(t)
			mu.Unlock()
		})
	}
	for i := range d.keys {
		next <- i
	}
	close(next)
	wg.Wait()
}

// waitAgree polls GET /ring on every instance of ins until all hold exactly ins as members,
// with one checksum, and returns how long that took since began.
func (d *demo) waitAgree(ins []*instance, began time.Time) (time.Duration, ringStatus, error) {
	var names []string
	for _, in := range ins {
		names = append(names, in.name)
	}
	slices.Sort(names)
	var last ringStatus
	for time.Since(began) < demoTimeout {
		agree := true
		for i, in := range ins {
			st, err := d.ringStatus(in)
			if err != nil || !slices.Equal(st.Members, names) || (i > 0 && st.Checksum != last.Checksum) {
				agree = false
				break
			}
			last = st
		}
		if agree {
			return time.Since(began), last, nil
		}
		time.Sleep(pollEvery)
	}
	return 0, last, fmt.Errorf("the rings of %s did not agree within %v", strings.Join(names, " "), demoTimeout)
}

// waitPlaced waits until every live instance has placed its keys for its current ring.
func (d *demo) waitPlaced() error {
	deadline := time.Now().Add(demoTimeout)
	for _, in := range d.live {
		for {
			st, err := d.ringStatus(in)
			if err == nil && st.Placed == st.Checksum {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s did not finish handing off within %v", in.name, demoTimeout)
			}
			time.Sleep(pollEvery)
		}
	}
	return nil
}

func (d *demo) ringStatus(in *instance) (ringStatus, error) {
	var st ringStatus
	resp, err := d.client.Get("http://" + in.httpAddr + "/ring")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&st)
	return st, err
}

// printHoldings prints how many keys each live instance holds.
func (d *demo) printHoldings() {
	var parts []string
	total := 0
	for _, in := range d.live {
		n := in.store.len()
		total += n
		parts = append(parts, fmt.Sprintf("%s %d", in.name, n))
	}
	d.say("  keys held: %s; %d copies of %d keys (%d replicas each)", strings.Join(parts, ", "), total, len(d.keys), replicationFactor)
}

// counters adds up every instance's handoffs, copies and reads through.
func (d *demo) counters() (handed, copied, through uint64) {
	for _, in := range d.all {
		handed += in.stats.handedOff.Load()
		copied += in.stats.copied.Load()
		through += in.stats.readThrough.Load()
	}
	return handed, copied, through
}

func (d *demo) pick() *instance { return d.live[d.rng.IntN(len(d.live))] }

func (d *demo) without(victim *instance) []*instance {
	return slices.DeleteFunc(slices.Clone(d.live), func(in *instance) bool { return in == victim })
}

func (d *demo) summary() {
	fmt.Fprintln(d.w)
	fmt.Fprintf(d.w, "summary: %d keys, %d replicas each, DefaultLocalConfig\n", len(d.keys), replicationFactor)
	fmt.Fprintf(d.w, "  %-14s %9s %15s %12s %11s %7s %15s %8s\n", "change", "agree in", "moved (ideal)", "to newcomer", "handed off", "copied", "reads failed", "missing")
	for _, s := range d.steps {
		toNew := "-"
		if s.toNew >= 0 {
			toNew = fmt.Sprint(s.toNew)
		}
		fmt.Fprintf(d.w, "  %-14s %9v %15s %12s %11d %7d %15s %8d\n", s.what, round(s.agree),
			fmt.Sprintf("%d (%d)", s.moved, s.ideal), toNew, s.handedOff, s.copied,
			fmt.Sprintf("%d of %d", s.reads.failed(), s.reads.total()), s.missing)
	}
	fmt.Fprintln(d.w, "  (ideal: 1/n of the keys for a join, the departed member's share for a crash or a stop;")
	fmt.Fprintln(d.w, "  reads failed: while the rings disagreed, 421 when two views disagreed, 502 when the owner was down)")
}

// ringOf builds a ring of ins' names. Placement depends only on names, so it places every
// key as the instances' own rings do once they hold the same members.
func ringOf(ins []*instance) *ring.Ring {
	r := ring.New(ring.Config{})
	for _, in := range ins {
		r.Add(swim.Node{Name: in.name})
	}
	return r
}

// moved counts the keys whose primary differs between the rings, and how many of them went
// to newcomer.
func moved(before, after *ring.Ring, keys []string, newcomer string) (n, toNew int) {
	for _, k := range keys {
		b, _ := before.Lookup(k)
		a, _ := after.Lookup(k)
		if a.Name != b.Name {
			n++
			if a.Name == newcomer {
				toNew++
			}
		}
	}
	return n, toNew
}

// share counts the keys whose primary on r is name.
func share(r *ring.Ring, keys []string, name string) int {
	n := 0
	for _, k := range keys {
		if o, _ := r.Lookup(k); o.Name == name {
			n++
		}
	}
	return n
}

func round(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
