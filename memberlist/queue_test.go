package memberlist

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// qtLog records, in order, what a queue did to the test broadcasts that share it.
type qtLog struct {
	mu       sync.Mutex
	finished []string // ids, one entry per Finished call
	asked    []string // "new>old" for each Invalidates call
}

func (l *qtLog) finish(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.finished = append(l.finished, id)
}

func (l *qtLog) ask(newID, oldID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.asked = append(l.asked, newID+">"+oldID)
}

// forgetAsked clears the record of Invalidates calls.
func (l *qtLog) forgetAsked() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.asked = nil
}

func (l *qtLog) Finished() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.finished...)
}

func (l *qtLog) Asked() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.asked...)
}

// qtMsg is a plain Broadcast. It reports as stale every queued broadcast for which obsoletes
// returns true.
type qtMsg struct {
	id        string
	body      []byte
	log       *qtLog
	obsoletes func(old Broadcast) bool
}

func (m *qtMsg) Invalidates(old Broadcast) bool {
	m.log.ask(m.id, qtID(old))
	return m.obsoletes != nil && m.obsoletes(old)
}

func (m *qtMsg) Message() []byte { return m.body }
func (m *qtMsg) Finished()       { m.log.finish(m.id) }

// qtNamed is a NamedBroadcast.
type qtNamed struct {
	*qtMsg
	name string
}

func (n *qtNamed) Name() string { return n.name }

// qtUnique is a UniqueBroadcast.
type qtUnique struct{ *qtMsg }

func (qtUnique) UniqueBroadcast() {}

func qtID(b Broadcast) string {
	switch x := b.(type) {
	case *qtMsg:
		return x.id
	case *qtNamed:
		return x.id
	case qtUnique:
		return x.id
	}
	return fmt.Sprintf("%T", b)
}

func qtPlain(log *qtLog, id, body string) *qtMsg {
	return &qtMsg{id: id, body: []byte(body), log: log}
}

func qtName(log *qtLog, id, name, body string) *qtNamed {
	return &qtNamed{qtMsg: qtPlain(log, id, body), name: name}
}

func qtUniq(log *qtLog, id, body string) qtUnique {
	return qtUnique{qtPlain(log, id, body)}
}

// qtAll obsoletes every queued broadcast it is asked about.
func qtAll(Broadcast) bool { return true }

func qtStrings(msgs [][]byte) []string {
	if msgs == nil {
		return nil
	}
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = string(m)
	}
	return out
}

// qtQueue returns a queue whose retransmit limit is mult * ceil(log10(nodes+1)).
func qtQueue(mult, nodes int) *TransmitLimitedQueue {
	return &TransmitLimitedQueue{RetransmitMult: mult, NumNodes: func() int { return nodes }}
}

// qtDrain sends everything with room for all and returns the packets, one slice per call.
func qtDrain(t *testing.T, q *TransmitLimitedQueue) [][]string {
	t.Helper()
	var packets [][]string
	for i := 0; q.NumQueued() > 0; i++ {
		require.Less(t, i, 1000, "queue does not drain")
		packets = append(packets, qtStrings(q.GetBroadcasts(0, 1<<20)))
	}
	return packets
}

func TestQueueTransmitLimitFormula(t *testing.T) {
	for _, c := range []struct{ mult, n, want int }{
		{3, 0, 0},
		{3, 1, 3},
		{3, 2, 3},
		{3, 9, 3},
		{3, 10, 6},
		{3, 50, 6},
		{3, 99, 6},
		{3, 100, 9},
		{3, 999, 9},
		{3, 1000, 12},
		{1, 100000, 6},
		{4, 5, 4},
		{0, 500, 0},
		{2, -7, 0},
	} {
		require.Equal(t, c.want, queueTransmitLimit(c.mult, c.n), "mult %d, n %d", c.mult, c.n)
	}
}

