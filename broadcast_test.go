package swim

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/swim-go/swim/internal/wire"
)

// "a broadcast is retransmitted RetransmitMult * ceil(log10(n+1)) times"
func TestRetransmitLimit(t *testing.T) {
	require.Equal(t, 4, retransmitLimit(4, 1))
	require.Equal(t, 8, retransmitLimit(4, 10))
	require.Equal(t, 12, retransmitLimit(4, 100))
	require.Equal(t, 16, retransmitLimit(4, 1000))

	q := BroadcastQueue{NumNodes: func() int { return 9 }, RetransmitMult: 2}
	finished := 0
	q.QueueBroadcast("a", []byte("hello"), func() { finished++ })
	for i := range 2 {
		require.Len(t, q.GetBroadcasts(2, 100), 1, "send %d", i)
	}
	require.Empty(t, q.GetBroadcasts(2, 100), "retired after the limit")
	require.Equal(t, 1, finished)
}

// "a newer message about a node replaces the older one in the queue"
func TestBroadcastInvalidation(t *testing.T) {
	q := BroadcastQueue{NumNodes: func() int { return 10 }, RetransmitMult: 4}
	replaced := false
	q.QueueBroadcast("a", []byte("old"), func() { replaced = true })
	q.QueueBroadcast("a", []byte("new"), nil)
	q.QueueBroadcast("", []byte("x"), nil)
	q.QueueBroadcast("", []byte("y"), nil)
	require.True(t, replaced)
	require.Equal(t, 3, q.Len())
	got := q.GetBroadcasts(0, 100)
	require.Contains(t, got, []byte("new"))
	require.NotContains(t, got, []byte("old"))
}

// "prefers fewest transmissions": a fresh message goes before one already sent.
func TestBroadcastFewestTransmitsFirst(t *testing.T) {
	q := BroadcastQueue{NumNodes: func() int { return 1000 }, RetransmitMult: 4}
	q.QueueBroadcast("a", []byte("aaaa"), nil)
	require.Len(t, q.GetBroadcasts(0, 4), 1)
	q.QueueBroadcast("b", []byte("bbbb"), nil)
	require.Equal(t, [][]byte{[]byte("bbbb")}, q.GetBroadcasts(0, 4))
}

// floodDelegate offers an endless supply of user broadcasts.
type floodDelegate struct{}

func (floodDelegate) NodeMeta(int) []byte           { return nil }
func (floodDelegate) NotifyMsg([]byte)              {}
func (floodDelegate) LocalState(bool) []byte        { return nil }
func (floodDelegate) MergeRemoteState([]byte, bool) {}
func (floodDelegate) GetBroadcasts(o, limit int) [][]byte {
	var out [][]byte
	for used := 0; used+100+o <= limit; used += 100 + o {
		out = append(out, make([]byte, 100))
	}
	return out
}

// "Leave and refutation messages go out before other gossip, and a flood of user broadcasts
// cannot starve membership news (each packet's budget is shared fairly)."
func TestPacketBudgetSharedFairly(t *testing.T) {
	cfg := DefaultLANConfig()
	cfg.Delegate = floodDelegate{}
	c := testCore(t, cfg)
	for i := range 40 {
		feed(c, aliveMsg(fmt.Sprintf("m%02d", i), 1, ""))
	}
	c.queueSelfNews(c.selfAlive().Append(nil), false, 0)

	parts := c.collectBroadcasts(nil, cfg.UDPBufferSize, "")
	var self, membership, user, used int
	for _, p := range parts {
		used += len(p) + compoundPartOverhead
		switch {
		case wire.MessageType(p[0]) == wire.UserMsg:
			user++
		case wire.MessageType(p[0]) == wire.AliveMsg && string(p[:]) == string(c.selfAlive().Append(nil)):
			self++
		default:
			membership++
		}
	}
	require.Equal(t, 1, self, "this member's own news is in the very first packet")
	require.Greater(t, membership, 5, "membership news is not starved by the user flood")
	require.Greater(t, user, 3, "user broadcasts get their share too")
	require.LessOrEqual(t, used, cfg.UDPBufferSize+user, "the packet stays within its budget")
	require.Equal(t, byte(wire.AliveMsg), parts[0][0])
}

