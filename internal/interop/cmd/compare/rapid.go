package main

// The asymmetric faults of the Rapid paper (Suresh et al., ATC 2018) on real sockets: in a
// converged cluster, a few members lose most of what is sent to them (ingress-loss), or
// lose all of it and get it back in turn (flipflop), while what they send still arrives.
// Every member binds, and dials, from its own loopback address (127.1.0.x) in the private
// namespace, and nftables drops by destination address: a rule by port would miss the
// replies on connections the faulty member opened itself.
//
// Healthy members are the observers. The books: healthy members declared dead or held out,
// each faulty member's returns to alive in each observer's table (from suspect, or from out
// of the view), the events observers delivered to the application, the distinct view sizes
// they went through, suspicions the faulty members raised of healthy ones, and where each
// faulty member ends up in every observer's view.

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The scenarios' names, as in examples/simulate.
const (
	rapidIngressLoss = "ingress-loss"
	rapidFlipflop    = "flipflop"
)

// rapidConfig is one rapid run's settings.
type rapidConfig struct {
	Scenario  string
	Nodes     int
	Faulty    int           // afflicted members
	Loss      float64       // ingress-loss: the share of packets to a faulty member dropped
	FlipEvery time.Duration // flipflop: how long each cut and each restore lasts
	Duration  time.Duration
	Seed      uint64 // picks the faulty members
}

// defaults fills in the paper's settings where c leaves them zero: one member at 80% for
// 90 s, or three members cut and restored every 20 s for 120 s.
func (c rapidConfig) defaults() rapidConfig {
	if c.Faulty == 0 {
		c.Faulty = map[string]int{rapidIngressLoss: 1, rapidFlipflop: 3}[c.Scenario]
	}
	if c.Loss == 0 {
		c.Loss = 0.8
	}
	if c.FlipEvery == 0 {
		c.FlipEvery = 20 * time.Second
	}
	if c.Duration == 0 {
		c.Duration = map[string]time.Duration{rapidIngressLoss: 90 * time.Second, rapidFlipflop: 120 * time.Second}[c.Scenario]
	}
	return c
}

// rapidResult is one library's figures for one rapid run.
type rapidResult struct {
	Library     string   `json:"library"`
	Scenario    string   `json:"scenario"`
	Nodes       int      `json:"nodes"`
	Faulty      int      `json:"faulty"`
	Seed        uint64   `json:"seed"`
	HealthyDead int      `json:"healthy_members_declared_dead"`
	HealthyHeld int      `json:"healthy_members_held_out"`
	Returns     int      `json:"returns"`      // faulty member back to alive in a healthy member's table, summed
	ReturnsMean float64  `json:"returns_mean"` // per observer and faulty member
	ReturnsMax  int      `json:"returns_max"`  // the most one observer saw of one faulty member
	ViewReturns int      `json:"view_returns"` // joins of faulty members delivered to healthy members' applications
	AppEvents   int      `json:"app_events"`   // join and leave events healthy members delivered
	ViewSizes   int      `json:"view_sizes"`   // the most distinct sizes of Members() one healthy member went through
	Accusations int      `json:"accusations"`  // suspicions faulty members raised of healthy ones
	EndStates   []string `json:"end_states"`   // per faulty member, where it is in healthy members' views
	Consistent  bool     `json:"consistent"`   // every faulty member in every healthy view, or in none
}

// rapidAddr is member i's loopback address.
func rapidAddr(i int) string { return fmt.Sprintf("127.1.%d.%d", i/250, i%250+1) }

// samplePeriod is how often the observers' tables are read. A suspicion refuted within one
// period can go unseen, so Returns is a lower bound, equally for both libraries.
const samplePeriod = 10 * time.Millisecond

// runRapid runs inside the namespace: converge, afflict the faulty members, keep the books.
func runRapid(lib library, c rapidConfig) (rapidResult, error) {
	r := rapidResult{Library: lib.name, Scenario: c.Scenario, Nodes: c.Nodes, Faulty: c.Faulty, Seed: c.Seed}
	t := newTally(c.Nodes)
	var conv result
	ms, _, err := startCluster(lib, c.Nodes, t, rapidAddr)
	defer killAll(ms)
	if err != nil {
		return r, err
	}
	waitConverged(t, c.Nodes, time.Now(), 90*time.Second, &conv)
	if conv.ConvergedLastS < 0 {
		return r, fmt.Errorf("the cluster did not converge")
	}
	time.Sleep(settle)

	// Member 0 is everyone's seed; the faulty ones are drawn from the others.
	rng := rand.New(rand.NewPCG(c.Seed, 0x5eed))
	faulty := map[string]bool{}
	var faultyNames, faultyAddrs []string
	for _, i := range rng.Perm(c.Nodes - 1)[:c.Faulty] {
		name := fmt.Sprintf("%s-%03d", lib.name, i+1)
		faulty[name] = true
		faultyNames = append(faultyNames, name)
		faultyAddrs = append(faultyAddrs, rapidAddr(i+1))
	}
	slices.Sort(faultyNames)
	var observers []int
	for i := range c.Nodes {
		if !faulty[fmt.Sprintf("%s-%03d", lib.name, i)] {
			observers = append(observers, i)
		}
	}
	t.watchFaulty(faulty)

	s := newSampler(ms, observers, faultyNames)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for tick := time.NewTicker(samplePeriod); ; {
			select {
			case <-stop:
				tick.Stop()
				return
			case <-tick.C:
				s.sample()
			}
		}
	}()

	set := "{ " + strings.Join(faultyAddrs, ", ") + " }"
	defer nft("flush", "chain", "inet", "compare", "out")
	if c.Scenario == rapidIngressLoss {
		if err := nft("add", "rule", "inet", "compare", "out", "ip", "daddr", set,
			"numgen", "random", "mod", "100", "<", strconv.Itoa(int(c.Loss*100+0.5)), "drop"); err != nil {
			return r, err
		}
		time.Sleep(c.Duration)
	} else {
		end := time.Now().Add(c.Duration)
		for cut := true; time.Now().Before(end); cut = !cut {
			var err error
			if cut {
				err = nft("add", "rule", "inet", "compare", "out", "ip", "daddr", set, "drop")
			} else {
				err = nft("flush", "chain", "inet", "compare", "out")
			}
			if err != nil {
				return r, err
			}
			time.Sleep(min(c.FlipEvery, time.Until(end)))
		}
	}
	close(stop)
	wg.Wait()
	s.sample() // the end state, with the fault as it last was

	_, _, r.HealthyDead = t.falseAlarms()
	r.HealthyHeld = t.falseHeldOut()
	t.mu.Lock()
	r.Accusations, r.AppEvents = t.accusations, t.appEvents
	for _, n := range t.viewReturns {
		r.ViewReturns += n
	}
	t.mu.Unlock()
	s.report(&r)
	return r, nil
}