func TestQueueSendsEachBroadcastItsLimit(t *testing.T) {
	for _, c := range []struct{ mult, nodes, sends int }{
		{1, 1, 1},
		{2, 1, 2},
		{2, 9, 2},
		{2, 10, 4},
		{3, 150, 9},
		{0, 150, 1},  // a limit of zero still sends once
		{-2, 150, 1}, // as does a negative one
		{5, 0, 1},
	} {
		t.Run(fmt.Sprintf("mult%d_nodes%d", c.mult, c.nodes), func(t *testing.T) {
			log := &qtLog{}
			q := qtQueue(c.mult, c.nodes)
			q.QueueBroadcast(qtPlain(log, "m", "payload"))
			for i := 0; i < c.sends; i++ {
				require.Empty(t, log.Finished(), "finished before its last send")
				require.Equal(t, []string{"payload"}, qtStrings(q.GetBroadcasts(0, 100)), "send %d", i+1)
			}
			require.Equal(t, []string{"m"}, log.Finished())
			require.Zero(t, q.NumQueued())
			require.Nil(t, q.GetBroadcasts(0, 100))
		})
	}
}

func TestQueueLimitUsesNumNodesAtSendTime(t *testing.T) {
	log := &qtLog{}
	nodes := 100 // limit 3
	q := &TransmitLimitedQueue{RetransmitMult: 1, NumNodes: func() int { return nodes }}
	q.QueueBroadcast(qtPlain(log, "m", "x"))
	require.Len(t, q.GetBroadcasts(0, 10), 1)
	require.Len(t, q.GetBroadcasts(0, 10), 1)
	require.Empty(t, log.Finished())

	nodes = 1 // limit 1, already passed
	require.Len(t, q.GetBroadcasts(0, 10), 1)
	require.Equal(t, []string{"m"}, log.Finished())
	require.Zero(t, q.NumQueued())
}

func TestQueueZeroValue(t *testing.T) {
	var calls int
	q := &TransmitLimitedQueue{RetransmitMult: 2, NumNodes: func() int { calls++; return 3 }}
	require.Zero(t, q.NumQueued())
	require.Nil(t, q.GetBroadcasts(0, 1000))
	require.Zero(t, calls, "NumNodes is not consulted for an empty queue")
	q.Prune(0)
	q.Reset()
	q.Prune(5)

	log := &qtLog{}
	q.QueueBroadcast(qtPlain(log, "a", "hello"))
	require.Equal(t, 1, q.NumQueued())
	require.Equal(t, []string{"hello"}, qtStrings(q.GetBroadcasts(0, 1000)))
	require.Equal(t, 1, calls)

	// Without NumNodes the cluster counts as empty: every broadcast goes out once.
	var bare TransmitLimitedQueue
	bare.QueueBroadcast(qtPlain(log, "b", "bye"))
	require.Equal(t, []string{"bye"}, qtStrings(bare.GetBroadcasts(0, 1000)))
	require.Equal(t, []string{"b"}, log.Finished())
	require.Zero(t, bare.NumQueued())
}

func TestQueueOrderFewestSendsThenNewest(t *testing.T) {
	log := &qtLog{}
	q := qtQueue(2, 5) // limit 2
	for _, id := range []string{"one", "two", "six"} {
		q.QueueBroadcast(qtPlain(log, id, id))
	}
	// Room for a single message per packet: the newest unsent one goes first, and one that
	// has been sent waits until every unsent one has had its turn.
	var got []string
	for q.NumQueued() > 0 {
		got = append(got, qtStrings(q.GetBroadcasts(0, 3))...)
	}
	require.Equal(t, []string{"six", "two", "one", "six", "two", "one"}, got)

	// A newcomer overtakes broadcasts that were already sent once.
	q.QueueBroadcast(qtPlain(log, "old", "old"))
	q.QueueBroadcast(qtPlain(log, "mid", "mid"))
	require.Equal(t, []string{"mid"}, qtStrings(q.GetBroadcasts(0, 3)))
	require.Equal(t, []string{"old"}, qtStrings(q.GetBroadcasts(0, 3)))
	q.QueueBroadcast(qtPlain(log, "new", "new"))
	require.Equal(t, []string{"new"}, qtStrings(q.GetBroadcasts(0, 3)))
	require.Equal(t, []string{"new", "mid", "old"}, qtStrings(q.GetBroadcasts(0, 100)))
	require.Zero(t, q.NumQueued())
}

