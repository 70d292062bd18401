package sim

// The clock and the run loop.
//
// Virtual time is an int64 count of nanoseconds since the epoch (Config.Start); it moves
// only when the run loop pops an event, and only forward. Each step pops the earliest event
// from the heap, sets the clock to its time and dispatches it:
//
//  1. An event owned by an endpoint whose generation has moved on (it was detached since)
//     is discarded; a packet among them counts as undeliverable.
//  2. An event owned by a paused endpoint is set aside in that endpoint's FIFO (packets
//     only up to Config.RecvQueue; beyond that they are dropped and counted) until Resume
//     puts it back in the heap at the resume time.
//  3. Anything else runs: a timer callback, a packet handed to the receiver's handler, or a
//     stream handed to its deliver callback. Callbacks may schedule, send, pause, detach:
//     the run loop copies what it needs out of the slab before calling them.

import (
	"crypto/sha256"
	"hash"
	"math/rand/v2"
	"net/netip"
	"time"
)

// Config configures a Network. The zero value is usable: seed 0, epoch 2020-01-01 UTC, a
// perfect zero-latency link and a receive queue of 2048 packets.
type Config struct {
	// Seed seeds every random decision of the network and the generator Rand returns.
	Seed uint64
	// Start is the virtual epoch: Now before anything has run. The zero value means
	// 2020-01-01T00:00:00Z. Its monotonic clock reading, if any, is stripped.
	Start time.Time
	// Link is the model of every directed pair without a SetLink override.
	Link Link
	// RecvQueue is how many packets a paused endpoint holds for later; packets beyond that
	// are dropped and counted as PacketsQueueDropped. Zero means 2048; negative means none.
	RecvQueue int
}

// DefaultRecvQueue is the receive queue of a paused endpoint when Config.RecvQueue is zero.
const DefaultRecvQueue = 2048

// PacketHandler receives one datagram at an endpoint. buf is valid only during the call: a
// handler that keeps it must copy it.
type PacketHandler func(now time.Time, from netip.AddrPort, buf []byte)

// Counters are the network-wide totals since New. Every packet handed to Send by a running
// sender counts in PacketsSent and ends in exactly one of PacketsBlocked, PacketsLost or
// scheduled; every scheduled copy (the original and any duplicate) ends in exactly one of
// PacketsDelivered, PacketsUndeliverable, PacketsQueueDropped or still in flight.
type Counters struct {
	PacketsSent          uint64 // datagrams accepted from a running sender
	BytesSent            uint64 // their payload bytes
	PacketsDelivered     uint64 // copies handed to a receiver's handler (duplicates included)
	PacketsLost          uint64 // dropped by the link's Loss
	PacketsDuplicated    uint64 // extra copies made by the link's Duplicate
	PacketsBlocked       uint64 // dropped because a partition separates sender and receiver
	PacketsUndeliverable uint64 // the receiver was not attached (at send or arrival time)
	PacketsQueueDropped  uint64 // the receiver was paused and its receive queue was full
	Events               uint64 // events run: timers fired, packets and streams handed over
	StreamsSent          uint64 // streams accepted (status Sent)
	StreamBytes          uint64 // their payload bytes
	StreamsRefused       uint64 // streams to a detached endpoint
	StreamsBlocked       uint64 // streams across a partition, or from a sender not running
	StreamsLost          uint64 // streams that lost a segment on every try (TCP gave up)
}

// EndpointCounters are the totals of one address since it was first seen; they survive a
// detach and re-attach.
type EndpointCounters struct {
	PacketsSent     uint64 // datagrams it sent (as PacketsSent in Counters)
	BytesSent       uint64 // their payload bytes
	PacketsReceived uint64 // datagrams handed to its handler
	BytesReceived   uint64 // their payload bytes
	StreamBytesSent uint64 // payload bytes of the streams it sent
}

// Network is a simulated network of endpoints in virtual time. It is not safe for
// concurrent use: one goroutine drives it, and callbacks run on that goroutine.
type Network struct {
	start time.Time // the epoch
	now   int64     // virtual nanoseconds since start

	rng     *rand.Rand // the driver's generator (Rand)
	linkRng *rand.Rand // the link model's own generator, so the driver's draws don't shift it

	heap    []entry
	events  []event
	free    []int32
	seq     uint64
	pending int // live events: in the heap and not stale, or set aside by a pause

	eps   []endpoint
	hot   []hot
	index map[netip.AddrPort]int32
	cur   int32 // owner of the running event, or -1

	link      Link
	links     map[uint64]Link // per directed pair overrides, keyed by from<<32 | to
	recvQueue int

	counters Counters
	unsized  []unsized // datagrams not yet in the byte counters (SendLater)

	trace   hash.Hash
	scratch [96]byte
}

