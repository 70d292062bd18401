package swim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestMemoChangesNothing runs the same simulation with the push/pull memo and without it: a
// converged cluster whose push/pulls carry identical tables, a crash that makes them differ,
// and joiners whose tables all differ. The traces (every packet and stream, byte for byte,
// and every event) must be the same, and the memo must have been used, merges of a table
// into its twin skipped included.
func TestMemoChangesNothing(t *testing.T) {
	run := func(memo bool) ([32]byte, SimStats, int, int, int) {
		cfg := DefaultLocalConfig()
		cfg.PushPullInterval = 2 * time.Second
		s := NewSimulation(SimOptions{Seed: 11, Config: cfg, Latency: time.Millisecond, Jitter: time.Millisecond})
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
		return s.TraceSum(), s.Stats(), s.memo.hits, s.memo.same, s.memo.early
	}
	plainTrace, plainStats, plainHits, plainSame, plainEarly := run(false)
	memoTrace, memoStats, memoHits, memoSame, memoEarly := run(true)
	require.Zero(t, plainHits)
	require.Zero(t, plainSame)
	require.Zero(t, plainEarly)
	require.Positive(t, memoEarly, "push/pull states were decoded ahead of their arrival")
	require.Greater(t, memoHits, 100, "the memo answered push/pull work")
	require.Greater(t, memoSame, 20, "merges of identical tables were skipped")
	t.Logf("memo hits %d, identical merges skipped %d, decoded ahead %d", memoHits, memoSame, memoEarly)
	require.Equal(t, plainStats, memoStats)
	require.Equal(t, plainTrace, memoTrace, "same seed, same trace, with the memo or without")
	require.Positive(t, plainStats.StreamBytes)
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
