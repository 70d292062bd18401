package swim

// Named scenarios on top of Simulation, for examples/simulate and the scenario tests: each
// sets up a cluster, does one thing to it, and measures what a user deciding on a
// configuration wants to know (how fast it converges, how fast a failure is known everywhere,
// how often a healthy member is wrongly accused, and what it costs on the network).

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Scenarios Simulate knows.
const (
	ScenarioJoin      = "join"      // members start within JoinSpread and join through member 0
	ScenarioFail      = "fail"      // one member of a converged cluster crashes
	ScenarioLeave     = "leave"     // one member of a converged cluster leaves gracefully
	ScenarioLoss      = "loss"      // a converged cluster runs with packet loss on every link
	ScenarioPartition = "partition" // the cluster is split in two halves, then healed
	ScenarioPause     = "pause"     // one member is paused for three probe intervals while it waits for an ack
	// The asymmetric faults of the Rapid paper (Suresh et al., ATC 2018), in a converged
	// cluster: Faulty members that can send but hear only some of what is sent to them.
	ScenarioIngressLoss = "ingress-loss" // the links into Faulty members drop IngressLoss of their packets
	ScenarioFlipFlop    = "flipflop"     // the links into Faulty members are cut and restored every FlipEvery
)

// SimConfig describes one scenario run.
type SimConfig struct {
	Nodes    int
	Seed     uint64
	Scenario string
	// Duration is how long the scenario runs in virtual time at most (after setup). Default
	// 60 s; scenarios that wait for an outcome stop early once it is reached and has settled.
	Duration time.Duration
	// Config is the member configuration; nil means DefaultLANConfig.
	Config *Config
	// Latency, Jitter, Loss: the network. Loss applies to the whole run (for the loss
	// scenario, default 0.2).
	Latency, Jitter time.Duration
	Loss            float64
	// JoinSpread is the window in which members start in the join scenario. Default 2 s.
	JoinSpread time.Duration
	// PartitionFor is how long the partition scenario keeps the halves apart. Default 60 s.
	PartitionFor time.Duration
	// Faulty is how many members the ingress-loss (default 1) and flipflop (default 3)
	// scenarios afflict; IngressLoss is the share of packets into them lost (default 0.8);
	// FlipEvery is how long the flipflop scenario keeps their ingress cut, then restored,
	// in turn (default 20 s). These two scenarios run 90 s and 120 s by default.
	Faulty      int
	IngressLoss float64
	FlipEvery   time.Duration
	// Progress, if set, is called while the scenario runs, about every 200 ms of wall time
	// (SimOptions.Progress).
	Progress func(SimProgress)
	// Timeline, if set, is called every 100 ms of virtual time with that tick's figures
	// (SimOptions.Timeline).
	Timeline func(SimTick)
}