func TestQueueOrderWithinATier(t *testing.T) {
	log := &qtLog{}
	q := qtQueue(10, 10)
	// Within one transmit count, longer messages go first, then the newest of equal length.
	q.enqueue(qtPlain(log, "a", "aaa"), 0)
	q.enqueue(qtPlain(log, "b", "bbb"), 0)
	q.enqueue(qtPlain(log, "c", "ccccc"), 0)
	q.enqueue(qtPlain(log, "d", "ddddddddd"), 1)
	q.enqueue(qtPlain(log, "e", "e"), 2)
	q.enqueue(qtPlain(log, "f", "fffffffff"), 1)
	q.enqueue(qtPlain(log, "g", ""), 0)
	q.enqueue(qtPlain(log, "h", "hh"), 7)
	require.Equal(t,
		[]string{"ccccc", "bbb", "aaa", "", "fffffffff", "ddddddddd", "e", "hh"},
		qtStrings(q.GetBroadcasts(0, 1000)))
}

func TestQueueRespectsSizeLimit(t *testing.T) {
	build := func() (*TransmitLimitedQueue, *qtLog) {
		log := &qtLog{}
		q := qtQueue(5, 5)
		q.QueueBroadcast(qtPlain(log, "ten", "0123456789"))
		q.QueueBroadcast(qtPlain(log, "six", "abcdef"))
		q.QueueBroadcast(qtPlain(log, "three", "xyz"))
		return q, log
	}
	for _, c := range []struct {
		name            string
		overhead, limit int
		want            []string
	}{
		{"everything fits", 1, 22, []string{"0123456789", "abcdef", "xyz"}},
		{"everything fits with room to spare", 0, 500, []string{"0123456789", "abcdef", "xyz"}},
		{"overhead counts per message", 2, 24, []string{"0123456789", "abcdef"}},
		{"a big one is skipped and smaller ones follow", 1, 15, []string{"0123456789", "xyz"}},
		{"the first may be too big", 0, 9, []string{"abcdef", "xyz"}},
		{"only the smallest fits", 1, 6, []string{"xyz"}},
		{"exact fit", 0, 3, []string{"xyz"}},
		{"one byte short", 1, 3, nil},
		{"no room beyond the overhead", 4, 4, nil},
		{"limit below the overhead", 5, 4, nil},
		{"zero limit", 0, 0, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			q, log := build()
			require.Equal(t, c.want, qtStrings(q.GetBroadcasts(c.overhead, c.limit)))
			require.Equal(t, 3, q.NumQueued())
			require.Empty(t, log.Finished())
		})
	}
}

func TestQueueEmptyMessageNeedsRoomBeyondOverhead(t *testing.T) {
	log := &qtLog{}
	q := qtQueue(1, 1)
	q.QueueBroadcast(qtPlain(log, "empty", ""))
	// Like memberlist, the queue stops once the room left is no more than the overhead, so
	// even an empty message needs one spare byte.
	require.Nil(t, q.GetBroadcasts(2, 2))
	require.Equal(t, []string{""}, qtStrings(q.GetBroadcasts(2, 3)))
	require.Equal(t, []string{"empty"}, log.Finished())
}

func TestQueueSkippedMessagesKeepTheirPlace(t *testing.T) {
	log := &qtLog{}
	q := qtQueue(1, 50) // limit 2
	q.QueueBroadcast(qtPlain(log, "big", "BIGBIGBIG"))
	q.QueueBroadcast(qtPlain(log, "small", "s"))
	q.enqueue(qtPlain(log, "sent", "tt"), 1)

	// Only small ones fit: the unsent small one first, then the one sent before (another
	// tier), while the big one waits unsent.
	require.Equal(t, []string{"s", "tt"}, qtStrings(q.GetBroadcasts(0, 4)))
	require.Equal(t, []string{"sent"}, log.Finished(), "a send that reaches the limit finishes it")

	// The big one was not counted as sent, so it now leads.
	require.Equal(t, []string{"BIGBIGBIG", "s"}, qtStrings(q.GetBroadcasts(0, 100)))
	require.Equal(t, []string{"sent", "small"}, log.Finished())
	require.Equal(t, []string{"BIGBIGBIG"}, qtStrings(q.GetBroadcasts(0, 100)))
	require.Equal(t, []string{"sent", "small", "big"}, log.Finished())
	require.Zero(t, q.NumQueued())
}

