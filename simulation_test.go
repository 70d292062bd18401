package swim

// Protocol behaviour, proven in the simulator: whole clusters in virtual time, from a seed.
// Grouped by the SWIM / Lifeguard / memberlist-issue sentence each test checks, quoted above
// it. A failure prints the seed and the command that reruns it.

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/swim-go/swim/internal/sim"
	"github.com/swim-go/swim/internal/wire"
)

// rerun is the sentence a failing simulation test ends with.
func rerun(t *testing.T, seed uint64) string {
	return fmt.Sprintf("seed %d; rerun with: go test -run '^%s$' .", seed, t.Name())
}

// newCluster starts n members that already know each other (a converged cluster).
func newCluster(t *testing.T, n int, seed uint64, cfg *Config) *Simulation {
	t.Helper()
	s := NewSimulation(SimOptions{Seed: seed, Config: cfg, Latency: time.Millisecond, Jitter: time.Millisecond})
	for range n {
		s.AddNode()
	}
	s.Bootstrap()
	return s
}

// eventually runs s until cond holds, failing with reason if it does not within limit.
func eventually(t *testing.T, s *Simulation, seed uint64, limit time.Duration, cond func() bool, reason string) {
	t.Helper()
	if !s.RunUntil(cond, 50*time.Millisecond, limit) {
		t.Fatalf("%s: not within %v of virtual time; %s", reason, limit, rerun(t, seed))
	}
}

// allSee reports whether every running member other than j holds j in state want.
func allSee(s *Simulation, j int, want NodeState) bool {
	for i := range s.Len() {
		if i == j || !s.Running(i) {
			continue
		}
		if st, ok := s.State(i, j); !ok || st != want {
			return false
		}
	}
	return true
}

func localConfig() *Config { return DefaultLocalConfig() }

// "Members join through a seed, see each other's metadata and messages, and a member that
// leaves is seen as left, not failed."
func TestSmallClusterLifecycle(t *testing.T) {
	const seed = 1
	s := NewSimulation(SimOptions{Seed: seed, Config: localConfig(), Latency: time.Millisecond})
	for range 3 {
		s.AddNode()
	}
	s.Join(1, 0)
	s.Join(2, 0)
	eventually(t, s, seed, 5*time.Second, s.Converged, "three members converge")

	s.UpdateMeta(1, []byte("role=db"))
	eventually(t, s, seed, 5*time.Second, func() bool {
		for _, i := range []int{0, 2} {
			idx := slices.IndexFunc(s.Members(i), func(n Node) bool { return n.Name == "node-1" })
			if idx < 0 || string(s.Members(i)[idx].Meta) != "role=db" {
				return false
			}
		}
		return true
	}, "metadata update reaches every member")

	s.SendUser(0, 2, []byte("best effort"), false)
	s.SendUser(0, 1, []byte("reliable"), true)
	eventually(t, s, seed, 2*time.Second, func() bool {
		return len(s.UserMessages(2)) == 1 && len(s.UserMessages(1)) == 1
	}, "user messages delivered")
	require.Equal(t, "best effort", string(s.UserMessages(2)[0]))
	require.Equal(t, "reliable", string(s.UserMessages(1)[0]))

	s.Leave(2)
	eventually(t, s, seed, 5*time.Second, func() bool { return allSee(s, 2, StateLeft) }, "leave seen as left by all")
	require.Zero(t, s.Stats().Deaths, "a graceful leave must not be reported as a failure")
}

// "The failure of one member of a thousand is disseminated to every survivor."
func TestLargeFailureDissemination(t *testing.T) {
	skipLarge(t)
	const seed = 7
	r, err := Simulate(SimConfig{Nodes: 1000, Seed: seed, Scenario: ScenarioFail, Duration: 90 * time.Second})
	require.NoError(t, err)
	t.Logf("measured: fail n=1000 first_suspect=%.2fs first_dead=%.2fs all_dead=%.2fs false_dead=%d wall=%.1fs",
		r.FirstSuspectS, r.FirstDeadS, r.AllDeadS, r.FalseDead, r.WallS)
	require.GreaterOrEqual(t, r.AllDeadS, 0.0, "every survivor holds the failed member dead; %s", rerun(t, seed))
	require.Zero(t, r.FalseDead, "no healthy member declared dead; %s", rerun(t, seed))
}

