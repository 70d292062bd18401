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

	"github.com/swim-go/swim/internal/wire"
)

// compoundPartOverhead is what each part of a compound message costs beyond its bytes: its
// u16 length entry. A user broadcast also needs its type byte.
const (
	compoundPartOverhead = 2
	userPartOverhead     = 3
)

// news is a queued message and the name of what it is about ("" for messages that replace
// nothing). It is never written once queued, so queues may share it: in a simulation every
// member queues the same alive for a newcomer (see aliveNews).
type news struct {
	name string
	msg  []byte
	// seq numbers a rebroadcast alive the simulator's memo knows (0 for any other), so
	// that a member table can remember it as news it already holds (memberTable.noops).
	seq uint32
}

// broadcastItem is one queued message, held by value in its queue's slots: 24 bytes, since
// a simulation of 10,000 members joining at once queues 10^8 of them.
type broadcastItem struct {
	*news            // nil while the slot is free
	id        uint64 // queue order among equals: higher is newer
	packet    uint32 // the low bits of the number of the last packet it was put in
	transmits uint16 // retired at its limit, or at 65,535 should a limit be larger
	priority  bool   // this member's own news
	final     bool   // a death, a leave or a join: sent finalTransmits times
}

// queued is an item's place in its queue's order: priority news first, then fewest
// transmissions, then longest, then newest. ord holds, from the top bit down, "not
// priority", the transmissions (15 bits) and the complement of the length (16 bits), all
// saturating, then the item's slot; id breaks ties. Held by value, the order is compared
// without reading the items.
type queued struct {
	ord uint64
	id  uint64
}

func (q queued) slot() uint32 { return uint32(q.ord) }

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

	order  queueOrder
	slots  [][]broadcastItem // in chunks of itemChunk, so that growing copies nothing
	free   []uint32          // free slots below len(slots)*itemChunk
	names  nameIndex         // slot by name, for the items that have one
	notify map[uint32]func() // by slot: called once when the item retires or is replaced
	nextID uint64
	packet uint64 // numbers packets, so several takes for one packet never repeat an item
	sent   []queued
	// lens counts the items of each length (255 for 255 bytes or more), and no item is
	// shorter than minLen: once the space left in a packet is less than that, no item can
	// fit, and packing stops instead of looking at hundreds more (a join's queues hold
	// thousands of alives of nearly one length).
	lens   [256]int32
	minLen int
}

// itemChunk is how many items a queue adds room for at a time.
const itemChunk = 64

func (q *BroadcastQueue) item(slot uint32) *broadcastItem {
	return &q.slots[slot/itemChunk][slot%itemChunk]
}

func (q *BroadcastQueue) nameAt(slot int) string { return q.item(uint32(slot)).name }

func (q *BroadcastQueue) key(slot uint32) queued {
	it := q.item(slot)
	ord := uint64(min(it.transmits, 1<<15-1))<<48 | uint64(0xFFFF-min(len(it.msg), 0xFFFF))<<32 | uint64(slot)
	if !it.priority {
		ord |= 1 << 63
	}
	return queued{ord: ord, id: it.id}
}

// QueueBroadcast queues msg. A non-empty name identifies what the message is about: any queued
// message with the same name is replaced (and its notify called). notify, if not nil, is
// called once when msg has been sent as often as it will be, or was replaced.
func (q *BroadcastQueue) QueueBroadcast(name string, msg []byte, notify func()) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.queue(&news{name: name, msg: msg}, false, false, notify)
}

func (q *BroadcastQueue) queue(n *news, priority, final bool, notify func()) {
	if len(q.free) == 0 {
		q.addChunk() // first: growing builds the index afresh
	}
	// One walk of the index finds the message this one replaces and where this one goes.
	var at uint64
	var tag uint32
	if n.name != "" {
		if q.names.full(1) { // with tombstones: building afresh clears them
			q.reindex(len(q.slots) * itemChunk)
		}
		var old int
		old, at, tag = q.names.lookup(n.name, q.nameAt)
		if old >= 0 {
			q.order.delete(q.key(uint32(old)))
			q.release(uint32(old))
		}
	}
	slot := q.free[len(q.free)-1]
	q.free = q.free[:len(q.free)-1]
	q.nextID++
	*q.item(slot) = broadcastItem{news: n, id: q.nextID, priority: priority, final: final}
	b := min(len(n.msg), len(q.lens)-1)
	q.lens[b]++
	q.minLen = min(q.minLen, b)
	if notify != nil {
		if q.notify == nil {
			q.notify = make(map[uint32]func())
		}
		q.notify[slot] = notify
	}
	q.order.insert(q.key(slot))
	if n.name != "" {
		q.names.insert(at, tag, int(slot))
	}
	if q.onQueue != nil {
		q.onQueue()
	}
}