// sampler reads, every samplePeriod, where the faulty members stand in each observer's
// table, and counts the changes.
type sampler struct {
	ms        []member
	observers []int
	faulty    []string
	last      [][]string // [observer][faulty]: "alive", "suspect" or "out"
	returns   [][]int
	changes   [][][]string // [observer][faulty]: "12.3s suspect" for each change seen
	sizes     []map[int]bool
	start     time.Time
}

func newSampler(ms []member, observers []int, faulty []string) *sampler {
	s := &sampler{ms: ms, observers: observers, faulty: faulty, start: time.Now()}
	for range observers {
		last := make([]string, len(faulty))
		for j := range last {
			last[j] = "alive"
		}
		s.last = append(s.last, last)
		s.returns = append(s.returns, make([]int, len(faulty)))
		s.changes = append(s.changes, make([][]string, len(faulty)))
		s.sizes = append(s.sizes, map[int]bool{})
	}
	return s
}

func (s *sampler) sample() {
	for o, i := range s.observers {
		states := s.ms[i].States()
		s.sizes[o][len(states)] = true
		for j, name := range s.faulty {
			st := states[name]
			if st == "" {
				st = "out"
			}
			if st == "alive" && s.last[o][j] != "alive" {
				s.returns[o][j]++
			}
			if st != s.last[o][j] {
				s.changes[o][j] = append(s.changes[o][j], fmt.Sprintf("%.1fs %s", time.Since(s.start).Seconds(), st))
			}
			s.last[o][j] = st
		}
	}
}

func (s *sampler) report(r *rapidResult) {
	shown := 0 // pairs seen back more than once, named on stderr (the first few)
	for o, i := range s.observers {
		r.ViewSizes = max(r.ViewSizes, len(s.sizes[o]))
		for j, name := range s.faulty {
			r.Returns += s.returns[o][j]
			r.ReturnsMax = max(r.ReturnsMax, s.returns[o][j])
			if s.returns[o][j] > 1 && shown < 3 {
				shown++
				fmt.Fprintf(os.Stderr, "%s: member %d saw %s back %d times: %s\n",
					r.Library, i, name, s.returns[o][j], strings.Join(s.changes[o][j], ", "))
			}
		}
	}
	r.ReturnsMean = float64(r.Returns) / float64(len(s.observers)*len(s.faulty))
	r.Consistent = true
	for j := range s.faulty {
		count := map[string]int{}
		for o := range s.observers {
			count[s.last[o][j]]++
		}
		in := count["alive"] + count["suspect"]
		if in > 0 && count["out"] > 0 {
			r.Consistent = false
		}
		var parts []string
		if in > 0 {
			parts = append(parts, fmt.Sprintf("in view %d (alive %d, suspect %d)", in, count["alive"], count["suspect"]))
		}
		if count["out"] > 0 {
			parts = append(parts, fmt.Sprintf("out of view %d", count["out"]))
		}
		r.EndStates = append(r.EndStates, strings.Join(parts, ", "))
	}
}

func printRapidTable(rs []rapidResult) {
	fmt.Println("| fault | library | seed | healthy declared dead (held out) | faulty back to alive: summed / mean / max per observer | joins of faulty members delivered | events delivered | view sizes | accusations by faulty | end state | consistent |")
	fmt.Println("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |")
	for _, r := range rs {
		fault := fmt.Sprintf("%s, %d of %d", r.Scenario, r.Faulty, r.Nodes)
		fmt.Printf("| %s | %s | %d | %d (%d) | %d / %.1f / %d | %d | %d | %d | %d | %s | %v |\n",
			fault, r.Library, r.Seed, r.HealthyDead, r.HealthyHeld, r.Returns, r.ReturnsMean, r.ReturnsMax,
			r.ViewReturns, r.AppEvents, r.ViewSizes, r.Accusations, strings.Join(r.EndStates, "; "), r.Consistent)
	}
}