func TestQueueMessageThatGrewIsPassedOver(t *testing.T) {
	log := &qtLog{}
	q := qtQueue(3, 3)
	grows := qtPlain(log, "grows", "ab")
	q.QueueBroadcast(grows)
	q.QueueBroadcast(qtPlain(log, "fixed", "c"))
	grows.body = []byte("abcdefgh")
	require.Equal(t, []string{"c"}, qtStrings(q.GetBroadcasts(0, 5)))
	require.Equal(t, []string{"abcdefgh", "c"}, qtStrings(q.GetBroadcasts(0, 100)))
}

func TestQueuePlainInvalidatesPlain(t *testing.T) {
	log := &qtLog{}
	q := qtQueue(3, 3)
	q.QueueBroadcast(qtPlain(log, "a1", "a1"))
	q.QueueBroadcast(qtPlain(log, "b1", "b1"))
	q.QueueBroadcast(qtPlain(log, "a2", "a2"))
	// Each is asked about those queued before it, in sending order, and obsoletes none.
	require.Equal(t, []string{"b1>a1", "a2>b1", "a2>a1"}, log.Asked())
	require.Empty(t, log.Finished())
	log.forgetAsked()

	// a3 obsoletes every queued "a" message and nothing else.
	a3 := qtPlain(log, "a3", "a3")
	a3.obsoletes = func(old Broadcast) bool { return strings.HasPrefix(qtID(old), "a") }
	q.QueueBroadcast(a3)

	require.Equal(t, []string{"a3>a2", "a3>b1", "a3>a1"}, log.Asked())
	require.Equal(t, []string{"a2", "a1"}, log.Finished())
	require.Equal(t, 2, q.NumQueued())
	require.Equal(t, []string{"a3", "b1"}, qtStrings(q.GetBroadcasts(0, 100)))
}

func TestQueuePlainLeavesNamedAndUniqueAlone(t *testing.T) {
	log := &qtLog{}
	q := qtQueue(3, 3)
	q.QueueBroadcast(qtName(log, "n", "node1", "n"))
	q.QueueBroadcast(qtUniq(log, "u", "u"))
	q.QueueBroadcast(qtName(log, "anon", "", "anon")) // named, even with an empty name
	q.QueueBroadcast(qtPlain(log, "p", "p"))

	greedy := qtPlain(log, "g", "g")
	greedy.obsoletes = qtAll
	q.QueueBroadcast(greedy)

	require.Equal(t, []string{"g>p"}, log.Asked())
	require.Equal(t, []string{"p"}, log.Finished())
	require.Equal(t, 4, q.NumQueued())
}

func TestQueueNamedReplacesSameName(t *testing.T) {
	log := &qtLog{}
	q := qtQueue(3, 3)
	for i := range 50 {
		q.QueueBroadcast(qtPlain(log, fmt.Sprintf("p%d", i), "p"))
	}
	first := qtName(log, "first", "node7", "suspect node7")
	first.obsoletes = qtAll
	q.QueueBroadcast(first)
	q.QueueBroadcast(qtName(log, "other", "node8", "alive node8"))
	require.Equal(t, 52, q.NumQueued())
	log.forgetAsked()

	second := qtName(log, "second", "node7", "alive node7")
	second.obsoletes = qtAll
	q.QueueBroadcast(second)

	require.Empty(t, log.Asked(), "a named broadcast is matched by name, not by Invalidates")
	require.Equal(t, []string{"first"}, log.Finished())
	require.Equal(t, 52, q.NumQueued())

	var got []string
	for _, m := range qtStrings(q.GetBroadcasts(0, 1000)) {
		if m != "p" {
			got = append(got, m)
		}
	}
	require.Equal(t, []string{"alive node7", "alive node8"}, got)
}