func TestSuspicionTimeout(t *testing.T) {
	lo, hi := suspicionBounds(4, 6, 100, time.Second)
	require.Equal(t, 8*time.Second, lo, "min = SuspicionMult * log10(n) * ProbeInterval")
	require.Equal(t, 48*time.Second, hi, "max = SuspicionMaxTimeoutMult * min")
	lo, _ = suspicionBounds(4, 6, 5, time.Second)
	require.Equal(t, 4*time.Second, lo, "log10 factor is at least 1")
	require.Equal(t, 2, confirmationsWanted(4, 100))
	require.Equal(t, 0, confirmationsWanted(4, 3), "too small a cluster to confirm")

	s := &suspicion{min: 8 * time.Second, max: 48 * time.Second, k: 2, accuser: "a"}
	require.Equal(t, 48*time.Second, s.timeout(), "starts at max")
	require.False(t, s.confirm("a"), "the accuser is not a confirmation")
	require.True(t, s.confirm("b"))
	require.False(t, s.confirm("b"), "each member confirms once")
	require.Equal(t, 22762*time.Millisecond, s.timeout(), "max - ln(2)/ln(3)*(max-min), floored to ms")
	require.True(t, s.confirm("c"))
	require.Equal(t, 8*time.Second, s.timeout(), "k confirmations bring it to min")
	require.False(t, s.confirm("d"), "no more than k confirmations count")
}

// "A compound never holds more than 255 parts": its count is one byte. With UDPBufferSize
// 65,000 and 400 queued alives the count used to wrap, and the receiver dropped the packet.
func TestCompoundAtMost255Parts(t *testing.T) {
	cfg := DefaultLANConfig()
	cfg.UDPBufferSize = 65000
	cfg.EnableCompression = false
	h := newHarness(t, cfg, 2)
	for i := range 400 {
		a := wire.Alive{Incarnation: 1, Node: fmt.Sprintf("m%d", i), Addr: []byte{10, 0, 2, byte(i)}, Port: 7000 + uint16(i), Vsn: []byte{1, 5, 2, 0, 0, 0}}
		h.recv("p1", a.Append(nil))
	}
	h.advance(h.c.cfg.GossipInterval)
	require.NotEmpty(t, h.sent, "the gossip round sends")
	for _, p := range h.sent {
		require.LessOrEqual(t, len(p.msgs), maxCompoundParts, "parts in one packet to %s", p.to)
	}
	_, alives := h.sentOf(wire.AliveMsg)
	require.Greater(t, len(alives), 255, "the rest of the queue went in other packets")
}

// "BroadcastQueue is safe for concurrent use, as memberlist's TransmitLimitedQueue is": a
// ported delegate queues from request goroutines while the protocol loop takes. Run under
// -race, this failed before the queue had its own lock.
func TestBroadcastQueueConcurrentUse(t *testing.T) {
	q := &BroadcastQueue{NumNodes: func() int { return 10 }, RetransmitMult: 3}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				q.QueueBroadcast(fmt.Sprintf("k%d-%d", g, i%50), []byte("update"), nil)
				_ = q.Len()
			}
		}()
	}
	taken := 0
	for range 2000 {
		taken += len(q.GetBroadcasts(3, 1400))
	}
	wg.Wait()
	for q.Len() > 0 {
		taken += len(q.GetBroadcasts(3, 1400))
	}
	require.Positive(t, taken)
}

// modelQueue is the queue's rules written the plain way: a list sorted before every packet.
type modelQueue struct {
	items  []*modelItem
	nextID uint64
	mult   int
	n      int
	// scanned is how many items the last packet looked at.
	scanned int
}

type modelItem struct {
	name   string
	msg    []byte
	tx, id int
	notify func()
}