// "A thousand members joining within seconds of each other converge without stragglers: the
// last member sees everyone within 3x the median member's time." (memberlist leaves
// stragglers to its next periodic push/pull.)
func TestLargeJoinWithoutStragglers(t *testing.T) {
	skipLarge(t)
	const seed = 3
	r, err := Simulate(SimConfig{Nodes: 1000, Seed: seed, Scenario: ScenarioJoin, Duration: 120 * time.Second})
	require.NoError(t, err)
	t.Logf("measured: join n=1000 converged=%.2fs median_member=%.2fs last_member=%.2fs wall=%.1fs",
		r.ConvergedS, r.MedianMemberS, r.LastMemberS, r.WallS)
	require.GreaterOrEqual(t, r.ConvergedS, 0.0, "cluster converges; %s", rerun(t, seed))
	require.LessOrEqual(t, r.LastMemberS, 3*r.MedianMemberS, "no stragglers; %s", rerun(t, seed))
}

// SWIM 4.2: "a member that is suspected ... refutes the suspicion by incrementing its
// incarnation", and so is never declared dead.
func TestSuspectedAliveMemberRefutes(t *testing.T) {
	const seed = 11
	s := newCluster(t, 10, seed, DefaultLANConfig())
	s.RunFor(2 * time.Second)
	before := s.Incarnation(3, 3)
	accuser := s.nodes[1].core
	accuser.suspectNode(&wire.Suspect{Incarnation: s.Incarnation(1, 3), Node: "node-3", From: "node-1"})
	s.flush(s.nodes[1])
	s.RunFor(60 * time.Second)
	require.Zero(t, s.Stats().Deaths, "the suspected member is never declared dead; %s", rerun(t, seed))
	require.Greater(t, s.Incarnation(3, 3), before, "it refuted with a higher incarnation")
	require.True(t, allSee(s, 3, StateAlive), "everyone holds it alive again; %s", rerun(t, seed))
}

// Lifeguard: "with 20% packet loss on every link no healthy member is declared dead".
func TestLargeLossNoFalseDeaths(t *testing.T) {
	skipLarge(t)
	const seed = 5
	r, err := Simulate(SimConfig{Nodes: 200, Seed: seed, Scenario: ScenarioLoss, Loss: 0.2, Duration: 10 * time.Minute})
	require.NoError(t, err)
	t.Logf("measured: loss=20%% n=200 10min false_suspect=%d false_dead=%d bytes/node/s=%.0f wall=%.1fs",
		r.FalseSuspect, r.FalseDead, r.BytesPerNodePerS, r.WallS)
	require.Zero(t, r.FalseDead, "no false deaths at 20%% loss; %s", rerun(t, seed))
}

// The same with the Local timings (one indirect check, SuspicionMult 3, short timeouts),
// where memberlist declared 49 of 64 healthy members dead in a minute on a real network
// dropping 20% of packets (internal/interop/cmd/compare). Several last calls per suspicion
// are what keeps deaths at zero; flap damping must not take the place of death: every
// member refutes a suspicion every minute or two at 20% loss, and in a third of such
// minutes some member refuted three within 20 probe intervals (flap.go), so eight seeds.
func TestLocalTimingsLossNoFalseDeaths(t *testing.T) {
	type run struct {
		seed uint64
		loss float64
	}
	runs := []run{{1, 0.1}}
	for seed := range uint64(8) {
		runs = append(runs, run{seed + 1, 0.2})
	}
	for _, tc := range runs {
		r, err := Simulate(SimConfig{Nodes: 64, Seed: tc.seed, Scenario: ScenarioLoss, Loss: tc.loss, Duration: time.Minute, Config: DefaultLocalConfig()})
		require.NoError(t, err)
		t.Logf("measured: local timings loss=%.0f%% n=64 1min seed=%d false_suspect=%d false_dead=%d false_held_out=%d", tc.loss*100, tc.seed, r.FalseSuspect, r.FalseDead, r.FalseHeldOut)
		require.Zero(t, r.FalseDead, "loss %.0f%%; %s", tc.loss*100, rerun(t, tc.seed))
		require.Zero(t, r.FalseHeldOut, "loss %.0f%%: a healthy member held out as flapping; %s", tc.loss*100, rerun(t, tc.seed))
	}
}