// SimReport is what a scenario run measured. Times are virtual seconds from the scenario's
// event (the last member starting, the crash, the leave, the heal); -1 means "did not
// happen".
type SimReport struct {
	Nodes    int    `json:"nodes"`
	Seed     uint64 `json:"seed"`
	Scenario string `json:"scenario"`

	ConvergedS     float64 `json:"converged_s"`       // every live member sees every live member alive
	MedianMemberS  float64 `json:"median_member_s"`   // join: when the median member saw everyone
	LastMemberS    float64 `json:"last_member_s"`     // join: when the last member saw everyone
	FirstSuspectS  float64 `json:"first_suspect_s"`   // fail: someone suspects the failed member
	FirstDeadS     float64 `json:"first_dead_s"`      // fail: someone declares it dead
	AllDeadS       float64 `json:"all_dead_s"`        // fail: every survivor holds it dead
	LeftAllS       float64 `json:"left_all_s"`        // leave: every other member holds it left
	FalseSuspect   int     `json:"false_suspect"`     // suspicions of members never in trouble
	FalseDead      int     `json:"false_dead"`        // deaths of members never in trouble
	FalseHeldOut   int     `json:"false_held_out"`    // members never in trouble held out of a view as flapping
	Suspicions     int     `json:"suspicions"`        // all suspicions raised
	PausedOriginal int     `json:"paused_originated"` // pause: suspicions the paused member raised

	// ingress-loss and flipflop, over the fault's window, as the healthy members see the
	// faulty ones: FaultyAccusations are suspicions the faulty members raised of healthy
	// ones; Flaps are state changes of faulty members in healthy members' tables (to
	// suspect, back to alive, to dead); Returns are the changes back to alive, summed over
	// observers, and ReturnsMax the most one observer saw of one faulty member; AppEvents are
	// join, leave and update events delivered at healthy members; ViewSizes is the most
	// distinct sizes of Members() one healthy member went through; EndStates is, for each
	// faulty member at the end, how many healthy members hold it in their view and out of
	// it, with the protocol's states behind that: "out of view 63 (held out 61, dead 2)".
	FaultyAccusations int      `json:"faulty_accusations,omitempty"`
	Flaps             int      `json:"flaps,omitempty"`
	Returns           int      `json:"returns,omitempty"`
	ReturnsMax        int      `json:"returns_max,omitempty"`
	AppEvents         int      `json:"app_events,omitempty"`
	ViewSizes         int      `json:"view_sizes,omitempty"`
	EndStates         []string `json:"end_states,omitempty"`

	BytesPerNodePerS   float64 `json:"bytes_per_node_per_s"`
	PacketsPerNodePerS float64 `json:"packets_per_node_per_s"`
	VirtualS           float64 `json:"virtual_s"`
	TraceSHA256        string  `json:"trace_sha256"`
	WallS              float64 `json:"wall_s"`
}

// Simulate runs one scenario and reports on it.
func Simulate(sc SimConfig) (SimReport, error) {
	wallStart := time.Now()
	if sc.Nodes < 2 {
		return SimReport{}, fmt.Errorf("%w: a scenario needs at least 2 nodes", ErrInvalidConfig)
	}
	cfg := sc.Config
	if cfg == nil {
		cfg = DefaultLANConfig()
	}
	cfg.Name = "template"
	if err := cfg.Validate(); err != nil {
		return SimReport{}, err
	}
	if sc.Duration <= 0 {
		sc.Duration = map[string]time.Duration{ScenarioIngressLoss: 90 * time.Second, ScenarioFlipFlop: 120 * time.Second}[sc.Scenario]
		if sc.Duration == 0 {
			sc.Duration = 60 * time.Second
		}
	}
	if sc.Faulty <= 0 {
		sc.Faulty = map[string]int{ScenarioFlipFlop: 3}[sc.Scenario]
		sc.Faulty = max(sc.Faulty, 1)
	}
	if sc.IngressLoss <= 0 {
		sc.IngressLoss = 0.8
	}
	if sc.FlipEvery <= 0 {
		sc.FlipEvery = 20 * time.Second
	}
	if sc.JoinSpread <= 0 {
		sc.JoinSpread = 2 * time.Second
	}
	if sc.PartitionFor <= 0 {
		sc.PartitionFor = 60 * time.Second
	}
	if sc.Scenario == ScenarioLoss && sc.Loss == 0 {
		sc.Loss = 0.2
	}
	if sc.Latency == 0 {
		sc.Latency = time.Millisecond
	}
	opts := SimOptions{Seed: sc.Seed, Config: cfg, Latency: sc.Latency, Jitter: sc.Jitter, Loss: sc.Loss, Progress: sc.Progress, Timeline: sc.Timeline}
	s := NewSimulation(opts)
	r := SimReport{Nodes: sc.Nodes, Seed: sc.Seed, Scenario: sc.Scenario, ConvergedS: -1, MedianMemberS: -1, LastMemberS: -1,
		FirstSuspectS: -1, FirstDeadS: -1, AllDeadS: -1, LeftAllS: -1}
	rng := rand.New(rand.NewPCG(sc.Seed, 0x5eed))
	settle := 5 * cfg.ProbeInterval

	var err error
	switch sc.Scenario {
	case ScenarioJoin:
		scenarioJoin(s, sc, &r, rng)
	case ScenarioFail:
		scenarioFail(s, sc, &r, rng, settle)
	case ScenarioLeave:
		scenarioLeave(s, sc, &r, rng, settle)
	case ScenarioLoss:
		bootstrap(s, sc.Nodes)
		s.RunFor(sc.Duration)
		r.ConvergedS = boolSeconds(s.Converged(), 0)
	case ScenarioPartition:
		scenarioPartition(s, sc, &r, settle)
	case ScenarioPause:
		scenarioPause(s, sc, &r, rng, cfg, settle)
	case ScenarioIngressLoss, ScenarioFlipFlop:
		if sc.Faulty >= sc.Nodes {
			return r, fmt.Errorf("%w: %d faulty members of %d leave none healthy", ErrInvalidConfig, sc.Faulty, sc.Nodes)
		}
		scenarioIngress(s, sc, &r, rng, settle)
	default:
		err = fmt.Errorf("%w: unknown scenario %q", ErrInvalidConfig, sc.Scenario)
	}
	st := s.Stats()
	r.FalseSuspect, r.FalseDead, r.Suspicions, r.FalseHeldOut = st.FalseSuspicions, st.FalseDeaths, st.Suspicions, st.FalseHeldOut
	r.VirtualS = s.Now().Seconds()
	if r.VirtualS > 0 {
		r.BytesPerNodePerS = float64(st.Bytes+st.StreamBytes) / float64(sc.Nodes) / r.VirtualS
		r.PacketsPerNodePerS = float64(st.Packets) / float64(sc.Nodes) / r.VirtualS
	}
	sum := s.TraceSum()
	r.TraceSHA256 = hex.EncodeToString(sum[:])
	r.WallS = time.Since(wallStart).Seconds()
	return r, err
}

