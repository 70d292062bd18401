// Command cluster starts a swim cluster on loopback in one process and narrates what the
// protocol does: the members joining and converging, one member crashing and the others
// detecting it, and one member leaving gracefully. It ends with the measured times.
//
//	go run ./examples/cluster -n 8
package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/swim-go/swim"
)

// member is one running node and its name.
type member struct {
	*swim.Memberlist
	name string
}

func main() {
	n := flag.Int("n", 8, "number of members (at least 3)")
	timeout := flag.Duration("timeout", 60*time.Second, "give up waiting for any one step after this long")
	flag.Parse()
	if *n < 3 {
		fmt.Fprintln(os.Stderr, "cluster: -n must be at least 3")
		os.Exit(2)
	}

	start := time.Now()
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Printf("%7.3fs  %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}

	seen := &sightings{at: map[string][]time.Duration{}}
	var members []*member
	for i := range *n {
		cfg := swim.DefaultLocalConfig()
		cfg.Name = fmt.Sprintf("node-%d", i)
		cfg.BindAddr = "127.0.0.1"
		cfg.BindPort = 0
		cfg.Events = &watcher{self: cfg.Name, say: say, seen: seen, start: start}
		m, err := swim.Create(cfg)
		if err != nil {
			fmt.Fprintln(os.Stderr, "cluster:", err)
			os.Exit(1)
		}
		members = append(members, &member{m, cfg.Name})
		defer m.Shutdown()
	}
	say("started %d members on 127.0.0.1; each joins through node-0 (%s)", *n, members[0].LocalNode().Address())

	joinStart := time.Now()
	for _, m := range members[1:] {
		if _, err := m.Join([]string{members[0].LocalNode().Address()}); err != nil {
			fmt.Fprintln(os.Stderr, "cluster: join:", err)
			os.Exit(1)
		}
	}
	converged := waitFor(*timeout, func() bool {
		for _, m := range members {
			if m.NumMembers() != *n {
				return false
			}
		}
		return true
	})
	joinTook := time.Since(joinStart)
	say("converged: every member sees all %d alive (%v)", *n, round(joinTook))
	printViews(say, members)

	victim := members[*n-1]
	say("crashing %s without a word", victim.name)
	crashAt := time.Now()
	victim.Shutdown()
	survivors := members[:*n-1]
	detected := waitFor(*timeout, func() bool {
		for _, m := range survivors {
			if m.NumMembers() != *n-1 {
				return false
			}
		}
		return true
	})
	detectTook := time.Since(crashAt)
	say("every survivor holds %s dead (%v)", victim.name, round(detectTook))

	leaver := survivors[len(survivors)-1]
	say("%s leaves gracefully", leaver.name)
	leaveAt := time.Now()
	leaver.Leave(5 * time.Second)
	rest := survivors[:len(survivors)-1]
	left := waitFor(*timeout, func() bool {
		for _, m := range rest {
			if m.NumMembers() != len(rest) {
				return false
			}
		}
		return true
	})
	leaveTook := time.Since(leaveAt)
	say("every other member saw %s leave (%v)", leaver.name, round(leaveTook))

	fmt.Println()
	fmt.Println("summary (DefaultLocalConfig timings):")
	fmt.Printf("  join and converge, %d members:   %v%s\n", *n, round(joinTook), failed(converged))
	fmt.Printf("  crash detected by all survivors: %v%s\n", round(detectTook), failed(detected))
	fmt.Printf("  graceful leave seen by all:      %v%s\n", round(leaveTook), failed(left))
	fmt.Printf("  last member behind the first:    crash %v, leave %v\n", seen.spread(victim.name), seen.spread(leaver.name))
	fmt.Println("  (detection waits out the suspicion timeout, so a slow member can refute before it is declared dead)")
}

// watcher prints what one member hears about the others.
type watcher struct {
	self  string
	say   func(string, ...any)
	seen  *sightings
	start time.Time
}

func (w *watcher) NotifyJoin(n swim.Node) {}
func (w *watcher) NotifyLeave(n swim.Node) {
	if n.Name != w.self {
		w.seen.add(n.Name, time.Since(w.start))
		w.say("%s: %s is %s", w.self, n.Name, n.State)
	}
}

// sightings records when each member learnt that another one died or left, to show how far
// the last member to learn it was behind the first.
type sightings struct {
	mu sync.Mutex
	at map[string][]time.Duration
}

func (s *sightings) add(name string, at time.Duration) {
	s.mu.Lock()
	s.at[name] = append(s.at[name], at)
	s.mu.Unlock()
}

// spread is how long after the first member the last one learnt of name's death or leave.
func (s *sightings) spread(name string) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := s.at[name]
	if len(ts) == 0 {
		return 0
	}
	return round(slices.Max(ts) - slices.Min(ts))
}
func (w *watcher) NotifyUpdate(n swim.Node) {}

func printViews(say func(string, ...any), ms []*member) {
	for _, m := range ms {
		var names []string
		for _, node := range m.Members() {
			names = append(names, node.Name)
		}
		say("  %s sees %s", m.name, strings.Join(names, " "))
	}
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

func round(d time.Duration) time.Duration { return d.Round(time.Millisecond) }

func failed(ok bool) string {
	if ok {
		return ""
	}
	return " (did NOT finish within -timeout)"
}