// Lifeguard 4.1: "a member whose own processing is slow accuses others less". A member that
// cannot hear (80% of the packets to it are lost) misses acks, and the nacks that would tell
// it the target is fine: the missing nacks raise its score, which stretches its probes. The
// retry of a failed probe already keeps members that were only paused from accusing anyone,
// with or without Lifeguard; a member that stays deaf is where local health matters.
func TestDeafMemberAccusesLessWithLifeguard(t *testing.T) {
	accusations := func(awareness int) int {
		total := 0
		for seed := uint64(1); seed <= 2; seed++ {
			cfg := DefaultLANConfig()
			cfg.AwarenessMaxMultiplier = awareness
			s := newCluster(t, 50, seed, cfg)
			s.RunFor(5 * time.Second)
			deaf := s.nodes[1]
			for _, n := range s.nodes {
				if n != deaf {
					s.net.SetLink(n.addr, deaf.addr, sim.Link{Latency: time.Millisecond, Loss: 0.8})
				}
			}
			s.onEvent = func(n *simNode, e *coreEvent) {
				if e.kind == evSuspect && n == deaf && e.other.Name == deaf.name {
					total++
				}
			}
			s.RunFor(3 * time.Minute)
		}
		return total
	}
	with, without := accusations(8), accusations(1)
	t.Logf("measured: suspicions a deaf member raised in 2 x 3 min: lifeguard=%d without=%d", with, without)
	require.Less(t, 4*with, without, "Lifeguard must cut a deaf member's accusations to under a quarter")

	// A member paused while it waits for an ack accuses nobody: its probe fails when it
	// resumes, and the retry is answered.
	for seed := uint64(1); seed <= 8; seed++ {
		r, err := Simulate(SimConfig{Nodes: 20, Seed: seed, Scenario: ScenarioPause, Config: DefaultLANConfig(), Duration: 20 * time.Second})
		require.NoError(t, err)
		require.Zero(t, r.PausedOriginal, "suspicions raised by the paused member; %s", rerun(t, seed))
	}
}

// "A 50/50 partition for 60 s, then healed: one cluster again, everyone alive."
func TestPartitionHeals(t *testing.T) {
	const seed = 13
	r, err := Simulate(SimConfig{Nodes: 40, Seed: seed, Scenario: ScenarioPartition, Config: localConfig(),
		PartitionFor: 60 * time.Second, Duration: 120 * time.Second})
	require.NoError(t, err)
	t.Logf("measured: partition 20/20 for 60s, converged %.1fs after heal", r.ConvergedS)
	require.GreaterOrEqual(t, r.ConvergedS, 0.0, "one cluster again after the heal; %s", rerun(t, seed))
}

// memberlist #222: "a node cut off by a partition for longer than GossipToTheDeadTime still
// rejoins when the partition heals" (both sides have reaped each other by then).
func TestLongPartitionRejoins(t *testing.T) {
	const seed = 17
	cfg := localConfig()
	s := newCluster(t, 8, seed, cfg)
	s.RunFor(2 * time.Second)
	s.Partition([]int{7}, []int{0, 1, 2, 3, 4, 5, 6})
	// A dead member is kept FlapHoldDown after its death (flap.go), then reaped.
	s.RunFor(cfg.FlapHoldDown + 4*cfg.GossipToTheDeadTime)
	_, known := s.State(0, 7)
	require.False(t, known, "the cut-off member was reaped from the majority's table")
	s.Heal()
	eventually(t, s, seed, 3*time.Minute, s.Converged, "the cut-off member rejoins after the heal")
}