func (m *modelQueue) queue(name string, msg []byte, notify func()) {
	if name != "" {
		for i, it := range m.items {
			if it.name == name {
				m.items = append(m.items[:i], m.items[i+1:]...)
				if it.notify != nil {
					it.notify()
				}
				break
			}
		}
	}
	m.nextID++
	m.items = append(m.items, &modelItem{name: name, msg: msg, id: int(m.nextID), notify: notify})
}

func (m *modelQueue) get(overhead, limit int) [][]byte {
	slices.SortFunc(m.items, func(a, b *modelItem) int {
		if a.tx != b.tx {
			return a.tx - b.tx
		}
		if len(a.msg) != len(b.msg) {
			return len(b.msg) - len(a.msg)
		}
		return b.id - a.id
	})
	var out [][]byte
	var sent []*modelItem
	used := 0
	m.scanned = 0
	for scanned, it := range m.items {
		if len(out) >= maxCompoundParts {
			break
		}
		if cost := len(it.msg) + overhead; used+cost <= limit {
			used += cost
			out = append(out, it.msg)
			sent = append(sent, it)
		}
		m.scanned = scanned + 1
		if limit-used < overhead+minBroadcastSize || scanned+1 >= maxScan {
			break
		}
	}
	for _, it := range sent {
		it.tx++
		if it.tx >= retransmitLimit(m.mult, m.n) {
			m.items = slices.DeleteFunc(m.items, func(x *modelItem) bool { return x == it })
			if it.notify != nil {
				it.notify()
			}
		}
	}
	return out
}

// TestBroadcastQueueMatchesModel drives the queue and the model with the same random
// operations (many names coming and going, replacements, bursts that grow the queue by
// hundreds and drain it to nothing) and requires the same packets, lengths and retirements.
// The second run's long messages and small packets pass over hundreds of items per packet,
// so that the scan's bound (maxScan) decides where packing stops.
func TestBroadcastQueueMatchesModel(t *testing.T) {
	for _, tc := range []struct {
		names, maxLen, maxLimit int
		scanBound               bool
	}{
		{names: 700, maxLen: 120, maxLimit: 1500},
		{names: 3000, maxLen: 400, maxLimit: 500, scanBound: true},
	} {
		t.Run(fmt.Sprintf("names=%d", tc.names), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 11))
			q := BroadcastQueue{NumNodes: func() int { return 20 }, RetransmitMult: 2}
			m := modelQueue{mult: 2, n: 20}
			var gotRetired, wantRetired []int
			bounded := 0
			for step := range 20000 {
				switch r := rng.IntN(100); {
				case r < 55 || (step/2000)%2 == 0 && r < 90: // every other 2,000 steps, a burst
					name := ""
					if rng.IntN(5) > 0 {
						name = fmt.Sprintf("n%d", rng.IntN(tc.names))
					}
					msg := bytes.Repeat([]byte{byte(step)}, 1+rng.IntN(tc.maxLen))
					var qn, mn func()
					if rng.IntN(3) == 0 {
						qn, mn = func() { gotRetired = append(gotRetired, step) }, func() { wantRetired = append(wantRetired, step) }
					}
					q.QueueBroadcast(name, msg, qn)
					m.queue(name, msg, mn)
				default:
					overhead, limit := rng.IntN(4), rng.IntN(tc.maxLimit)
					want := m.get(overhead, limit)
					if m.scanned >= maxScan {
						bounded++
					}
					require.Equal(t, want, q.GetBroadcasts(overhead, limit), "step %d", step)
				}
				require.Equal(t, len(m.items), q.Len(), "step %d", step)
				require.Equal(t, wantRetired, gotRetired, "step %d", step)
			}
			if tc.scanBound {
				require.Greater(t, bounded, 100, "packets whose packing the scan bound stopped")
			}
			q.Reset()
			require.Zero(t, q.Len())
			require.Len(t, q.slots, 1, "an empty queue gives back its chunks")
		})
	}
}
