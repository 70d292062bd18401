package sim

// Endpoints: processes that start, crash, stop and continue.
//
// Each address gets an index the first time it is seen and keeps it for the life of the
// network (slices plus an index map, so no decision ever depends on map order). What every
// event and send reads (address, generation, attached and paused bits, partition group) sits
// in the dense n.hot; the handler, counters and the paused FIFO sit in n.eps.
//
//   - Attach starts a process at the address: it gets the handler and runs its events.
//   - Detach crashes it: its generation number moves on, so every event of the old
//     incarnation still in the heap (timers, packets and streams on their way to it) is
//     discarded when popped, At calls for it are ignored, packets sent to it are
//     undeliverable and streams to it are refused. Attach again is a fresh incarnation.
//   - Pause stops it without killing it (a GC pause, SIGSTOP): its events are set aside in
//     a FIFO as they come due, incoming packets only up to the receive queue.
//   - Resume puts what was set aside back in the heap at the resume time, in the order it
//     came due, with fresh sequence numbers: after anything already due at that time, before
//     anything scheduled later.

import (
	"net/netip"
	"time"
)

// endpoint is the cold state of one address: what only a delivery or a state change reads.
type endpoint struct {
	handler  PacketHandler
	counters EndpointCounters
	queued   int     // packets among aside
	aside    []int32 // slots set aside while paused, in the order they came due
}

// hot is the state of one address that every event and send reads, kept apart from the
// cold state in a dense slice so that checking an event's owner rarely misses the cache.
type hot struct {
	addr  netip.AddrPort
	state uint32 // gen<<2 | paused<<1 | attached
	group int32  // partition group, 0 = not listed
	live  int32  // events of this incarnation in the heap or set aside
}

const (
	attachedBit = 1 << iota
	pausedBit
	genShift = iota
)

// runningState is the state an event of generation gen expects to find its owner in.
func runningState(gen uint32) uint32 { return gen<<genShift | attachedBit }

func (h *hot) attached() bool { return h.state&attachedBit != 0 }
func (h *hot) paused() bool   { return h.state&pausedBit != 0 }

// lookup returns the index of addr, or -1 if it has never been seen. The owner of the
// running event is checked first: a driver mostly sends and schedules on its behalf.
func (n *Network) lookup(addr netip.AddrPort) int32 {
	if n.cur >= 0 && n.hot[n.cur].addr == addr {
		return n.cur
	}
	if i, ok := n.index[addr]; ok {
		return i
	}
	return -1
}

// endpointOf returns the index of addr, giving it one if it has never been seen.
func (n *Network) endpointOf(addr netip.AddrPort) int32 {
	if i, ok := n.index[addr]; ok {
		return i
	}
	i := int32(len(n.eps))
	n.eps = append(n.eps, endpoint{})
	n.hot = append(n.hot, hot{addr: addr})
	n.index[addr] = i
	return i
}

// Attach starts a process at addr that receives datagrams through h. Attaching an address
// that is already attached restarts it: the old incarnation is detached first.
func (n *Network) Attach(addr netip.AddrPort, h PacketHandler) {
	i := n.endpointOf(addr)
	if n.hot[i].attached() {
		n.detach(i)
	}
	n.hot[i].state |= attachedBit
	n.eps[i].handler = h
}

// Detach crashes the process at addr: its pending events are discarded, packets on their way
// to it vanish (counted as undeliverable when they arrive), packets it had queued while
// paused vanish too, later At calls for it are ignored and streams to it are refused.
func (n *Network) Detach(addr netip.AddrPort) {
	if i := n.lookup(addr); i >= 0 && n.hot[i].attached() {
		n.detach(i)
	}
}

func (n *Network) detach(i int32) {
	ep, h := &n.eps[i], &n.hot[i]
	for _, s := range ep.aside {
		if n.events[s].kind == kindPacket {
			n.counters.PacketsUndeliverable++
		}
		n.release(s)
	}
	n.pending -= int(h.live)
	h.live = 0
	h.state = (h.state>>genShift + 1) << genShift // next generation, detached, not paused
	ep.aside = ep.aside[:0]
	ep.queued = 0
	ep.handler = nil
}

// At schedules fn to run at virtual time at (a time in the past means now). Events run in
// order of (time, order of scheduling). owner is the endpoint whose process the callback
// belongs to: while it is paused the callback waits for Resume, and if it is detached (now
// or before at) the callback never runs. The zero AddrPort makes a global event that always
// runs.
func (n *Network) At(owner netip.AddrPort, at time.Time, fn func(now time.Time)) {
	o := int32(-1)
	if owner.IsValid() {
		o = n.lookup(owner)
		if o < 0 || !n.hot[o].attached() {
			return
		}
	}
	ev := n.schedule(o, n.ns(at), kindFunc)
	ev.fn = fn
}

// Pause stops the process at addr: until Resume it runs no events and handles no packets.
// Its due events are set aside in order; incoming packets are held up to Config.RecvQueue
// and dropped beyond. Pausing an address that is not attached does nothing.
func (n *Network) Pause(addr netip.AddrPort) {
	if i := n.lookup(addr); i >= 0 && n.hot[i].attached() {
		n.hot[i].state |= pausedBit
	}
}

// Resume continues a paused process: everything set aside while it was paused runs at the
// current time, in the order it came due, before anything scheduled after this call.
func (n *Network) Resume(addr netip.AddrPort) {
	i := n.lookup(addr)
	if i < 0 || !n.hot[i].paused() {
		return
	}
	n.hot[i].state &^= pausedBit
	ep := &n.eps[i]
	for _, s := range ep.aside {
		n.push(n.now, s)
	}
	ep.aside = ep.aside[:0]
	ep.queued = 0
}

// Paused reports whether the process at addr is paused.
func (n *Network) Paused(addr netip.AddrPort) bool {
	i := n.lookup(addr)
	return i >= 0 && n.hot[i].paused()
}

// EndpointCounters returns the totals of addr (zero if it has never been seen).
func (n *Network) EndpointCounters(addr netip.AddrPort) EndpointCounters {
	n.size()
	if i := n.lookup(addr); i >= 0 {
		return n.eps[i].counters
	}
	return EndpointCounters{}
}

// setAside holds slot s, due now at paused endpoint i, until Resume. A packet beyond the
// receive queue is dropped instead.
func (n *Network) setAside(i int32, s int32) {
	ep := &n.eps[i]
	if n.events[s].kind == kindPacket {
		if ep.queued >= n.recvQueue {
			n.counters.PacketsQueueDropped++
			n.hot[i].live--
			n.pending--
			n.release(s)
			return
		}
		ep.queued++
	}
	ep.aside = append(ep.aside, s)
}

// running reports whether endpoint i is attached and not paused.
func (n *Network) running(i int32) bool {
	return i >= 0 && n.hot[i].state&(attachedBit|pausedBit) == attachedBit
}