// memberlist #311: "a node restarted under the same name with a fresh incarnation rejoins and
// is seen alive by all promptly, although peers remember it dead at a higher incarnation".
func TestRestartSameNameRejoins(t *testing.T) {
	const seed = 19
	cfg := localConfig()
	// The two refutations forced below would hold node-5 out of the view as a flapping
	// member (flap.go); this test is about the restart.
	cfg.FlapHoldDown = 0
	s := newCluster(t, 6, seed, cfg)
	s.RunFor(time.Second)
	// Raise node-5's incarnation through two refutations, so peers hold a high one.
	for range 2 {
		s.nodes[0].core.suspectNode(&wire.Suspect{Incarnation: s.Incarnation(0, 5), Node: "node-5", From: "node-0"})
		s.flush(s.nodes[0])
		eventually(t, s, seed, 10*time.Second, func() bool { return allSee(s, 5, StateAlive) }, "refutation spreads")
	}
	oldInc := s.Incarnation(0, 5)
	require.Greater(t, oldInc, uint32(1))
	s.Crash(5)
	eventually(t, s, seed, time.Minute, func() bool { return allSee(s, 5, StateDead) }, "the crash is detected")

	s.Restart(5, false)
	require.Equal(t, uint32(1), s.Incarnation(5, 5), "a restarted member starts at incarnation 1")
	t0 := s.Now()
	s.Join(5, 0)
	eventually(t, s, seed, 10*time.Second, s.Converged, "the restarted member is alive for all")
	t.Logf("measured: restarted member seen alive by all %.2fs after its join", (s.Now() - t0).Seconds())
	require.Greater(t, s.Incarnation(0, 5), oldInc, "it refuted its old death with a higher incarnation")
}

// memberlist #157: "restarted at a new address, it is accepted once the old one is dead".
func TestRestartNewAddressAcceptedOnceOldDead(t *testing.T) {
	const seed = 23
	cfg := localConfig()
	s := newCluster(t, 6, seed, cfg)
	s.RunFor(time.Second)
	s.Restart(4, true)
	s.Join(4, 0)
	eventually(t, s, seed, time.Minute, func() bool {
		if !s.Converged() {
			return false
		}
		for i := range 4 {
			idx := slices.IndexFunc(s.Members(i), func(n Node) bool { return n.Name == "node-4" })
			if idx < 0 || s.Members(i)[idx].AddrPort() != s.nodes[4].addr {
				return false
			}
		}
		return true
	}, "every member holds node-4 alive at its new address")
}

// "Same seed, same trace; different seeds, different traces."
func TestSimulationIsDeterministic(t *testing.T) {
	run := func(seed uint64) SimReport {
		r, err := Simulate(SimConfig{Nodes: 30, Seed: seed, Scenario: ScenarioFail, Config: localConfig(), Duration: 20 * time.Second, Loss: 0.05})
		require.NoError(t, err)
		return r
	}
	a, b, c := run(42), run(42), run(43)
	require.Equal(t, a.TraceSHA256, b.TraceSHA256, "same seed must give the same trace")
	require.NotEqual(t, a.TraceSHA256, c.TraceSHA256, "different seeds must give different traces")
	require.Equal(t, a.AllDeadS, b.AllDeadS)
}