func TestQueueNamedReplacementStartsAfresh(t *testing.T) {
	log := &qtLog{}
	q := qtQueue(3, 3) // limit 3
	q.QueueBroadcast(qtName(log, "v1", "key", "v1"))
	q.QueueBroadcast(qtPlain(log, "other", "ot"))
	require.Equal(t, []string{"ot", "v1"}, qtStrings(q.GetBroadcasts(0, 100)))
	require.Equal(t, []string{"ot", "v1"}, qtStrings(q.GetBroadcasts(0, 100)))

	// v2 replaces v1, which was sent twice, and is itself sent three times.
	q.QueueBroadcast(qtName(log, "v2", "key", "v2"))
	require.Equal(t, []string{"v1"}, log.Finished())
	require.Equal(t, [][]string{{"v2", "ot"}, {"v2"}, {"v2"}}, qtDrain(t, q))
	require.Equal(t, []string{"v1", "other", "v2"}, log.Finished())
}

func TestQueueNamedDifferentNamesCoexist(t *testing.T) {
	log := &qtLog{}
	q := qtQueue(3, 3)
	q.QueueBroadcast(qtName(log, "x", "x", "x"))
	q.QueueBroadcast(qtName(log, "y", "y", "y"))
	q.QueueBroadcast(qtName(log, "x2", "x", "X"))
	q.QueueBroadcast(qtName(log, "y2", "y", "Y"))
	q.QueueBroadcast(qtName(log, "x3", "x", "!"))
	require.Equal(t, 2, q.NumQueued())
	require.Equal(t, []string{"x", "y", "x2"}, log.Finished())
	require.Equal(t, []string{"!", "Y"}, qtStrings(q.GetBroadcasts(0, 100)))
}

func TestQueueEmptyNameTakesThePlainPath(t *testing.T) {
	log := &qtLog{}
	q := qtQueue(3, 3)
	q.QueueBroadcast(qtPlain(log, "p", "p"))
	q.QueueBroadcast(qtName(log, "n", "name", "n"))
	q.QueueBroadcast(qtName(log, "e1", "", "e1"))
	require.Equal(t, []string{"e1>p"}, log.Asked())
	log.forgetAsked()

	e2 := qtName(log, "e2", "", "e2")
	e2.obsoletes = qtAll
	q.QueueBroadcast(e2)

	// An empty name is not an identity: e2 is asked about plain broadcasts only, and does not
	// replace e1.
	require.Equal(t, []string{"e2>p"}, log.Asked())
	require.Equal(t, []string{"p"}, log.Finished())
	require.Equal(t, 3, q.NumQueued())
}

func TestQueueUniqueNeverInvalidates(t *testing.T) {
	log := &qtLog{}
	q := qtQueue(3, 3)
	q.QueueBroadcast(qtPlain(log, "p", "same"))
	q.QueueBroadcast(qtName(log, "n", "same", "same"))
	for i := range 3 {
		u := qtUniq(log, fmt.Sprintf("u%d", i), "same")
		u.obsoletes = qtAll
		q.QueueBroadcast(u)
	}
	require.Empty(t, log.Asked())
	require.Empty(t, log.Finished())
	require.Equal(t, 5, q.NumQueued())

	// Nor is a queued unique broadcast invalidated by a plain one.
	greedy := qtPlain(log, "g", "g")
	greedy.obsoletes = qtAll
	q.QueueBroadcast(greedy)
	require.Equal(t, []string{"g>p"}, log.Asked())
	require.Equal(t, []string{"p"}, log.Finished())
	require.Equal(t, 5, q.NumQueued())
}

// qtBoth is both a NamedBroadcast and a UniqueBroadcast.
type qtBoth struct{ *qtNamed }

func (qtBoth) UniqueBroadcast() {}

func TestQueueNamedAndUniqueIsNamed(t *testing.T) {
	log := &qtLog{}
	q := qtQueue(3, 3)
	q.QueueBroadcast(qtBoth{qtName(log, "first", "k", "first")})
	q.QueueBroadcast(qtBoth{qtName(log, "second", "k", "second")})
	require.Equal(t, []string{"first"}, log.Finished(), "the name wins")
	require.Equal(t, 1, q.NumQueued())
}

