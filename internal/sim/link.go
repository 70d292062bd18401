package sim

// The link model: what happens to a datagram or a stream between two endpoints.
//
// A datagram handed to Send goes through these steps, in order, drawing from the link
// generator only for the steps whose probability or width is non-zero:
//
//  1. A sender that is not running (detached or paused) sends nothing; nothing is counted.
//  2. It counts as sent (bytes too, per sender). A receiver that is not attached makes it
//     undeliverable.
//  3. A partition between the two blocks it.
//  4. The directed link's Loss drops it.
//  5. It is copied once and scheduled as an event owned by the receiver after
//     Latency + uniform[0, Jitter), plus with probability Reorder an extra uniform
//     [0, 4*max(Latency, 1ms)). Jitter alone already reorders packets; Reorder makes a
//     packet overtake or be overtaken by packets sent well after it.
//  6. With probability Duplicate a second copy (sharing the same bytes: receivers must not
//     modify them) is scheduled with its own independent delay.
//
// A stream is TCP-like: refused at once if the receiver is not attached, blocked by a
// partition, and otherwise delivered exactly once after Latency + jitter plus the
// retransmission timeouts of its lost segments, or lost (Blocked) when a segment is lost
// on every try, as a TCP connection over a dead link times out. The partition is
// checked when a packet or stream is sent; what is already in flight still arrives.

import (
	"crypto/sha256"
	"net/netip"
	"time"

	"github.com/swim-go/swim/internal/later"
)

// Link is the model of one direction of a link.
type Link struct {
	Latency   time.Duration // one-way base delay
	Jitter    time.Duration // extra delay uniform in [0, Jitter); this reorders packets naturally
	Loss      float64       // probability a packet is dropped (0..1); on streams, a segment that must be retransmitted
	Duplicate float64       // probability a delivered packet is delivered a second time (with its own independent delay)
	Reorder   float64       // probability a packet is held back an extra uniform [0, 4*max(Latency,1ms)) so it overtakes/is overtaken
}

// StreamStatus is the immediate outcome of Stream.
type StreamStatus int

const (
	// Sent means the stream is on its way and will be delivered unless the receiver is
	// detached before it arrives.
	Sent StreamStatus = iota
	// Refused means the receiver is not attached: a TCP reset, which the caller learns at
	// once.
	Refused
	// Blocked means a partition separates the endpoints (or the sender is not running):
	// nothing will arrive and the caller finds out by its own timeout.
	Blocked
)

// String names the status.
func (s StreamStatus) String() string {
	switch s {
	case Sent:
		return "sent"
	case Refused:
		return "refused"
	case Blocked:
		return "blocked"
	}
	return "StreamStatus(?)"
}

// SetLink overrides the model of the direction from -> to.
func (n *Network) SetLink(from, to netip.AddrPort, l Link) {
	if n.links == nil {
		n.links = make(map[uint64]Link)
	}
	n.links[pairKey(n.endpointOf(from), n.endpointOf(to))] = l
}

// DefaultLink returns the model of every direction without a SetLink override.
func (n *Network) DefaultLink() Link { return n.link }

// SetDefaultLink replaces the model of every direction without a SetLink override.
func (n *Network) SetDefaultLink(l Link) { n.link = l }

// Partition splits the network: endpoints in different groups cannot reach each other, by
// packet or by stream. Endpoints not listed reach everyone. It replaces any previous
// partition; an address listed in several groups belongs to the last.
func (n *Network) Partition(groups ...[]netip.AddrPort) {
	n.Heal()
	for g, group := range groups {
		for _, addr := range group {
			n.hot[n.endpointOf(addr)].group = int32(g + 1)
		}
	}
}

// Heal removes the partition.
func (n *Network) Heal() {
	for i := range n.hot {
		n.hot[i].group = 0
	}
}

// Send sends a datagram of buf (copied) from one endpoint to another through the directed
// link's model; it arrives as a call to the receiver's handler, as an event owned by the
// receiver.
func (n *Network) Send(from, to netip.AddrPort, buf []byte) {
	f := n.lookup(from)
	if !n.running(f) {
		return
	}
	n.countSent(f, len(buf))
	cp := make([]byte, len(buf))
	copy(cp, buf)
	n.route(f, to, cp, nil)
}

// SendLater is Send for a datagram whose bytes are still being worked out (on another core):
// its fate on the link is drawn now, as Send draws it, and its bytes are waited for when it
// arrives and when the byte counters are read. They must not change once worked out.
func (n *Network) SendLater(from, to netip.AddrPort, buf *later.Value[[]byte]) {
	f := n.lookup(from)
	if !n.running(f) {
		return
	}
	n.countSent(f, 0)
	n.unsized = append(n.unsized, unsized{buf, f})
	if len(n.unsized) >= maxUnsized {
		n.size()
	}
	n.route(f, to, nil, buf)
}

// unsized is a datagram sent with SendLater and not yet in the byte counters, and its sender.
type unsized struct {
	buf  *later.Value[[]byte]
	from int32
}

// maxUnsized is how many datagrams may wait to be counted: a few milliseconds of a large
// cluster's, long worked out by then.
const maxUnsized = 4096

// size adds the datagrams sent with SendLater so far to the byte counters, waiting for them.
func (n *Network) size() {
	for _, u := range n.unsized {
		b := uint64(len(u.buf.Get()))
		n.counters.BytesSent += b
		n.eps[u.from].counters.BytesSent += b
	}
	clear(n.unsized)
	n.unsized = n.unsized[:0]
}

// countSent counts a datagram of size bytes from endpoint f.
func (n *Network) countSent(f int32, size int) {
	n.counters.PacketsSent++
	n.counters.BytesSent += uint64(size)
	fc := &n.eps[f].counters
	fc.PacketsSent++
	fc.BytesSent += uint64(size)
}