// New makes a network.
func New(cfg Config) *Network {
	start := cfg.Start
	if start.IsZero() {
		start = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	rq := cfg.RecvQueue
	switch {
	case rq == 0:
		rq = DefaultRecvQueue
	case rq < 0:
		rq = 0
	}
	return &Network{
		start:     start.Round(0),
		rng:       rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		linkRng:   rand.New(rand.NewPCG(cfg.Seed^0x6a09e667f3bcc908, cfg.Seed^0xbb67ae8584caa73b)),
		index:     make(map[netip.AddrPort]int32),
		cur:       -1,
		link:      cfg.Link,
		recvQueue: rq,
		trace:     sha256.New(),
	}
}

// Now is the current virtual time.
func (n *Network) Now() time.Time { return n.start.Add(time.Duration(n.now)) }

// Rand is the network's seeded generator for the driver (per-node seeds, workloads). The
// link model draws from a separate generator, so using this one changes no link decision.
func (n *Network) Rand() *rand.Rand { return n.rng }

// Counters returns the network-wide totals.
func (n *Network) Counters() Counters {
	n.size()
	return n.counters
}

// Pending is the number of events that will still run or be dispatched: timers, packets and
// streams in flight, and those set aside by a paused endpoint. Events of a detached
// incarnation are not counted.
func (n *Network) Pending() int { return n.pending }

// Step runs the next event and reports whether one ran; it returns false when the heap is
// empty (events set aside by a paused endpoint wait for Resume). Discarded and set-aside
// events are passed over on the way without counting as the step.
func (n *Network) Step() bool {
	for len(n.heap) > 0 {
		e := n.pop()
		n.now = e.at
		if n.dispatch(e.slot) {
			return true
		}
	}
	return false
}

// RunUntil runs every event due at or before t (including those they schedule), then sets
// the clock to t. A t before Now runs nothing and leaves the clock alone.
func (n *Network) RunUntil(t time.Time) {
	limit := n.ns(t)
	for len(n.heap) > 0 && n.heap[0].at <= limit {
		e := n.pop()
		n.now = e.at
		n.counters.Events++
		n.dispatch(e.slot)
	}
	if limit > n.now {
		n.now = limit
	}
}

// RunFor runs virtual time forward by d: RunUntil(Now() + d).
func (n *Network) RunFor(d time.Duration) { n.RunUntil(n.Now().Add(d)) }

// ns converts t to virtual nanoseconds, clamped to no earlier than Now.
func (n *Network) ns(t time.Time) int64 {
	return max(int64(t.Sub(n.start)), n.now)
}

// dispatch handles a popped event and reports whether it ran a callback.
func (n *Network) dispatch(s int32) bool {
	ev := &n.events[s]
	if ev.owner >= 0 {
		h := &n.hot[ev.owner]
		if h.state != ev.want {
			if h.state>>genShift == ev.want>>genShift && h.attached() {
				n.setAside(ev.owner, s)
				return false
			}
			// The owner was detached since: the event belongs to a dead incarnation.
			if ev.kind == kindPacket {
				n.counters.PacketsUndeliverable++
			}
			n.release(s)
			return false
		}
		h.live--
	}
	n.pending--

	// Copy out what the callback needs and free the slot first: the callback may schedule
	// events and grow the slab under us.
	kind, owner, from, buf, fn, deliv, sum, lazy := ev.kind, ev.owner, ev.from, ev.buf, ev.fn, ev.deliv, ev.sum, ev.lazy
	n.release(s)
	now := n.Now()
	prev := n.cur
	if owner >= 0 {
		n.cur = owner
	}
	switch kind {
	case kindFunc:
		fn(now)
	case kindPacket:
		if lazy != nil {
			buf = lazy.Get()
		}
		ep := &n.eps[owner]
		ep.counters.PacketsReceived++
		ep.counters.BytesReceived += uint64(len(buf))
		n.counters.PacketsDelivered++
		n.tracePacket(from, owner, buf)
		ep.handler(now, n.hot[from].addr, buf)
	case kindStream:
		n.traceStream(from, owner, len(buf), sum)
		deliv(now, buf)
	}
	n.cur = prev
	return true
}

// schedule puts a new event for endpoint owner (or a global one, owner -1) in the heap at
// virtual time at and returns its body for the caller to fill in (valid until the next
// schedule).
func (n *Network) schedule(owner int32, at int64, kind eventKind) *event {
	s := n.alloc()
	ev := &n.events[s]
	ev.kind = kind
	ev.owner = owner
	if owner >= 0 {
		h := &n.hot[owner]
		ev.want = runningState(h.state >> genShift)
		h.live++
	}
	n.pending++
	n.push(at, s)
	return ev
}