func TestQueuePrune(t *testing.T) {
	build := func() (*TransmitLimitedQueue, *qtLog) {
		log := &qtLog{}
		q := qtQueue(10, 10)
		q.enqueue(qtPlain(log, "t2", "t2"), 2)
		q.enqueue(qtPlain(log, "t0-old", "aa"), 0)
		q.enqueue(qtName(log, "t1", "named", "t1"), 1)
		q.enqueue(qtPlain(log, "t0-long", "aaaa"), 0)
		q.enqueue(qtPlain(log, "t0-new", "aa"), 0)
		q.enqueue(qtPlain(log, "t5", "t5"), 5)
		return q, log
	}
	order := []string{"t0-long", "t0-new", "t0-old", "t1", "t2", "t5"}

	for keep := -1; keep <= len(order)+1; keep++ {
		t.Run(fmt.Sprint(keep), func(t *testing.T) {
			q, log := build()
			q.Prune(keep)
			kept := order[:max(0, min(keep, len(order)))]
			require.Equal(t, len(kept), q.NumQueued())

			// The dropped ones are finished from the back of the queue forwards.
			var dropped []string
			for i := len(order) - 1; i >= len(kept); i-- {
				dropped = append(dropped, order[i])
			}
			if len(dropped) == 0 {
				require.Empty(t, log.Finished())
			} else {
				require.Equal(t, dropped, log.Finished())
			}

			sent := qtStrings(q.GetBroadcasts(0, 1000))
			var want []string
			for _, id := range kept {
				want = append(want, map[string]string{
					"t0-long": "aaaa", "t0-new": "aa", "t0-old": "aa", "t1": "t1", "t2": "t2", "t5": "t5",
				}[id])
			}
			require.Equal(t, want, sent)
		})
	}
}

func TestQueuePruneForgetsNames(t *testing.T) {
	log := &qtLog{}
	q := qtQueue(3, 3)
	q.QueueBroadcast(qtName(log, "old", "k", "old"))
	q.Prune(0)
	require.Equal(t, []string{"old"}, log.Finished())
	q.QueueBroadcast(qtName(log, "new", "k", "new"))
	require.Equal(t, []string{"old"}, log.Finished(), "a pruned broadcast is not finished twice")
	require.Equal(t, 1, q.NumQueued())
}

func TestQueueReset(t *testing.T) {
	log := &qtLog{}
	q := qtQueue(3, 3)
	q.enqueue(qtPlain(log, "late", "l"), 2)
	q.QueueBroadcast(qtName(log, "named", "k", "n"))
	q.QueueBroadcast(qtUniq(log, "unique", "uu"))
	q.QueueBroadcast(qtPlain(log, "plain", "p"))

	q.Reset()
	require.Zero(t, q.NumQueued())
	require.Equal(t, []string{"unique", "plain", "named", "late"}, log.Finished(), "in sending order")
	require.Nil(t, q.GetBroadcasts(0, 100))

	// The queue works as new afterwards, and has forgotten the names.
	q.QueueBroadcast(qtName(log, "again", "k", "again"))
	require.Len(t, log.Finished(), 4)
	require.Equal(t, []string{"again"}, qtStrings(q.GetBroadcasts(0, 100)))
	q.Reset()
	require.Equal(t, []string{"unique", "plain", "named", "late", "again"}, log.Finished())
	q.Reset()
	require.Len(t, log.Finished(), 5)
}

