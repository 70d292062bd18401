package memberlist

import (
	"math"
	"sync"

	"github.com/google/btree"
)

// Broadcast is a message that the application wants spread through the cluster by gossip.
// Queue it on a TransmitLimitedQueue, and the queue hands its bytes out a bounded number of
// times, piggybacked on packets that are sent anyway.
type Broadcast interface {
	// Invalidates reports whether this broadcast, now being queued, makes the already
	// queued broadcast b obsolete. An obsolete broadcast is dropped from the queue and its
	// Finished method is called.
	Invalidates(b Broadcast) bool

	// Message returns the bytes to send. The queue reads its length when the broadcast is
	// queued and expects it not to change afterwards.
	Message() []byte

	// Finished is called once the queue is done with the broadcast: it has been sent as
	// many times as the retransmit limit allows, or it was invalidated by a newer
	// broadcast, pruned, or cleared by Reset.
	Finished()
}

// NamedBroadcast is a Broadcast with an identity. Queuing a NamedBroadcast replaces the queued
// NamedBroadcast of the same Name, if there is one, in constant time, instead of asking
// Invalidates about every queued broadcast. A NamedBroadcast neither invalidates broadcasts
// that are not named nor is invalidated by them. A NamedBroadcast whose Name is empty is not
// looked up by name: it is treated as a plain Broadcast when it is queued, though it is still
// immune to plain broadcasts once queued.
//
// Invalidates is not called on a NamedBroadcast by the queue today; to stay correct if that
// changes, make it report true exactly for another NamedBroadcast with the same Name.
type NamedBroadcast interface {
	Broadcast

	// Name identifies what the broadcast is about; a newer broadcast with the same name
	// supersedes it.
	Name() string
}

// UniqueBroadcast is a Broadcast that never supersedes another. Queuing one skips the search
// for broadcasts it would invalidate, and plain broadcasts queued later never invalidate it.
//
// Invalidates is not called on a UniqueBroadcast by the queue today; to stay correct if that
// changes, make it always report false.
type UniqueBroadcast interface {
	Broadcast

	// UniqueBroadcast marks the type; it is never called.
	UniqueBroadcast()
}

// TransmitLimitedQueue holds broadcasts waiting to be gossiped and hands out each one a limited
// number of times: RetransmitMult * ceil(log10(n+1)), where n is what NumNodes returns when
// GetBroadcasts runs, and at least once. Broadcasts sent fewer times go out first, so news
// overtakes what most members have already heard; among broadcasts sent equally often, longer
// messages go first, and among those of equal length the most recently queued.
//
// The zero value with NumNodes and RetransmitMult set is ready to use (a nil NumNodes counts as
// zero members). All methods are safe for concurrent use.
//
// A TransmitLimitedQueue calls Invalidates and Message with its lock held, so they must not call
// the queue. Finished and NumNodes are called without the lock and may call the queue, for
// example to queue a follow-up broadcast. Finished is called before the method that retired
// the broadcast returns.
//
// Unlike hashicorp/memberlist v0.7.0, whose internal ids restart whenever its queue runs empty,
// this queue never gives two queued broadcasts the same id, so a broadcast is never lost
// without Finished being called.
type TransmitLimitedQueue struct {
	// NumNodes reports the number of members in the cluster; the retransmit limit grows with
	// its logarithm.
	NumNodes func() int

	// RetransmitMult scales the retransmit limit. A value of zero or less sends every
	// broadcast exactly once.
	RetransmitMult int

	mu     sync.Mutex
	tree   *btree.BTreeG[*queuedBroadcast] // every queued broadcast, in sending order
	byName map[string]*queuedBroadcast     // the queued named broadcasts, by name
	seq    uint64                          // the id given to the last broadcast queued
}

// queuedBroadcast is a queue entry. Its sending order is by sends so far (fewest first), then
// by message length (longest first), then by id (most recently queued first).
type queuedBroadcast struct {
	b         Broadcast
	name      string // non-empty for a NamedBroadcast that is indexed by name
	transmits int    // times handed out by GetBroadcasts
	size      int    // len(b.Message()) when queued
	seq       uint64 // unique, increasing with queuing order
}

