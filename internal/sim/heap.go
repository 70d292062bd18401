package sim

// The event heap.
//
// Every pending thing (a timer, a packet in flight, a stream in flight) is one event. Its
// body lives in a slab (n.events) indexed by a slot number and recycled through a free list,
// so scheduling allocates nothing once the slab has grown to the working-set size. The heap
// itself holds only small keys (time, sequence, slot) so that sifting moves 24 bytes, not
// the whole body.
//
// The heap is 4-ary: half the depth of a binary heap, and the four children of a node sit
// next to each other in memory. Keys are ordered by (time, insertion sequence); the sequence
// is unique and grows with every push, so the order is total and two runs with the same
// calls pop events in the same order.

import (
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/swim-go/swim/internal/later"
)

// eventKind says what an event does when it runs.
type eventKind uint8

const (
	kindFunc   eventKind = iota // call fn(now)
	kindPacket                  // hand buf to the owner's PacketHandler, from endpoint `from`
	kindStream                  // call deliver(now, buf)
)

// event is the body of one pending event, stored in the slab.
type event struct {
	kind  eventKind
	owner int32  // endpoint index, or -1 for a global event
	want  uint32 // the owner's state when it may run: its generation then, attached, not paused
	from  int32  // sending endpoint of a packet or stream
	buf   []byte
	fn    func(now time.Time)
	deliv func(now time.Time, buf []byte)
	sum   *later.Value[[sha256.Size]byte] // a stream's SHA-256, for the trace
	lazy  *later.Value[[]byte]            // a packet's bytes, if sent with SendLater
}

// entry is the heap key of one event.
type entry struct {
	at   int64  // virtual nanoseconds since the epoch
	seq  uint64 // insertion sequence: breaks ties at equal times
	slot int32  // index into the slab
}

// before reports whether a runs before b.
func (a *entry) before(b *entry) bool {
	return a.at < b.at || (a.at == b.at && a.seq < b.seq)
}

// alloc takes a free slot in the slab and returns its index.
func (n *Network) alloc() int32 {
	if k := len(n.free); k > 0 {
		s := n.free[k-1]
		n.free = n.free[:k-1]
		return s
	}
	n.events = append(n.events, event{})
	return int32(len(n.events) - 1)
}

// release clears a slot (so the GC can reclaim what it pointed to) and returns it to the
// free list.
func (n *Network) release(s int32) {
	n.events[s] = event{}
	n.free = append(n.free, s)
}

// push schedules slot s at virtual time at.
func (n *Network) push(at int64, s int32) {
	n.seq++
	h := append(n.heap, entry{at: at, seq: n.seq, slot: s})
	n.heap = h
	// Sift up.
	i := len(h) - 1
	e := h[i]
	for i > 0 {
		p := (i - 1) / 4
		if !e.before(&h[p]) {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = e
}

// pop removes and returns the earliest entry. The heap must not be empty.
func (n *Network) pop() entry {
	h := n.heap
	top := h[0]
	last := len(h) - 1
	e := h[last]
	h = h[:last]
	n.heap = h
	if last == 0 {
		return top
	}
	// Sift the old last entry down from the root.
	i := 0
	for {
		c := 4*i + 1
		if c >= last {
			break
		}
		m := c
		end := min(c+4, last)
		for j := c + 1; j < end; j++ {
			if h[j].before(&h[m]) {
				m = j
			}
		}
		if !h[m].before(&e) {
			break
		}
		h[i] = h[m]
		i = m
	}
	h[i] = e
	return top
}

// checkHeap panics if the heap property is broken. Tests call it.
func (n *Network) checkHeap() {
	for i := 1; i < len(n.heap); i++ {
		p := (i - 1) / 4
		if n.heap[i].before(&n.heap[p]) {
			panic(fmt.Sprintf("sim: heap invariant broken at %d (parent %d)", i, p))
		}
	}
}