// hashicorp/memberlist v0.7.0 restarts its ids when its queue runs empty, even while an entry
// it has just taken out is about to go back in; two entries can then share an id and one
// silently replaces the other. This queue keeps every broadcast.
func TestQueueNoBroadcastIsLostWhenTheQueueRunsEmpty(t *testing.T) {
	t.Run("after a send", func(t *testing.T) {
		log := &qtLog{}
		q := qtQueue(3, 3) // limit 3
		q.QueueBroadcast(qtPlain(log, "a", "a"))
		require.Equal(t, []string{"a"}, qtStrings(q.GetBroadcasts(0, 100)))
		q.QueueBroadcast(qtPlain(log, "b", "b"))
		require.Equal(t, []string{"b"}, qtStrings(q.GetBroadcasts(0, 1)))
		require.Equal(t, 2, q.NumQueued())
		require.Equal(t, [][]string{{"b", "a"}, {"b", "a"}}, qtDrain(t, q))
		require.Equal(t, []string{"b", "a"}, log.Finished())
	})
	t.Run("after a replacement", func(t *testing.T) {
		log := &qtLog{}
		q := qtQueue(3, 10)
		q.QueueBroadcast(qtName(log, "x1", "x", "x"))
		q.QueueBroadcast(qtName(log, "x2", "x", "y"))
		q.QueueBroadcast(qtName(log, "z", "z", "z"))
		q.QueueBroadcast(qtName(log, "w", "w", "w"))
		require.Equal(t, 3, q.NumQueued())
		require.Equal(t, []string{"w", "z", "y"}, qtStrings(q.GetBroadcasts(0, 100)))
		require.Equal(t, []string{"x1"}, log.Finished())
	})
}

// qtReentrant calls the queue from its Finished method.
type qtReentrant struct {
	q     *TransmitLimitedQueue
	msg   string
	depth int
	seen  *[]int
}

func (r *qtReentrant) Invalidates(Broadcast) bool { return false }
func (r *qtReentrant) Message() []byte            { return []byte(r.msg) }
func (r *qtReentrant) UniqueBroadcast()           {}
func (r *qtReentrant) Finished() {
	*r.seen = append(*r.seen, r.q.NumQueued())
	if r.depth > 0 {
		r.q.QueueBroadcast(&qtReentrant{q: r.q, msg: r.msg + "+", depth: r.depth - 1, seen: r.seen})
	}
}

func TestQueueCallbacksMayCallTheQueue(t *testing.T) {
	done := make(chan struct{})
	var seen []int
	var packets [][]string
	go func() {
		defer close(done)
		q := &TransmitLimitedQueue{RetransmitMult: 1}
		q.NumNodes = func() int { return q.NumQueued() }
		q.QueueBroadcast(&qtReentrant{q: q, msg: "m", depth: 2, seen: &seen})
		for i := 0; i < 10 && q.NumQueued() > 0; i++ {
			packets = append(packets, qtStrings(q.GetBroadcasts(0, 100)))
		}
		q.QueueBroadcast(&qtReentrant{q: q, msg: "r", seen: &seen})
		q.Reset()
		q.QueueBroadcast(&qtReentrant{q: q, msg: "p", seen: &seen})
		q.Prune(0)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("deadlock: a callback could not call the queue")
	}
	require.Equal(t, [][]string{{"m"}, {"m+"}, {"m++"}}, packets)
	require.Equal(t, []int{0, 0, 0, 0, 0}, seen)
}

// qtCounted counts its Finished calls.
type qtCounted struct {
	name     string
	body     []byte
	finished atomic.Int32
}

func (m *qtCounted) Invalidates(old Broadcast) bool {
	o, ok := old.(*qtCounted)
	return ok && o.name == m.name
}
func (m *qtCounted) Message() []byte { return m.body }
func (m *qtCounted) Finished()       { m.finished.Add(1) }

type qtCountedNamed struct{ *qtCounted }

func (m qtCountedNamed) Name() string { return m.name }

type qtCountedUnique struct{ *qtCounted }

func (qtCountedUnique) UniqueBroadcast() {}