// The Rapid paper's asymmetric faults as scenarios: members that can send but hear little
// (ingress-loss) or nothing half the time (flipflop). Healthy members never die for them; the
// books see the faulty members' flaps; a rerun is the same run.
func TestRapidFaultScenarios(t *testing.T) {
	for _, scenario := range []string{ScenarioIngressLoss, ScenarioFlipFlop} {
		const seed = 1
		sc := SimConfig{Nodes: 32, Seed: seed, Scenario: scenario, Config: DefaultLocalConfig()}
		r, err := Simulate(sc)
		require.NoError(t, err)
		t.Logf("measured: %s n=32 local: flaps=%d returns=%d (max %d per pair) app_events=%d view_sizes=%d faulty_accusations=%d false_dead=%d end=%v",
			scenario, r.Flaps, r.Returns, r.ReturnsMax, r.AppEvents, r.ViewSizes, r.FaultyAccusations, r.FalseDead, r.EndStates)
		require.Zero(t, r.FalseDead, "%s: healthy members declared dead; %s", scenario, rerun(t, seed))
		require.Len(t, r.EndStates, map[string]int{ScenarioIngressLoss: 1, ScenarioFlipFlop: 3}[scenario])
		require.Positive(t, r.Returns, "%s: the faulty members were suspected and came back", scenario)
		require.GreaterOrEqual(t, r.Flaps, r.Returns)
		// Rapid's bar: each healthy member sees each faulty one come back at most once.
		require.LessOrEqual(t, r.ReturnsMax, 1,
			"%s: a healthy member saw a faulty one come back too often; %s", scenario, rerun(t, seed))
		for _, end := range r.EndStates {
			require.False(t, strings.Contains(end, "in view") && strings.Contains(end, "out of view"),
				"%s: the healthy members disagree on a faulty member: %s; %s", scenario, end, rerun(t, seed))
		}
		again, err := Simulate(sc)
		require.NoError(t, err)
		require.Equal(t, r.TraceSHA256, again.TraceSHA256, "%s: same seed, same trace", scenario)
	}
	_, err := Simulate(SimConfig{Nodes: 3, Scenario: ScenarioFlipFlop})
	require.ErrorIs(t, err, ErrInvalidConfig, "three faulty members of three")
}

// recordingEvents keeps the events a simulated member's delegate heard, with their virtual
// times.
type recordingEvents struct {
	s   *Simulation
	got []string
	at  []time.Duration
}

func (r *recordingEvents) NotifyJoin(n Node) {
	r.got, r.at = append(r.got, "join "+n.Name), append(r.at, r.s.Now())
}
func (r *recordingEvents) NotifyLeave(n Node) {
	r.got, r.at = append(r.got, "leave "+n.Name+" "+n.State.String()), append(r.at, r.s.Now())
}
func (r *recordingEvents) NotifyUpdate(n Node) {}

// A simulated member's EventDelegate hears its events as they happen, in virtual time: the
// join as soon as the member's view has the newcomer, the death when it declares it.
func TestSimulationDeliversEventsToDelegates(t *testing.T) {
	s := NewSimulation(SimOptions{Seed: 7, Config: DefaultLocalConfig(), Latency: time.Millisecond})
	rec := &recordingEvents{s: s}
	a := s.AddNodeWith(func(c *Config) { c.Events = rec })
	b := s.AddNode()
	s.Join(b, a)
	require.True(t, s.RunUntil(s.Converged, 10*time.Millisecond, 5*time.Second), "a and b converge")
	require.NotEmpty(t, rec.got, "a's delegate heard of b joining")
	require.Equal(t, []string{"join node-0", "join node-1"}, rec.got, "a's own join, then b's")
	s.Crash(b)
	step := time.Millisecond
	require.True(t, s.RunUntil(func() bool { st, _ := s.State(a, b); return st == StateDead }, step, 30*time.Second), "a declares b dead")
	require.Equal(t, []string{"join node-0", "join node-1", "leave node-1 dead"}, rec.got)
	require.InDelta(t, s.Now().Seconds(), rec.at[2].Seconds(), step.Seconds(), "the delegate heard of the death within the step in which a declared it")
}

