package swim

// Lifeguard's local health in whole clusters (Lifeguard section 4.1): a member's score rises
// only when it is the one in trouble, never because another member crashed, the network was
// partitioned, or a stranger announced members that do not exist.

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/swim-go/swim/internal/wire"
)

// maxScores runs s until done holds or d passes, and returns whether done held and the
// highest health score each member had, sampled every 10 ms of virtual time.
func maxScores(s *Simulation, d time.Duration, done func() bool) (bool, []int) {
	peak := make([]int, s.Len())
	ok := s.RunUntil(func() bool {
		for i := range s.Len() {
			if s.Running(i) {
				peak[i] = max(peak[i], s.HealthScore(i))
			}
		}
		return done()
	}, 10*time.Millisecond, d)
	return ok, peak
}

func never() bool { return false }

// "One crash raises no healthy survivor's score": with LAN timings the relays' nacks arrive
// after the probe window closes (indirect pings leave at 500 ms, relays wait 500 ms), and
// they must still count; before they did, one crash among 20 raised 8-12 survivors to 3.
func TestCrashRaisesNoSurvivorScore(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		s := newCluster(t, 20, seed, DefaultLANConfig())
		s.RunFor(5 * time.Second)
		s.Crash(7)
		ok, peak := maxScores(s, 60*time.Second, func() bool { return allSee(s, 7, StateDead) })
		require.True(t, ok, "the crash is detected; %s", rerun(t, seed))
		for i, p := range peak {
			if i != 7 {
				require.Zero(t, p, "member %d's health score peaked at %d after another member crashed; %s", i, p, rerun(t, seed))
			}
		}
	}
}

// "A suspicion timer re-armed into the past by a late confirmation is not a loop stall": in a
// 10/10 partition confirmations keep arriving after the shortened deadlines, and each used to
// read as a stalled loop (adding up to 4 points at a time), taking scores to 7. Nothing
// stalls in the simulator, so no member may report a stall.
func TestPartitionIsNoStall(t *testing.T) {
	const seed = 4
	stalls := &countingHandler{match: "protocol loop stalled"}
	s := NewSimulation(SimOptions{Seed: seed, Config: DefaultLANConfig(), Latency: time.Millisecond, Jitter: time.Millisecond, Logger: slog.New(stalls)})
	for range 20 {
		s.AddNode()
	}
	s.Bootstrap()
	s.RunFor(5 * time.Second)
	var a, b []int
	for i := range 20 {
		if i < 10 {
			a = append(a, i)
		} else {
			b = append(b, i)
		}
	}
	s.Partition(a, b)
	_, peak := maxScores(s, 90*time.Second, never)
	t.Logf("measured: peak health scores %v", peak)
	require.Zero(t, stalls.n.Load(), "stalls reported; %s", rerun(t, seed))
	for i, p := range peak {
		// Each member of the other side was a trusted relay until it was suspected, and
		// its silence counts once; answered probes take the score down again. (Over seeds
		// 1-10 the highest peak is 4: the retry of a failed probe asks other relays, so a
		// few more of the other side count before they are suspected.)
		require.LessOrEqual(t, p, 4, "member %d's health score; %s", i, rerun(t, seed))
	}
}

// countingHandler counts log records whose message starts with match.
type countingHandler struct {
	match string
	n     atomic.Int64
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, h.match) {
		h.n.Add(1)
	}
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

// injectFakes announces n members that do not exist to member i, as alive packets from a
// stranger: the hostile suite's fake joins, in the simulator.
func injectFakes(s *Simulation, i, n int) {
	stranger := netip.MustParseAddrPort("10.250.0.1:7946")
	s.net.Attach(stranger, func(time.Time, netip.AddrPort, []byte) {})
	for k := range n {
		a := wire.Alive{Incarnation: 1, Node: fmt.Sprintf("fake-%d", k), Addr: []byte{10, 251, byte(k >> 8), byte(k)}, Port: 7946, Vsn: []byte{1, 5, 2, 0, 0, 0}}
		s.net.Send(stranger, s.nodes[i].addr, a.Append(nil))
	}
}

// "Relays that never answer are not held against the prober": 100 fake members announced to
// a cluster are probed, suspected and cleared, and they are picked as relays meanwhile; the
// victim's score stays at most 1 with the default AwarenessMaxMultiplier, and a real crash
// afterwards is still detected within twice the time it takes in a cluster that never saw a
// fake (a score stuck at 7 would stretch every probe eightfold).
func TestFakeMembersDoNotRaiseScore(t *testing.T) {
	const seed = 5
	detect := func(fakes int) (time.Duration, int) {
		cfg := DefaultLANConfig()
		cfg.ProbeInterval = 200 * time.Millisecond
		cfg.ProbeTimeout = 40 * time.Millisecond
		s := newCluster(t, 4, seed, cfg)
		s.RunFor(2 * time.Second)
		injectFakes(s, 0, fakes)
		s.RunFor(10 * time.Millisecond)
		require.Len(t, s.Members(0), 4+fakes, "the fakes are admitted")
		// The fakes are probed, suspected and declared dead; meanwhile some are picked as
		// relays, and none of them ever nacks.
		cleared, peak := maxScores(s, 5*time.Minute, func() bool { return len(s.Members(0)) == 4 })
		require.True(t, cleared, "every fake is cleared; %s", rerun(t, seed))
		s.Crash(3)
		t0 := s.Now()
		ok := s.RunUntil(func() bool {
			peak[0] = max(peak[0], s.HealthScore(0))
			st, _ := s.State(0, 3)
			return st == StateDead
		}, 10*time.Millisecond, 5*time.Minute)
		require.True(t, ok, "the crash is detected with %d fakes; %s", fakes, rerun(t, seed))
		return s.Now() - t0, peak[0]
	}
	clean, _ := detect(0)
	withFakes, peak := detect(100)
	t.Logf("measured: crash detected in %v without fakes, %v with 100; victim's score peaked at %d", clean, withFakes, peak)
	require.LessOrEqual(t, peak, 1, "the victim's health score")
	require.LessOrEqual(t, withFakes, 2*clean, "detection with fakes within twice the time without")
}
