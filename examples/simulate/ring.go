package main

// The -ring scenario: every member keeps a hash ring (package ring) fed by its own membership
// events, as examples/shard does, and the run measures how long after a join and after a
// crash every live member's ring agrees (the same Checksum, holding every live member),
// next to when membership itself has converged. A ring changes only on an event, so the two
// should coincide; the figure shows that nothing between the event and the ring adds delay,
// and how long the application's key placement disagrees across the cluster.
//
// The rings are fed synchronously, in virtual time (ringEvents): the Ring's own
// EventDelegate would apply each event a moment later on a goroutine of its own, outside
// virtual time.

import (
	"fmt"
	"slices"
	"time"

	"github.com/swim-go/swim"
	"github.com/swim-go/swim/ring"
)

// ringEvents applies a member's events to its ring at once.
type ringEvents struct{ r *ring.Ring }

func (e ringEvents) NotifyJoin(n swim.Node)   { e.r.Add(n) }
func (e ringEvents) NotifyLeave(n swim.Node)  { e.r.Remove(n.Name) }
func (e ringEvents) NotifyUpdate(n swim.Node) { e.r.Add(n) }

// ringRun is one -ring run's figures, in virtual seconds from the join or the crash.
type ringRun struct {
	Nodes          int     `json:"nodes"`
	Seed           uint64  `json:"seed"`
	JoinMembersS   float64 `json:"join_members_s"`       // every member sees the newcomer alive, and it sees everyone
	JoinRingsS     float64 `json:"join_rings_s"`         // every ring holds the newcomer, checksums equal
	CrashMembersS  float64 `json:"crash_members_s"`      // every survivor holds the crashed member dead
	CrashRingsS    float64 `json:"crash_rings_s"`        // every survivor's ring has dropped it, checksums equal
	DistinctRingsJ int     `json:"distinct_rings_join"`  // most distinct checksums seen at once after the join
	DistinctRingsC int     `json:"distinct_rings_crash"` // the same after the crash
}

// ringScenario runs: n converged members each with a ring, one more joins through member 0,
// then member 1 crashes. step is how often the rings are compared.
func ringScenario(n int, seed uint64, cfg *swim.Config, latency, jitter time.Duration, loss float64, vnodes int, step time.Duration) (ringRun, error) {
	run := ringRun{Nodes: n, Seed: seed, JoinMembersS: -1, JoinRingsS: -1, CrashMembersS: -1, CrashRingsS: -1}
	prog := newProgress(fmt.Sprintf("ring n=%d seed %d", n, seed))
	defer prog.done()
	s := swim.NewSimulation(swim.SimOptions{Seed: seed, Config: cfg, Latency: latency, Jitter: jitter, Loss: loss, Progress: prog.update})
	var rings []*ring.Ring
	add := func() int {
		r := ring.New(ring.Config{VirtualNodes: vnodes})
		rings = append(rings, r)
		return s.AddNodeWith(func(c *swim.Config) { c.Events = ringEvents{r} })
	}
	for range n {
		add()
	}
	s.Bootstrap() // converged, without join events: fill the rings from the views
	for i := range n {
		rings[i].Add(s.Members(i)...)
	}

	live := func() []int {
		var l []int
		for i := range s.Len() {
			if s.Running(i) {
				l = append(l, i)
			}
		}
		return l
	}
	// agree reports whether every live member's ring holds exactly the live members with one
	// checksum, and how many distinct checksums there are.
	agree := func() (bool, int) {
		l := live()
		sums := map[uint64]bool{}
		ok := true
		for _, i := range l {
			sums[rings[i].Checksum()] = true
			if rings[i].Len() != len(l) {
				ok = false
			}
		}
		return ok && len(sums) == 1, len(sums)
	}
	if ok, _ := agree(); !ok {
		return run, fmt.Errorf("the rings disagree after bootstrap")
	}
	const limit = 120 * time.Second

	// A join.
	j := add()
	s.Join(j, 0)
	t0 := s.Now()
	s.RunUntil(func() bool {
		if run.JoinMembersS < 0 && s.Converged() {
			run.JoinMembersS = (s.Now() - t0).Seconds()
		}
		ok, distinct := agree()
		run.DistinctRingsJ = max(run.DistinctRingsJ, distinct)
		if run.JoinRingsS < 0 && ok {
			run.JoinRingsS = (s.Now() - t0).Seconds()
		}
		return run.JoinMembersS >= 0 && run.JoinRingsS >= 0
	}, step, limit)

	// A crash, once the join has settled.
	s.RunFor(5 * time.Second)
	victim := 1
	s.Crash(victim)
	t0 = s.Now()
	s.RunUntil(func() bool {
		if run.CrashMembersS < 0 && slices.IndexFunc(live(), func(i int) bool {
			st, ok := s.State(i, victim)
			return ok && st != swim.StateDead
		}) < 0 {
			run.CrashMembersS = (s.Now() - t0).Seconds()
		}
		ok, distinct := agree()
		run.DistinctRingsC = max(run.DistinctRingsC, distinct)
		if run.CrashRingsS < 0 && ok {
			run.CrashRingsS = (s.Now() - t0).Seconds()
		}
		return run.CrashMembersS >= 0 && run.CrashRingsS >= 0
	}, step, limit)
	return run, nil
}

func printRingTable(runs []ringRun, preset string, vnodes int, step time.Duration) {
	fmt.Printf("Rings on membership (%s timings, %d points per member, compared every %v): virtual seconds until\n", preset, vnodes, step)
	fmt.Println()
	fmt.Println("| n | seed | join: members converged | join: rings agree | crash: all see it dead | crash: rings agree | most distinct checksums at once (join / crash) |")
	fmt.Println("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range runs {
		fmt.Printf("| %d | %d | %s | %s | %s | %s | %d / %d |\n", r.Nodes, r.Seed, seconds(r.JoinMembersS), seconds(r.JoinRingsS),
			seconds(r.CrashMembersS), seconds(r.CrashRingsS), r.DistinctRingsJ, r.DistinctRingsC)
	}
}