// Watching a run changes nothing in it: with a Progress or Timeline function the simulation
// runs in chunks, and gives the same trace as without. The timeline has a tick every 100 ms
// whose figures add up to the run's.
func TestProgressChangesNothing(t *testing.T) {
	var calls int
	var last SimProgress
	var ticks []SimTick
	var stats SimStats
	run := func(watch bool) [32]byte {
		o := SimOptions{Seed: 3, Config: DefaultLocalConfig(), Latency: time.Millisecond}
		if watch {
			o.Progress, o.ProgressEvery = func(p SimProgress) { calls++; last = p }, time.Nanosecond
			o.Timeline = func(t SimTick) { ticks = append(ticks, t) }
		}
		s := NewSimulation(o)
		for range 50 {
			s.AddNode()
		}
		s.Bootstrap()
		s.RunFor(3 * time.Second)
		s.Crash(7)
		s.RunFor(20 * time.Second)
		stats = s.Stats()
		return s.TraceSum()
	}
	plain, watched := run(false), run(true)
	require.Equal(t, plain, watched, "same seed, same trace, watched or not")
	require.GreaterOrEqual(t, calls, 230, "a report after every 100 ms of virtual time")
	require.Equal(t, 23*time.Second, last.Virtual)
	require.Equal(t, 49, last.Live, "one member crashed")
	require.Equal(t, 49, last.Converged, "the survivors' views have dropped it")
	require.Positive(t, last.Events)

	require.Len(t, ticks, 230, "a tick every 100 ms of 23 s")
	var packets, bytes uint64
	deaths := 0
	for i, tk := range ticks {
		require.Equal(t, time.Duration(i+1)*100*time.Millisecond, tk.At)
		packets, bytes, deaths = packets+tk.Packets, bytes+tk.Bytes, deaths+tk.Deaths
	}
	require.Equal(t, stats.Packets, packets, "the ticks' packets add up to the run's")
	require.Equal(t, stats.Bytes+stats.StreamBytes, bytes)
	require.Equal(t, 49, deaths, "each survivor declared the crashed member dead once")
	require.Equal(t, 49, ticks[len(ticks)-1].FullView)
}

// sendClock stamps the push/pull state it sends with the virtual time, and checks on merging
// a peer's how long the stream took.
type sendClock struct {
	s       *Simulation
	merged  int
	slowest time.Duration
}

func (m *sendClock) NodeMeta(int) []byte             { return nil }
func (m *sendClock) NotifyMsg([]byte)                {}
func (m *sendClock) GetBroadcasts(int, int) [][]byte { return nil }
func (m *sendClock) LocalState(bool) []byte          { return []byte(strconv.FormatInt(int64(m.s.Now()), 10)) }
func (m *sendClock) MergeRemoteState(state []byte, _ bool) {
	sent, _ := strconv.ParseInt(string(state), 10, 64)
	m.merged++
	m.slowest = max(m.slowest, m.s.Now()-time.Duration(sent))
}

// "A stream over a dead link fails as TCP would": when most packets into a member are lost,
// TCP's retransmissions can delay a stream past its sender's deadline, by up to a minute;
// the sender has closed the connection by then, so the request must not reach the member.
// Before, push/pulls arrived up to a minute after their sender had given up (a state that
// old can only be wrong now).
func TestLateStreamsDoNotArrive(t *testing.T) {
	merged := 0
	for seed := uint64(1); seed <= 20; seed++ {
		cfg := DefaultLocalConfig()
		s := NewSimulation(SimOptions{Seed: seed, Config: cfg, Latency: time.Millisecond})
		clocks := []*sendClock{{s: s}, {s: s}, {s: s}}
		for _, c := range clocks {
			s.AddNodeWith(func(conf *Config) { conf.Delegate = c })
		}
		s.Bootstrap()
		s.SetIngressLoss(2, 0.9)
		s.Join(0, 2)
		s.RunFor(2 * time.Minute)
		for i, c := range clocks {
			merged += c.merged
			if c.slowest > cfg.TCPTimeout {
				t.Errorf("seed %d: member %d merged a push/pull sent %.1f s before (TCPTimeout %v)", seed, i, c.slowest.Seconds(), cfg.TCPTimeout)
			}
		}
	}
	require.Positive(t, merged, "some push/pulls got through")
}
