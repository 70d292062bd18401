package swim

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/swim-go/swim/internal/wire"
)

// TestMemoChangesNothing runs the same simulation with the push/pull memo and without it: a
// converged cluster whose push/pulls carry identical tables, a crash that makes them differ,
// and joiners whose tables all differ; then what makes alives known to change nothing stop
// being so (memberTable.noops): a crashed member back at a new address, a metadata update,
// a leave and its reaping, lossy links. The traces (every packet and stream, byte for byte,
// and every event) must be the same, and the memo must have been used, merges of a table
// into its twin skipped and alives skipped as old news included.
func TestMemoChangesNothing(t *testing.T) {
	var dups uint64
	run := func(memo bool) ([32]byte, SimStats, int, int, int, int) {
		cfg := DefaultLocalConfig()
		cfg.PushPullInterval = 2 * time.Second
		// Some datagrams arrive twice: the memo hands a packet's plain bytes to its first
		// reader, and the second expands its own.
		s := NewSimulation(SimOptions{Seed: 11, Config: cfg, Latency: time.Millisecond, Jitter: time.Millisecond, Duplicate: 0.05})
		s.noMemo = !memo
		for range 40 {
			s.AddNode()
		}
		s.Bootstrap()
		s.RunFor(10 * time.Second)
		s.Crash(5)
		s.RunFor(10 * time.Second)
		for range 10 {
			i := s.AddNode()
			s.Join(i, 0)
			s.RunFor(100 * time.Millisecond)
		}
		s.RunFor(10 * time.Second)
		s.Restart(5, true)
		s.UpdateMeta(3, []byte("v2"))
		s.Leave(9)
		s.SetIngressLoss(12, 0.3)
		s.RunFor(5 * time.Second)
		s.SetIngressLoss(12, 0)
		s.RunFor(40 * time.Second) // past the leave's reaping (GossipToTheDeadTime)
		dups = s.net.Counters().PacketsDuplicated
		return s.TraceSum(), s.Stats(), s.memo.hits, s.memo.same, s.memo.early, s.memo.noops
	}
	plainTrace, plainStats, plainHits, plainSame, plainEarly, plainNoops := run(false)
	memoTrace, memoStats, memoHits, memoSame, memoEarly, memoNoops := run(true)
	require.Zero(t, plainHits)
	require.Zero(t, plainSame)
	require.Zero(t, plainEarly)
	require.Zero(t, plainNoops)
	require.Greater(t, memoNoops, 1000, "alives were skipped as old news")
	require.Positive(t, memoEarly, "push/pull states were decoded ahead of their arrival")
	require.Greater(t, memoHits, 100, "the memo answered push/pull work")
	require.Greater(t, memoSame, 20, "merges of identical tables were skipped")
	t.Logf("memo hits %d, identical merges skipped %d, decoded ahead %d, alives skipped %d", memoHits, memoSame, memoEarly, memoNoops)
	require.Equal(t, plainStats, memoStats)
	require.Equal(t, plainTrace, memoTrace, "same seed, same trace, with the memo or without")
	require.Positive(t, plainStats.StreamBytes)
	require.Positive(t, dups)
}

// Members bootstrapped together take the first one's table summary from the memo, and it is
// the summary each would have worked out from its own table.
func TestBootstrapSharesTheTableSummary(t *testing.T) {
	s := NewSimulation(SimOptions{Seed: 3})
	for range 30 {
		s.AddNode()
	}
	s.Bootstrap()
	require.Equal(t, 29, s.memo.hits, "every member after the first took the summary")
	for _, n := range s.nodes {
		taken := n.core.members.summary()
		n.core.members.stale = true
		require.Equal(t, n.core.members.summary(), taken, "member %d", n.id)
	}
}

// An alive the table knows to change nothing is skipped only while that holds: once its
// member moves to another address, or is reaped, the same bytes go the whole way again and
// do what they must (a name conflict; a join).
func TestOldNewsSkippedOnlyWhileItChangesNothing(t *testing.T) {
	h := newHarness(t, nil, 3)
	memo := newCodecMemo()
	h.c.memo = memo
	alive := func(name string, inc uint32, addr netip.Addr) *news {
		a := wire.Alive{Incarnation: inc, Node: name, Addr: addr.AsSlice(), Port: 7946, Vsn: []byte{1, 5, 2, 0, 0, 0}}
		n := &news{name: name, msg: a.Append(nil)}
		memo.noteNews(n)
		require.NotZero(t, n.seq)
		return n
	}
	kinds := func() (joins, conflicts int) {
		for _, e := range h.events {
			switch e.kind {
			case evJoin:
				joins++
			case evConflict:
				conflicts++
			}
		}
		return
	}
	p1, p3 := alive("p1", 1, h.addrOf("p1").Addr()), alive("p3", 1, h.addrOf("p3").Addr())

	// Old news: the first receipt walks the whole way and finds nothing to do, the second is
	// skipped.
	for _, n := range []*news{p1, p3} {
		h.recv("p2", n.msg)
		require.True(t, h.c.members.isNoop(n.seq))
		h.recv("p2", n.msg)
	}
	require.Equal(t, 2, memo.noops)

	// p3 leaves and is reaped: its old alive is a join again.
	h.recv("p3", (&wire.Dead{Incarnation: 1, Node: "p3", From: "p3"}).Append(nil))
	h.answering = func(string) bool { return true } // p1 and p2 stay alive
	h.runAnswering(h.c.cfg.GossipToTheDeadTime + time.Minute)
	require.Nil(t, h.c.members.get("p3"), "reaped")
	h.recv("p2", p3.msg)
	joins, _ := kinds()
	require.Equal(t, 1, joins, "the reaped member's alive brings it back")
	require.Equal(t, 2, memo.noops)

	// p1 dies and comes back at another address: its old alive now claims the name from
	// the old address, a conflict the application must hear of.
	h.recv("p2", p1.msg) // old news again: the reaping forgot every alive
	require.True(t, h.c.members.isNoop(p1.seq))
	h.recv("p2", (&wire.Dead{Incarnation: 1, Node: "p1", From: "p2"}).Append(nil))
	require.True(t, h.c.members.isNoop(p1.seq), "dead at the same incarnation: still old news")
	moved := netip.MustParseAddr("10.0.7.1")
	h.recv("p2", alive("p1", 2, moved).msg)
	require.False(t, h.c.members.isNoop(p1.seq))
	h.recv("p2", p1.msg)
	_, conflicts := kinds()
	require.Equal(t, 1, conflicts, "the old address's alive is a conflict again")
	require.Equal(t, 2, memo.noops)
}

// A bootstrapped table holds every other member's alive as old news, never its own.
func TestBootstrapKnowsOldNews(t *testing.T) {
	s := NewSimulation(SimOptions{Seed: 5})
	for range 5 {
		s.AddNode()
	}
	s.Bootstrap()
	seqs := make([]uint32, 5)
	for i, n := range s.nodes {
		a := n.core.self.identity.alive
		require.NotNil(t, a)
		require.NotZero(t, a.seq)
		seqs[i] = a.seq
	}
	for i, n := range s.nodes {
		for j := range s.nodes {
			require.Equal(t, i != j, n.core.members.isNoop(seqs[j]), "member %d, news of %d", i, j)
		}
	}
}