func queuedBefore(x, y *queuedBroadcast) bool {
	if x.transmits != y.transmits {
		return x.transmits < y.transmits
	}
	if x.size != y.size {
		return x.size > y.size
	}
	return x.seq > y.seq
}

// queueTransmitLimit is how many times a broadcast is handed out in a cluster of n members:
// mult * ceil(log10(n+1)), the same formula as hashicorp/memberlist. A result of zero or less
// still lets every broadcast go out once.
func queueTransmitLimit(mult, n int) int {
	if n < 0 {
		n = 0
	}
	return mult * int(math.Ceil(math.Log10(float64(n+1))))
}

// lazyInit creates the internal structures on first use. The caller holds q.mu.
func (q *TransmitLimitedQueue) lazyInit() {
	if q.tree == nil {
		q.tree = btree.NewG(32, queuedBefore)
	}
	if q.byName == nil {
		q.byName = make(map[string]*queuedBroadcast)
	}
}

// lenLocked is the number of queued broadcasts. The caller holds q.mu.
func (q *TransmitLimitedQueue) lenLocked() int {
	if q.tree == nil {
		return 0
	}
	return q.tree.Len()
}

// finishBroadcasts calls Finished on each broadcast in order; callers do it after releasing q.mu.
func finishBroadcasts(done []Broadcast) {
	for _, b := range done {
		b.Finished()
	}
}

// QueueBroadcast adds b to the queue, not yet sent. Queued broadcasts that b supersedes are
// removed and finished first: for a NamedBroadcast, the one queued under the same Name; for a
// UniqueBroadcast, none; for any other broadcast, every queued broadcast that is neither named
// nor unique and for which b.Invalidates reports true.
func (q *TransmitLimitedQueue) QueueBroadcast(b Broadcast) {
	q.enqueue(b, 0)
}

// enqueue is QueueBroadcast with a chosen starting transmit count, which lets tests build a
// queue in any state.
func (q *TransmitLimitedQueue) enqueue(b Broadcast, transmits int) {
	q.mu.Lock()
	done := q.enqueueLocked(b, transmits)
	q.mu.Unlock()
	finishBroadcasts(done)
}

// enqueueLocked does the work of enqueue and returns the broadcasts to finish. The caller
// holds q.mu.
func (q *TransmitLimitedQueue) enqueueLocked(b Broadcast, transmits int) []Broadcast {
	q.lazyInit()
	q.seq++
	e := &queuedBroadcast{b: b, transmits: transmits, size: len(b.Message()), seq: q.seq}

	var done []Broadcast
	switch x := b.(type) {
	case NamedBroadcast:
		e.name = x.Name()
	case UniqueBroadcast:
		q.tree.ReplaceOrInsert(e)
		return nil
	}

	if e.name != "" {
		if old, ok := q.byName[e.name]; ok {
			q.tree.Delete(old)
			done = append(done, old.b)
		}
		q.byName[e.name] = e
		q.tree.ReplaceOrInsert(e)
		return done
	}

	// A plain broadcast: ask it about every queued broadcast that is neither named nor
	// unique. Removal waits until the walk is over, since the tree must not change under it.
	var stale []*queuedBroadcast
	q.tree.Ascend(func(cur *queuedBroadcast) bool {
		switch cur.b.(type) {
		case NamedBroadcast, UniqueBroadcast:
		default:
			if b.Invalidates(cur.b) {
				stale = append(stale, cur)
			}
		}
		return true
	})
	for _, cur := range stale {
		q.tree.Delete(cur)
		done = append(done, cur.b)
	}
	q.tree.ReplaceOrInsert(e)
	return done
}