func TestQueueConcurrentUse(t *testing.T) {
	const writers, perWriter = 8, 300
	q := qtQueue(2, 20)
	all := make([][]*qtCounted, writers)

	var wg sync.WaitGroup
	var stop atomic.Bool
	var readers sync.WaitGroup
	for r := range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for !stop.Load() {
				msgs := q.GetBroadcasts(3, 60+r*40)
				size := 0
				for _, m := range msgs {
					size += 3 + len(m)
				}
				if size > 60+r*40 {
					t.Errorf("a packet of %d bytes is over its limit of %d", size, 60+r*40)
				}
				_ = q.NumQueued()
				if r == 0 {
					q.Prune(500)
				}
			}
		}()
	}
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				m := &qtCounted{
					name: fmt.Sprintf("k%d", i%40), // shared by writers, so they replace each other's
					body: []byte(strings.Repeat("x", 1+(w*perWriter+i)%17)),
				}
				all[w] = append(all[w], m)
				switch i % 3 {
				case 0:
					q.QueueBroadcast(m)
				case 1:
					q.QueueBroadcast(qtCountedNamed{m})
				default:
					q.QueueBroadcast(qtCountedUnique{m})
				}
			}
		}()
	}
	wg.Wait()
	stop.Store(true)
	readers.Wait()

	for i := 0; q.NumQueued() > 0; i++ {
		require.Less(t, i, 10000)
		q.GetBroadcasts(0, 1000)
	}
	for w := range all {
		for i, m := range all[w] {
			require.EqualValues(t, 1, m.finished.Load(), "writer %d broadcast %d", w, i)
		}
	}
}

func TestQueueManyQueued(t *testing.T) {
	const n = 5000
	q := qtQueue(1, 5) // limit 1
	var msgs []*qtCounted
	for i := range n {
		m := &qtCounted{body: []byte(fmt.Sprintf("%05d", i))}
		msgs = append(msgs, m)
		q.QueueBroadcast(qtCountedUnique{m})
	}
	// Ten per packet, newest first.
	for p := range n / 10 {
		got := q.GetBroadcasts(1, 60)
		require.Len(t, got, 10)
		require.Equal(t, fmt.Sprintf("%05d", n-1-10*p), string(got[0]))
	}
	require.Zero(t, q.NumQueued())
	for _, m := range msgs {
		require.EqualValues(t, 1, m.finished.Load())
	}
}

func BenchmarkQueueGetBroadcasts(b *testing.B) {
	q := qtQueue(4, 1000)
	for i := range 5000 {
		q.QueueBroadcast(qtCountedUnique{&qtCounted{body: make([]byte, 20+i%200)}})
	}
	b.ResetTimer()
	for range b.N {
		if q.GetBroadcasts(2, 1400) == nil {
			b.Fatal("queue ran dry")
		}
		q.QueueBroadcast(qtCountedUnique{&qtCounted{body: make([]byte, 50)}})
	}
}

// queueExampleState is what an application might gossip: the latest known state of one member.
// Naming it after the member lets a newer state replace an older one still in the queue.
type queueExampleState struct {
	member, state string
}

func (s *queueExampleState) Invalidates(old Broadcast) bool {
	o, ok := old.(*queueExampleState)
	return ok && o.member == s.member
}
func (s *queueExampleState) Name() string    { return s.member }
func (s *queueExampleState) Message() []byte { return []byte(s.member + " " + s.state) }
func (s *queueExampleState) Finished()       { fmt.Printf("finished: %s\n", s.Message()) }

func ExampleTransmitLimitedQueue() {
	q := &TransmitLimitedQueue{
		NumNodes:       func() int { return 5 }, // with RetransmitMult 2: two sends each
		RetransmitMult: 2,
	}
	q.QueueBroadcast(&queueExampleState{"alpha", "alive"})
	q.QueueBroadcast(&queueExampleState{"beta", "alive"})
	q.QueueBroadcast(&queueExampleState{"alpha", "left"}) // replaces "alpha alive"
	fmt.Println("queued:", q.NumQueued())

	// Each packet has room for 20 bytes of broadcasts, of which each message costs 4 more
	// than its length. A broadcast is finished during the call that sends it the last time.
	for packet := 1; q.NumQueued() > 0; packet++ {
		fmt.Printf("packet %d: %q\n", packet, q.GetBroadcasts(4, 20))
	}
	// Output:
	// finished: alpha alive
	// queued: 2
	// packet 1: ["alpha left"]
	// packet 2: ["beta alive"]
	// finished: alpha left
	// packet 3: ["alpha left"]
	// finished: beta alive
	// packet 4: ["beta alive"]
}
