package swim

// Dissemination piggybacks news on packets that are sent anyway. Every accepted alive,
// suspect or dead message goes into a retransmit-limited queue: each packet carries as many
// queued messages as fit, preferring those sent fewest times, and a message is retired after
// enough sends for an epidemic to reach every member with high probability. A newer message
// about a member replaces the queued one, since the older one can only be wrong now.
//
// How many sends is enough: every member that has the news sends it λ times to members
// picked at random, so each member receives about λ copies, and misses all of them with
// probability about e^-λ; a change reaches all n members with probability about
// 1 - n e^-λ. memberlist's λ = RetransmitMult * ceil(log10(n+1)) is 2 for Local timings at
// n = 8 and 6 at n = 128, and a member that misses a leave or a death holds the old state
// until a periodic push/pull, 15-60 s later: over 100 simulated leaves with Local timings,
// 40 at n = 8 and 17 at n = 128 reached their last member more than 1.5 s late. Deaths and
// leaves are therefore sent at least ln(n+1) + 7 times, which leaves a straggler in about
// one change in a thousand. So are joins (an alive for a member new to the sender, or back
// from the dead): a joiner's follow-up push/pulls tell it what it missed, but not a member
// that missed the joiner, and with Local timings one member in 100 did not know a newcomer
// for 6.9 s, its hash ring placing keys differently meanwhile. Suspicions, refutations and
// updates keep memberlist's count: under loss they are most of the traffic, and a missed
// refutation is caught up by the last calls. The application's broadcasts keep
// memberlist's count too.
//
// This member's own news (refutations, its leave, its metadata updates) goes first: a member
// that is being accused must be heard before anything else. The rest of the budget is shared
// fairly with the application's broadcasts: membership news may take half of a packet before
// user broadcasts get their turn, and either may use what the other leaves, so a flood of user
// broadcasts cannot starve failure detection, nor the reverse.

import (
	"math"
	"sync"

	"github.com/google/btree"
)

// compoundPartOverhead is what each part of a compound message costs beyond its bytes: its
// u16 length entry. A user broadcast also needs its type byte.
const (
	compoundPartOverhead = 2
	userPartOverhead     = 3
)

// broadcastItem is one queued message.
type broadcastItem struct {
	name      string // what the message is about; "" for messages that replace nothing
	msg       []byte
	transmits int
	id        uint64 // queue order: higher is newer
	priority  bool   // this member's own news
	packet    uint64 // the last packet it was put in
	notify    func() // called once when the item is retired or replaced
	final     bool   // a death, a leave or a join: sent finalTransmits times
}

func lessBroadcast(a, b *broadcastItem) bool {
	if a.priority != b.priority {
		return a.priority
	}
	if a.transmits != b.transmits {
		return a.transmits < b.transmits
	}
	if len(a.msg) != len(b.msg) {
		return len(a.msg) > len(b.msg)
	}
	return a.id > b.id
}

// BroadcastQueue is a retransmit-limited queue of broadcasts, ordered by fewest transmissions
// first. The protocol uses one for membership news; an application can use another to
// implement Delegate.GetBroadcasts. It is safe for concurrent use, as memberlist's
// TransmitLimitedQueue is: the protocol takes from it on its loop while request goroutines
// queue into it. A notify function runs with the queue locked and must not call it.
type BroadcastQueue struct {
	mu sync.Mutex
	// NumNodes returns the current cluster size; it sets the retransmit limit.
	NumNodes func() int
	// RetransmitMult scales the retransmit limit: RetransmitMult * ceil(log10(n+1)).
	RetransmitMult int

	// membership says this is the protocol's own queue, whose deaths and leaves must reach
	// every member (see finalTransmits).
	membership bool
	// onQueue, if set, is called (with the queue locked) after each message is queued: the
	// core's gossip timer sleeps while its queue is empty.
	onQueue func()

	tree   *btree.BTreeG[*broadcastItem]
	byName map[string]*broadcastItem
	nextID uint64
	packet uint64 // numbers packets, so several takes for one packet never repeat an item
}

func (q *BroadcastQueue) init() {
	if q.tree == nil {
		q.tree = btree.NewG(8, lessBroadcast)
		q.byName = make(map[string]*broadcastItem)
	}
}

// QueueBroadcast queues msg. A non-empty name identifies what the message is about: any queued
// message with the same name is replaced (and its notify called). notify, if not nil, is
// called once when msg has been sent as often as it will be, or was replaced.
func (q *BroadcastQueue) QueueBroadcast(name string, msg []byte, notify func()) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.queue(name, msg, false, false, notify)
}

func (q *BroadcastQueue) queue(name string, msg []byte, priority, final bool, notify func()) {
	q.init()
	if name != "" {
		if old := q.byName[name]; old != nil {
			q.remove(old)
		}
	}
	q.nextID++
	it := &broadcastItem{name: name, msg: msg, id: q.nextID, priority: priority, notify: notify, final: final}
	q.tree.ReplaceOrInsert(it)
	if name != "" {
		q.byName[name] = it
	}
	if q.onQueue != nil {
		q.onQueue()
	}
}

// remove retires an item early and tells whoever waits on it.
func (q *BroadcastQueue) remove(it *broadcastItem) {
	q.tree.Delete(it)
	if it.name != "" && q.byName[it.name] == it {
		delete(q.byName, it.name)
	}
	if it.notify != nil {
		it.notify()
	}
}

// Len returns the number of queued broadcasts.
func (q *BroadcastQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.tree == nil {
		return 0
	}
	return q.tree.Len()
}