// route draws the fate of a datagram from endpoint f (buf, or the bytes lazy will hold) and
// schedules its copies.
func (n *Network) route(f int32, to netip.AddrPort, buf []byte, lazy *later.Value[[]byte]) {
	t := n.lookup(to)
	switch {
	case t < 0 || !n.hot[t].attached():
		n.counters.PacketsUndeliverable++
		return
	case n.blocked(f, t):
		n.counters.PacketsBlocked++
		return
	}
	l := n.linkOf(f, t)
	if l.Loss > 0 && n.linkRng.Float64() < l.Loss {
		n.counters.PacketsLost++
		return
	}
	n.schedulePacket(f, t, buf, lazy, n.now+n.packetDelay(&l))
	if l.Duplicate > 0 && n.linkRng.Float64() < l.Duplicate {
		n.counters.PacketsDuplicated++
		n.schedulePacket(f, t, buf, lazy, n.now+n.packetDelay(&l))
	}
}

// Stream starts a reliable, ordered one-shot transfer of buf from one endpoint to another:
// deliver runs as an event owned by the receiver after Latency + jitter, with no loss,
// duplication or reordering. A sender that is not running gets Blocked. buf is handed over,
// not copied (a push/pull at 10,000 members is a megabyte): the caller must not change it
// afterwards, and deliver must not change it either.
func (n *Network) Stream(from, to netip.AddrPort, buf []byte, deliver func(now time.Time, buf []byte)) StreamStatus {
	f := n.lookup(from)
	t := n.lookup(to)
	switch {
	case !n.running(f):
		n.counters.StreamsBlocked++
		return Blocked
	case t < 0 || !n.hot[t].attached():
		n.counters.StreamsRefused++
		return Refused
	case n.blocked(f, t):
		n.counters.StreamsBlocked++
		return Blocked
	}
	size := uint64(len(buf))
	n.counters.StreamsSent++
	n.counters.StreamBytes += size
	n.eps[f].counters.StreamBytesSent += size
	l := n.linkOf(f, t)
	d := int64(l.Latency)
	if l.Jitter > 0 {
		d += n.linkRng.Int64N(int64(l.Jitter))
	}
	back := n.linkOf(t, f)
	extra, ok := n.streamRetransmits(&l, &back, len(buf))
	if !ok {
		n.counters.StreamsLost++
		return Blocked
	}
	d += extra
	ev := n.schedule(t, n.now+max(d, 0), kindStream)
	ev.from = f
	ev.buf = buf
	ev.deliv = deliver
	ev.sum = later.Start(func() [sha256.Size]byte { return sha256.Sum256(buf) })
	return Sent
}

// TCP recovers lost segments by retransmitting them after a timeout: 1 s for the connection's
// first segment (the SYN), 200 ms for data, doubling when the same segment is lost again.
const (
	synRTO  = int64(time.Second)
	dataRTO = int64(200 * time.Millisecond)
	mss     = 1460

	maxRetransmits = 6
)

// streamRetransmits draws the extra delay a stream transfer of size bytes suffers from loss:
// every lost segment costs a retransmission timeout, so under heavy loss a stream can miss
// its deadline as a real one does. The handshake needs the SYN to cross this link and the
// SYN-ACK to cross back, so loss in either direction delays it. A segment lost on every one
// of its tries ends the connection, as TCP gives up (ok false): over a dead link a stream
// fails at the caller's timeout instead of arriving a minute late.
func (n *Network) streamRetransmits(l, back *Link, size int) (extra int64, ok bool) {
	if l.Loss <= 0 && back.Loss <= 0 {
		return 0, true
	}
	segments := 1 + (size+mss-1)/mss
	for i := range segments {
		rto, loss := dataRTO, l.Loss
		if i == 0 {
			rto, loss = synRTO, 1-(1-l.Loss)*(1-back.Loss)
		}
		if loss <= 0 {
			continue
		}
		try := 0
		for ; try <= maxRetransmits && n.linkRng.Float64() < loss; try++ {
			extra += rto
			rto *= 2
		}
		if try > maxRetransmits {
			return extra, false
		}
	}
	return extra, true
}

// schedulePacket puts one copy of a datagram in flight.
func (n *Network) schedulePacket(f, t int32, buf []byte, lazy *later.Value[[]byte], at int64) {
	ev := n.schedule(t, at, kindPacket)
	ev.from = f
	ev.buf = buf
	ev.lazy = lazy
}

// packetDelay draws the one-way delay of one datagram copy.
func (n *Network) packetDelay(l *Link) int64 {
	d := int64(l.Latency)
	if l.Jitter > 0 {
		d += n.linkRng.Int64N(int64(l.Jitter))
	}
	if l.Reorder > 0 && n.linkRng.Float64() < l.Reorder {
		d += n.linkRng.Int64N(4 * int64(max(l.Latency, time.Millisecond)))
	}
	return max(d, 0)
}

// blocked reports whether a partition separates endpoints a and b.
func (n *Network) blocked(a, b int32) bool {
	ga, gb := n.hot[a].group, n.hot[b].group
	return ga != 0 && gb != 0 && ga != gb
}

// linkOf returns the model of the direction f -> t.
func (n *Network) linkOf(f, t int32) Link {
	if len(n.links) > 0 {
		if l, ok := n.links[pairKey(f, t)]; ok {
			return l
		}
	}
	return n.link
}

// pairKey is the map key of the directed pair f -> t.
func pairKey(f, t int32) uint64 { return uint64(uint32(f))<<32 | uint64(uint32(t)) }