func boolSeconds(ok bool, d time.Duration) float64 {
	if !ok {
		return -1
	}
	return d.Seconds()
}

// bootstrap adds n members that already know each other.
func bootstrap(s *Simulation, n int) {
	for range n {
		s.AddNode()
	}
	s.Bootstrap()
}

// scenarioJoin starts member 0, then the others at random times within JoinSpread, each
// joining through member 0, and measures when each member first sees all the others.
func scenarioJoin(s *Simulation, sc SimConfig, r *SimReport, rng *rand.Rand) {
	s.AddNode()
	starts := make([]time.Duration, sc.Nodes-1)
	for i := range starts {
		starts[i] = time.Duration(rng.Int64N(int64(sc.JoinSpread)))
	}
	slices.Sort(starts)
	seenAll := make([]time.Duration, sc.Nodes)
	for i := range seenAll {
		seenAll[i] = -1
	}
	s.onEvent = func(n *simNode, e *coreEvent) {
		if e.kind == evJoin && n.seen == sc.Nodes-1 && seenAll[n.id] < 0 {
			seenAll[n.id] = s.Now()
		}
	}
	for _, at := range starts {
		s.RunFor(at - s.Now())
		i := s.AddNode()
		s.Join(i, 0)
	}
	lastStart := s.Now()
	s.RunUntil(s.Converged, 100*time.Millisecond, sc.Duration)
	if s.Converged() {
		r.ConvergedS = (s.Now() - lastStart).Seconds()
	}
	var times []float64
	for _, t := range seenAll {
		if t >= 0 {
			times = append(times, (t - lastStart).Seconds())
		}
	}
	slices.Sort(times)
	if len(times) == sc.Nodes {
		r.MedianMemberS = times[len(times)/2]
		r.LastMemberS = times[len(times)-1]
	}
}