// addChunk adds room for itemChunk more items, and for their names in the index, which
// grows by doubling.
func (q *BroadcastQueue) addChunk() {
	base := uint32(len(q.slots) * itemChunk)
	q.slots = append(q.slots, make([]broadcastItem, itemChunk))
	for i := range uint32(itemChunk) {
		q.free = append(q.free, base+itemChunk-1-i)
	}
	if capacity := len(q.slots) * itemChunk; capacity*4 > len(q.names.slots)*3 {
		q.reindex(2 * capacity)
	}
}

// reindex builds the name index afresh, for slots below capacity (which must cover every
// slot there is), leaving no tombstones.
func (q *BroadcastQueue) reindex(capacity int) {
	q.names.reset(capacity)
	for c, chunk := range q.slots {
		for i := range chunk {
			if it := &chunk[i]; it.news != nil && it.name != "" {
				q.names.place(it.name, c*itemChunk+i)
			}
		}
	}
}

// queued returns the item queued under name, or nil.
func (q *BroadcastQueue) queued(name string) *broadcastItem {
	if slot := q.names.find(name, q.nameAt); slot >= 0 {
		return q.item(uint32(slot))
	}
	return nil
}

// removeName retires early the item queued under name, if any, and tells whoever waits on it.
func (q *BroadcastQueue) removeName(name string) bool {
	if len(q.names.slots) == 0 {
		return false
	}
	slot, _, _ := q.names.lookup(name, q.nameAt)
	if slot < 0 {
		return false
	}
	q.order.delete(q.key(uint32(slot)))
	q.retire(uint32(slot))
	return true
}

// retire frees an item's slot, once it is out of the order, and calls its notify.
func (q *BroadcastQueue) retire(slot uint32) {
	if it := q.item(slot); it.name != "" {
		_, at, _ := q.names.lookup(it.name, q.nameAt)
		q.names.remove(at)
	}
	q.release(slot)
	if q.order.Len() == 0 && len(q.slots) > 1 {
		// Give back what a burst took: an idle queue holds one chunk.
		q.slots, q.free = q.slots[:1], q.free[:0]
		for i := range uint32(itemChunk) {
			q.free = append(q.free, itemChunk-1-i)
		}
		q.reindex(2 * itemChunk)
	}
}

// release frees an item's slot and calls its notify, leaving its name in the index to the
// caller.
func (q *BroadcastQueue) release(slot uint32) {
	it := q.item(slot)
	q.lens[min(len(it.msg), len(q.lens)-1)]--
	*it = broadcastItem{}
	q.free = append(q.free, slot)
	if f, ok := q.notify[slot]; ok {
		delete(q.notify, slot)
		f()
	}
}

// Len returns the number of queued broadcasts.
func (q *BroadcastQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.order.Len()
}

// Reset drops every queued broadcast, calling their notify functions.
func (q *BroadcastQueue) Reset() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, k := range q.order.all() {
		q.order.delete(k)
		q.retire(k.slot())
	}
}