// GetBroadcasts returns messages to piggyback on one packet whose room for broadcasts is
// limit bytes, where each message also costs overhead bytes. Messages are taken in the
// queue's order (fewest sends, then longest, then newest), skipping any whose length plus
// overhead exceeds the room left and carrying on with the rest, until nothing more fits or the
// room left is no more than overhead. Each message returned counts as one send; a broadcast
// that reaches its retransmit limit leaves the queue and is finished. It returns nil when
// nothing is taken.
func (q *TransmitLimitedQueue) GetBroadcasts(overhead, limit int) [][]byte {
	q.mu.Lock()
	empty := q.lenLocked() == 0
	q.mu.Unlock()
	if empty {
		return nil
	}

	n := 0
	if q.NumNodes != nil {
		n = q.NumNodes()
	}
	maxSends := queueTransmitLimit(q.RetransmitMult, n)

	q.mu.Lock()
	msgs, done := q.takeLocked(overhead, limit, maxSends)
	q.mu.Unlock()
	finishBroadcasts(done)
	return msgs
}

// takeLocked does the work of GetBroadcasts. The caller holds q.mu.
//
// Within one transmit tier the longest message that fits is the first entry at or after a
// probe with the tier's transmit count, a length equal to the room left and the largest id,
// so each message taken costs one tree search rather than a scan of the queue. Taken entries
// leave the tree until the end, so none is taken twice.
func (q *TransmitLimitedQueue) takeLocked(overhead, limit, maxSends int) ([][]byte, []Broadcast) {
	if q.lenLocked() == 0 {
		return nil, nil
	}
	first, _ := q.tree.Min()
	tier := first.transmits

	var (
		msgs   [][]byte
		done   []Broadcast
		resend []*queuedBroadcast
		used   int
	)
	for {
		room := limit - used - overhead
		if room <= 0 {
			break
		}
		var (
			pick    *queuedBroadcast
			pickMsg []byte
			next    = -1 // the next tier with entries, when none in this one fits
		)
		probe := &queuedBroadcast{transmits: tier, size: room, seq: math.MaxUint64}
		q.tree.AscendGreaterOrEqual(probe, func(cur *queuedBroadcast) bool {
			if cur.transmits != tier {
				next = cur.transmits
				return false
			}
			msg := cur.b.Message()
			if len(msg) > room {
				// The message grew since it was queued; pass over it.
				return true
			}
			pick, pickMsg = cur, msg
			return false
		})
		if pick == nil {
			if next < 0 {
				break
			}
			tier = next
			continue
		}

		msgs = append(msgs, pickMsg)
		used += overhead + len(pickMsg)
		q.tree.Delete(pick)
		pick.transmits++
		if pick.transmits >= maxSends {
			if pick.name != "" {
				delete(q.byName, pick.name)
			}
			done = append(done, pick.b)
		} else {
			resend = append(resend, pick)
		}
	}
	for _, e := range resend {
		q.tree.ReplaceOrInsert(e)
	}
	return msgs, done
}

// NumQueued returns how many broadcasts are waiting in the queue.
func (q *TransmitLimitedQueue) NumQueued() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.lenLocked()
}

// Reset empties the queue, calling Finished on every broadcast it held. It is meant for tests.
func (q *TransmitLimitedQueue) Reset() {
	q.mu.Lock()
	var done []Broadcast
	if q.tree != nil {
		done = make([]Broadcast, 0, q.tree.Len())
		q.tree.Ascend(func(cur *queuedBroadcast) bool {
			done = append(done, cur.b)
			return true
		})
	}
	q.tree = nil
	q.byName = nil
	q.seq = 0
	q.mu.Unlock()
	finishBroadcasts(done)
}

// Prune bounds the queue to maxRetain broadcasts, keeping those that come first in sending
// order (fewest sends, then longest message, then most recently queued) and calling Finished
// on the rest, starting from the back. A maxRetain of zero or less empties the queue. Unlike
// hashicorp/memberlist v0.7.0, Prune on a queue that is new or was just Reset does nothing
// rather than panic.
func (q *TransmitLimitedQueue) Prune(maxRetain int) {
	q.mu.Lock()
	var done []Broadcast
	for q.lenLocked() > maxRetain && q.lenLocked() > 0 {
		cur, _ := q.tree.DeleteMax()
		if cur.name != "" {
			delete(q.byName, cur.name)
		}
		done = append(done, cur.b)
	}
	q.mu.Unlock()
	finishBroadcasts(done)
}