// scenarioFail crashes one member of a converged cluster and measures detection.
func scenarioFail(s *Simulation, sc SimConfig, r *SimReport, rng *rand.Rand, settle time.Duration) {
	bootstrap(s, sc.Nodes)
	s.RunFor(settle)
	victim := 1 + rng.IntN(sc.Nodes-1)
	name := s.nodes[victim].name
	t0 := s.Now()
	deadSeen := 0
	s.onEvent = func(n *simNode, e *coreEvent) {
		if e.node.Name() != name {
			return
		}
		switch {
		case e.kind == evSuspect && r.FirstSuspectS < 0:
			r.FirstSuspectS = (s.Now() - t0).Seconds()
		case e.kind == evLeave && e.node.state == StateDead:
			if r.FirstDeadS < 0 {
				r.FirstDeadS = (s.Now() - t0).Seconds()
			}
			deadSeen++
			if deadSeen == sc.Nodes-1 {
				r.AllDeadS = (s.Now() - t0).Seconds()
			}
		}
	}
	s.Crash(victim)
	s.RunUntil(func() bool { return r.AllDeadS >= 0 }, 100*time.Millisecond, sc.Duration)
}

// scenarioLeave has one member of a converged cluster leave and measures how fast everyone
// knows.
func scenarioLeave(s *Simulation, sc SimConfig, r *SimReport, rng *rand.Rand, settle time.Duration) {
	bootstrap(s, sc.Nodes)
	s.RunFor(settle)
	leaver := 1 + rng.IntN(sc.Nodes-1)
	name := s.nodes[leaver].name
	t0 := s.Now()
	leftSeen := 0
	s.onEvent = func(n *simNode, e *coreEvent) {
		if e.node.Name() == name && e.kind == evLeave && e.node.state == StateLeft && n.name != name {
			leftSeen++
			if leftSeen == sc.Nodes-1 {
				r.LeftAllS = (s.Now() - t0).Seconds()
			}
		}
	}
	s.Leave(leaver)
	s.RunUntil(func() bool { return r.LeftAllS >= 0 }, 100*time.Millisecond, sc.Duration)
}

// scenarioPartition splits a converged cluster in halves for PartitionFor, heals it, and
// measures how long until it is one cluster again.
func scenarioPartition(s *Simulation, sc SimConfig, r *SimReport, settle time.Duration) {
	bootstrap(s, sc.Nodes)
	s.RunFor(settle)
	var a, b []int
	for i := range sc.Nodes {
		if i < sc.Nodes/2 {
			a = append(a, i)
		} else {
			b = append(b, i)
		}
	}
	s.Partition(a, b)
	s.RunFor(sc.PartitionFor)
	s.Heal()
	t0 := s.Now()
	if s.RunUntil(s.Converged, 100*time.Millisecond, sc.Duration) {
		r.ConvergedS = (s.Now() - t0).Seconds()
	}
}

// scenarioPause pauses one member for three probe intervals and counts the suspicions it
// raised about healthy members afterwards.
func scenarioPause(s *Simulation, sc SimConfig, r *SimReport, rng *rand.Rand, cfg *Config, settle time.Duration) {
	bootstrap(s, sc.Nodes)
	s.RunFor(settle)
	p := 1 + rng.IntN(sc.Nodes-1)
	name := s.nodes[p].name
	s.onEvent = func(n *simNode, e *coreEvent) {
		if e.kind == evSuspect && n.name == name && e.other.Name == name {
			if subj := s.byName[e.node.Name()]; subj != nil && !subj.troubled {
				r.PausedOriginal++
			}
		}
	}
	s.PauseDuringProbe(p, 3*cfg.ProbeInterval)
	s.RunUntil(func() bool { return s.net.Paused(s.nodes[p].addr) }, cfg.ProbeInterval/10, 10*cfg.ProbeInterval)
	s.RunUntil(func() bool { return !s.net.Paused(s.nodes[p].addr) }, cfg.ProbeInterval/10, 10*cfg.ProbeInterval)
	t0 := s.Now()
	if s.RunUntil(s.Converged, 100*time.Millisecond, sc.Duration) {
		r.ConvergedS = (s.Now() - t0).Seconds()
	}
	s.RunFor(max(0, sc.Duration-(s.Now()-t0)))
}