// Reset drops every queued broadcast, calling their notify functions.
func (q *BroadcastQueue) Reset() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.tree == nil {
		return
	}
	var all []*broadcastItem
	q.tree.Ascend(func(it *broadcastItem) bool { all = append(all, it); return true })
	for _, it := range all {
		q.remove(it)
	}
}

// GetBroadcasts returns queued messages that fit in limit bytes, counting overhead extra bytes
// for each, and counts one transmission for each. It has the signature of
// Delegate.GetBroadcasts.
func (q *BroadcastQueue) GetBroadcasts(overhead, limit int) [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.packet++
	out, _ := q.take(nil, overhead, limit, false)
	return out
}

// retransmitLimit is how many times a broadcast is sent in a cluster of n members.
func retransmitLimit(mult, n int) int {
	return mult * int(math.Ceil(math.Log10(float64(n+1))))
}

// stragglerMargin is how far beyond ln(n+1) the expected copies per member of a death or a
// leave must be: e^-7 puts the chance that any member misses one near 0.1%.
const stragglerMargin = 7

// finalTransmits is how many times a death, a leave or a join is sent in a cluster of n members:
// memberlist's count, but never so few that the news is likely to miss a member.
func finalTransmits(mult, n int) int {
	return max(retransmitLimit(mult, n), int(math.Ceil(math.Log(float64(n+1))))+stragglerMargin)
}

// maxScan bounds how many queued items one packet looks at, so that a huge backlog of
// messages too large for the space left cannot make packing cost O(queue).
const maxScan = 512

// take (like queue and remove) expects the caller to hold q.mu, or to be the queue's only
// user, as the protocol loop is for its own queue.
//
// take appends to parts the messages that fit in limit bytes (each costing overhead more),
// priority ones only if onlyPriority, and returns the bytes used.
func (q *BroadcastQueue) take(parts [][]byte, overhead, limit int, onlyPriority bool) ([][]byte, int) {
	if q.tree == nil || q.tree.Len() == 0 {
		return parts, 0
	}
	n := 1
	if q.NumNodes != nil {
		n = q.NumNodes()
	}
	txLimit, finalLimit := retransmitLimit(q.RetransmitMult, n), finalTransmits(q.RetransmitMult, n)
	used, scanned := 0, 0
	var sent []*broadcastItem
	q.tree.Ascend(func(it *broadcastItem) bool {
		if onlyPriority && !it.priority {
			return false
		}
		scanned++
		if len(parts) >= maxCompoundParts {
			// The compound's part count is one byte: with a large UDPBufferSize and a
			// long queue, more would wrap it and the receiver would drop everything.
			return false
		}
		if cost := len(it.msg) + overhead; it.packet != q.packet && used+cost <= limit {
			it.packet = q.packet
			used += cost
			parts = append(parts, it.msg)
			sent = append(sent, it)
		}
		return limit-used >= overhead+minBroadcastSize && scanned < maxScan
	})
	for _, it := range sent {
		q.tree.Delete(it)
		it.transmits++
		limit := txLimit
		if it.final {
			limit = finalLimit
		}
		if it.transmits >= limit {
			if it.name != "" && q.byName[it.name] == it {
				delete(q.byName, it.name)
			}
			if it.notify != nil {
				it.notify()
			}
			continue
		}
		q.tree.ReplaceOrInsert(it)
	}
	return parts, used
}

// minBroadcastSize is about the smallest membership message (a suspect or dead with short
// names); with less space left than this, packing stops looking.
const minBroadcastSize = 24

// queueMember queues news about another member, replacing older news about it.
func (q *BroadcastQueue) queueMember(name string, msg []byte, final bool) {
	q.queue(name, msg, false, final, nil)
}

// queueSelfNews queues this member's own news ahead of everything else; token, if not zero,
// is reported finished when the message retires. final says the news must reach every member
// (a leave), and is sent as often as a death.
func (c *core) queueSelfNews(msg []byte, final bool, token uint64) {
	var notify func()
	if token != 0 {
		notify = func() { c.broadcastFinished(token) }
	}
	c.queue.queue(c.self.name, msg, true, final, notify)
}

// collectBroadcasts appends to parts the broadcasts for a packet with budget bytes free:
// this member's own news first, then membership news and user broadcasts sharing the rest.
func (c *core) collectBroadcasts(parts [][]byte, budget int) [][]byte {
	c.queue.packet++
	parts, used := c.queue.take(parts, compoundPartOverhead, budget, true)
	budget -= used
	d := c.cfg.Delegate
	if d == nil {
		parts, _ = c.queue.take(parts, compoundPartOverhead, budget, false)
		return parts
	}
	parts, used = c.queue.take(parts, compoundPartOverhead, budget/2, false)
	budget -= used
	for _, b := range d.GetBroadcasts(userPartOverhead, budget) {
		cost := len(b) + userPartOverhead
		if cost > budget || len(parts) >= maxCompoundParts {
			break
		}
		budget -= cost
		parts = append(parts, c.userPart(b))
	}
	parts, _ = c.queue.take(parts, compoundPartOverhead, budget, false)
	return parts
}

// maxCompoundParts is the most parts one compound message may hold (its count is one byte).
const maxCompoundParts = 255

// userPart frames an application broadcast as a user message.
func (c *core) userPart(b []byte) []byte {
	c.out.arena = append(c.out.arena, 8)
	c.out.arena = append(c.out.arena, b...)
	return c.out.arena[len(c.out.arena)-len(b)-1:]
}