// GetBroadcasts returns queued messages that fit in limit bytes, counting overhead extra bytes
// for each, and counts one transmission for each. It has the signature of
// Delegate.GetBroadcasts.
func (q *BroadcastQueue) GetBroadcasts(overhead, limit int) [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.packet++
	out, _ := q.take(nil, overhead, limit, false, "")
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
// priority ones only if onlyPriority, and returns the bytes used. A suspicion of accused
// (if not "") is left out: the packet already accuses its recipient (see core.accuse), and
// a second copy would not only waste its room but use up one of the suspicion's few sends
// on the one member that cannot pass it on. With Local timings among three members a
// suspicion is sent twice; both could go to the suspect (its probe and its last call), and
// the third member, never hearing of it, could not confirm it: a crashed member took the
// longest timeout, 18 s, to be declared dead instead of 3.
func (q *BroadcastQueue) take(parts [][]byte, overhead, limit int, onlyPriority bool, accused string) ([][]byte, int) {
	if q.order.Len() == 0 {
		return parts, 0
	}
	n := 1
	if q.NumNodes != nil {
		n = q.NumNodes()
	}
	txLimit, finalLimit := retransmitLimit(q.RetransmitMult, n), finalTransmits(q.RetransmitMult, n)
	used, scanned, packet := 0, 0, uint32(q.packet)
	sent := q.sent[:0]
	for q.minLen < len(q.lens)-1 && q.lens[q.minLen] == 0 {
		q.minLen++
	}
	shortest := max(minBroadcastSize, q.minLen)
	// Items are looked at in order, at most maxScan of them, until the space left is less
	// than the shortest item needs.
scan:
	for ci := range q.order.classes {
		c := &q.order.classes[ci]
		if onlyPriority && c.key>>31 != 0 {
			break
		}
		// The class holds its items' length, so once it is too long for the space left,
		// the rest of its items are passed over without reading them (in a join, hundreds
		// per packet), yet count as looked at, as if one by one.
		cost, rest := c.itemLen()+overhead, c.n
	items:
		for b := len(c.blocks) - 1; b >= 0; b-- {
			blk := c.blocks[b]
			for i := len(blk) - 1; i >= 0; i-- {
				if used+cost > limit {
					break items
				}
				rest--
				scanned++
				if len(parts) >= maxCompoundParts {
					// The compound's part count is one byte: with a large UDPBufferSize
					// and a long queue, more would wrap it and the receiver would drop
					// everything.
					break scan
				}
				k := blk[i]
				if it := q.item(k.slot()); it.packet != packet && len(it.msg)+overhead <= limit-used && !accuses(it, accused) {
					it.packet = packet
					used += len(it.msg) + overhead
					parts = append(parts, it.msg)
					sent = append(sent, k)
				}
				if limit-used < overhead+shortest || scanned >= maxScan {
					break scan
				}
			}
		}
		if rest > 0 {
			if len(parts) >= maxCompoundParts {
				break
			}
			scanned = min(scanned+rest, maxScan)
			if limit-used < overhead+shortest || scanned >= maxScan {
				break
			}
		}
	}
	for _, k := range sent {
		q.order.delete(k)
		it := q.item(k.slot())
		it.transmits++
		limit := txLimit
		if it.final {
			limit = finalLimit
		}
		if int(it.transmits) >= limit || it.transmits == math.MaxUint16 {
			q.retire(k.slot())
			continue
		}
		q.order.insert(q.key(k.slot()))
	}
	clear(sent)
	q.sent = sent[:0]
	return parts, used
}

// accuses says whether it is a suspicion of the member named accused.
func accuses(it *broadcastItem, accused string) bool {
	return accused != "" && it.name == accused && len(it.msg) > 0 && wire.MessageType(it.msg[0]) == wire.SuspectMsg
}

// minBroadcastSize is about the smallest membership message (a suspect or dead with short
// names); with less space left than this, packing stops looking.
const minBroadcastSize = 24

// queueMember queues news about another member, replacing older news about it.
func (q *BroadcastQueue) queueMember(n *news, final bool) {
	q.queue(n, false, final, nil)
}

// queueSelfNews queues this member's own news ahead of everything else; token, if not zero,
// is reported finished when the message retires. final says the news must reach every member
// (a leave), and is sent as often as a death.
func (c *core) queueSelfNews(msg []byte, final bool, token uint64) {
	var notify func()
	if token != 0 {
		notify = func() { c.broadcastFinished(token) }
	}
	c.queue.queue(&news{name: c.self.name, msg: msg}, true, final, notify)
}

// collectBroadcasts appends to parts the broadcasts for a packet with budget bytes free:
// this member's own news first, then membership news and user broadcasts sharing the rest.
// A suspicion of accused is left out (see take).
func (c *core) collectBroadcasts(parts [][]byte, budget int, accused string) [][]byte {
	c.queue.packet++
	parts, used := c.queue.take(parts, compoundPartOverhead, budget, true, accused)
	budget -= used
	d := c.cfg.Delegate
	if d == nil {
		parts, _ = c.queue.take(parts, compoundPartOverhead, budget, false, accused)
		return parts
	}
	parts, used = c.queue.take(parts, compoundPartOverhead, budget/2, false, accused)
	budget -= used
	for _, b := range d.GetBroadcasts(userPartOverhead, budget) {
		cost := len(b) + userPartOverhead
		if cost > budget || len(parts) >= maxCompoundParts {
			break
		}
		budget -= cost
		parts = append(parts, c.userPart(b))
	}
	parts, _ = c.queue.take(parts, compoundPartOverhead, budget, false, accused)
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