// scenarioIngress afflicts Faulty members of a converged cluster with ingress loss, steady
// (ingress-loss) or cut and restored in turn (flipflop), and keeps the books of how the
// healthy members see them.
func scenarioIngress(s *Simulation, sc SimConfig, r *SimReport, rng *rand.Rand, settle time.Duration) {
	bootstrap(s, sc.Nodes)
	s.RunFor(settle)
	faulty := map[string]bool{}
	var ids []int
	for _, i := range rng.Perm(sc.Nodes - 1)[:sc.Faulty] {
		ids = append(ids, i+1)
		faulty[s.nodes[i+1].name] = true
	}
	type pair struct{ observer, subject string }
	returns := map[pair]int{}
	sizes := map[string]map[int]bool{}
	s.onEvent = func(n *simNode, e *coreEvent) {
		if faulty[n.name] {
			if e.kind == evSuspect && e.other.Name == n.name && !faulty[e.node.Name()] {
				r.FaultyAccusations++
			}
			return
		}
		if e.hidden {
			return // about a member held out of the application's view
		}
		switch e.kind {
		case evJoin, evLeave, evUpdate:
			r.AppEvents++
			if sizes[n.name] == nil {
				sizes[n.name] = map[int]bool{}
			}
			sizes[n.name][n.seen] = true
		}
		if !faulty[e.node.Name()] {
			return
		}
		switch e.kind {
		case evSuspect, evLeave:
			r.Flaps++
		case evUnsuspect, evJoin:
			r.Flaps++
			r.Returns++
			p := pair{n.name, e.node.Name()}
			returns[p]++
			r.ReturnsMax = max(r.ReturnsMax, returns[p])
		}
	}
	for _, n := range s.nodes {
		if !faulty[n.name] {
			sizes[n.name] = map[int]bool{n.seen: true}
		}
	}
	if sc.Scenario == ScenarioIngressLoss {
		for _, i := range ids {
			s.SetIngressLoss(i, sc.IngressLoss)
		}
		s.RunFor(sc.Duration)
	} else {
		for cut := true; s.Now() < settle+sc.Duration; cut = !cut {
			for _, i := range ids {
				s.SetIngressLoss(i, map[bool]float64{true: 1, false: 0}[cut])
			}
			s.RunFor(min(sc.FlipEvery, settle+sc.Duration-s.Now()))
		}
	}
	s.onEvent = nil
	r.ConvergedS = boolSeconds(s.Converged(), 0)
	for _, m := range sizes {
		r.ViewSizes = max(r.ViewSizes, len(m))
	}
	for _, i := range ids {
		count := map[string]int{}
		for j, n := range s.nodes {
			if faulty[n.name] {
				continue
			}
			st, ok := s.State(j, i)
			switch {
			case !ok:
				count["dead"]++ // forgotten: reaped after its death
			case n.core.members.get(s.nodes[i].name).heldOut():
				count["held out"]++
			default:
				count[st.String()]++
			}
		}
		// What the application sees, in view or out, then the protocol's states behind it.
		var parts []string
		for _, v := range []struct {
			view   string
			states []string
		}{{"in view", []string{"alive", "suspect"}}, {"out of view", []string{"held out", "dead", "left"}}} {
			total := 0
			var detail []string
			for _, st := range v.states {
				if count[st] > 0 {
					total += count[st]
					detail = append(detail, fmt.Sprintf("%s %d", st, count[st]))
				}
			}
			if total > 0 {
				parts = append(parts, fmt.Sprintf("%s %d (%s)", v.view, total, strings.Join(detail, ", ")))
			}
		}
		r.EndStates = append(r.EndStates, strings.Join(parts, ", "))
	}
}
