package swim

// A harness over one test core that reads what the core emits, step by step, in the manner of
// raft's paper tests and quic's wantFrame: each step (time passing, a packet arriving, a
// stream finishing) replaces the harness's view of what the core sent, and the test asserts
// on it: which message types went to whom, which streams were opened, when the core next
// wants waking.

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/swim-go/swim/internal/wire"
)

// harness drives a core named "self" at 10.0.0.1:7946 whose table holds peers p1..pN at
// 10.0.1.i:7946, all alive, speaking protocol version 5 (nacks, stream pings, CRCs).
type harness struct {
	t       *testing.T
	c       *core
	peers   []string
	sent    []sentPacket  // what the last step sent
	streams []outStream   // the streams the last step opened
	events  []coreEvent   // the events the last step emitted
	history []coreEvent   // every event since the harness was made, or since takeHistory
	done    []apiDone     // the API calls the last step finished
	probeAt time.Duration // when the last probe started
	open    []outStream   // streams not finished yet; they time out at their deadline

	// For runAnswering: which probe targets ack, what relays do with an indirect ping,
	// and a look at each probe that failed (the relays it asked).
	answering     func(target string) bool
	onIndirect    func(relay string, seq uint32)
	onProbeFailed func(relays []string)
	relaysOf      map[string][]string // the relays of each target's last probe, until it fails
	relaySeq      map[string]uint32   // the sequence number of that probe
}

// sentPacket is one datagram of the last step, unpacked into its messages.
type sentPacket struct {
	to            string // the peer's name, or the address when it is no peer
	transportName string // the name the core gave the transport with it
	msgs          [][]byte
}

func newHarness(t *testing.T, cfg *Config, peers int) *harness {
	t.Helper()
	c := testCore(t, cfg)
	h := &harness{t: t, c: c}
	for i := 1; i <= peers; i++ {
		name := fmt.Sprintf("p%d", i)
		h.peers = append(h.peers, name)
		a := wire.Alive{Incarnation: 1, Node: name, Addr: h.addrOf(name).Addr().AsSlice(), Port: 7946, Vsn: []byte{1, 5, 2, 0, 0, 0}}
		c.handlePacket(c.now, netip.MustParseAddrPort("10.9.9.9:7946"), a.Append(nil))
	}
	// The joins are news the core would gossip; start the test with a quiet queue.
	c.queue.Reset()
	c.out.reset()
	return h
}

// addrOf is peer name's address.
func (h *harness) addrOf(name string) netip.AddrPort {
	var i int
	fmt.Sscanf(name, "p%d", &i)
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 1, byte(i)}), 7946)
}

// nameOf is the peer at addr, or the address itself.
func (h *harness) nameOf(addr netip.AddrPort) string {
	for _, p := range h.peers {
		if h.addrOf(p) == addr {
			return p
		}
	}
	return addr.String()
}

// step starts a new step: what the harness shows is what happens from here.
func (h *harness) step() {
	h.sent, h.streams, h.events, h.done = h.sent[:0], h.streams[:0], h.events[:0], h.done[:0]
}

// collect adds the core's outbox to the step's output.
func (h *harness) collect() {
	h.t.Helper()
	out := &h.c.out
	for _, p := range out.packets {
		sp := sentPacket{to: h.nameOf(p.to), transportName: p.name}
		wire.Unpack(p.buf, wire.DefaultLimits(), nil, func(msg []byte) { sp.msgs = append(sp.msgs, slices.Clone(msg)) },
			func(err error) { h.t.Fatalf("the core sent a packet it cannot read itself: %v", err) })
		h.sent = append(h.sent, sp)
	}
	h.streams = append(h.streams, out.streams...)
	h.open = append(h.open, out.streams...)
	h.events = append(h.events, out.events...)
	h.history = append(h.history, out.events...)
	h.done = append(h.done, out.done...)
	out.reset()
}

// takeHistory returns the events since the last call and forgets them.
func (h *harness) takeHistory() []coreEvent {
	evs := h.history
	h.history = nil
	return evs
}

// now is the core's current time, as an offset from the start.
func (h *harness) now() time.Duration { return h.c.now.Sub(testEpoch) }

// advance lets d pass, waking the core at each of its deadlines on the way, as a driver
// does (one jump over several deadlines would look to the core like a stalled loop).
func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	h.step()
	end := h.c.now.Add(d)
	for {
		t, ok := h.c.nextDeadline()
		if i := h.firstToTimeOut(); i >= 0 && !h.open[i].deadline.After(end) && (!ok || !t.Before(h.open[i].deadline)) {
			// As a driver does, a stream nobody finished fails at its deadline.
			st := h.open[i]
			h.open = slices.Delete(h.open, i, i+1)
			h.c.handleStreamResult(st.deadline, st.id, nil, errStreamTimeout)
			h.collect()
			continue
		}
		if !ok || t.After(end) {
			break
		}
		h.c.advance(t)
		h.collect()
	}
	h.c.advance(end)
	h.collect()
}

// advanceTo runs time forward to the offset at.
func (h *harness) advanceTo(at time.Duration) {
	h.t.Helper()
	require.GreaterOrEqual(h.t, at, h.now(), "time only moves forward")
	h.advance(at - h.now())
}

// nextDeadline is how long until the core next wants waking.
func (h *harness) nextDeadline() time.Duration {
	t, ok := h.c.nextDeadline()
	require.True(h.t, ok, "the core has a timer armed")
	return t.Sub(h.c.now)
}

// timerDue is how long until the earliest armed timer of kind fires.
func (h *harness) timerDue(kind timerKind) time.Duration {
	h.t.Helper()
	at := int64(-1)
	for _, t := range h.c.timers {
		if t.kind == kind && (at < 0 || t.at < at) {
			at = t.at
		}
	}
	require.GreaterOrEqual(h.t, at, int64(0), "a timer of kind %d is armed", kind)
	return time.Unix(0, at).Sub(h.c.now)
}

// recv delivers msgs from peer in one packet (a compound if several).
func (h *harness) recv(from string, msgs ...[]byte) {
	h.t.Helper()
	buf := msgs[0]
	if len(msgs) > 1 {
		buf = wire.AppendCompound(nil, msgs)
	}
	h.step()
	h.c.handlePacket(h.c.now, h.addrOf(from), buf)
	h.collect()
}

// firstToTimeOut is the index of the open stream with the earliest deadline, or -1.
func (h *harness) firstToTimeOut() int {
	first := -1
	for i, st := range h.open {
		if first < 0 || st.deadline.Before(h.open[first].deadline) {
			first = i
		}
	}
	return first
}

// streamDone finishes the stream st with reply (nil and err for a failure).
func (h *harness) streamDone(st outStream, reply []byte, err error) {
	h.t.Helper()
	h.step()
	h.open = slices.DeleteFunc(h.open, func(o outStream) bool { return o.id == st.id })
	h.c.handleStreamResult(h.c.now, st.id, reply, err)
	h.collect()
}

// sentOf returns, for each packet of the last step holding a message of type typ, the
// destination and that message.
func (h *harness) sentOf(typ wire.MessageType) (to []string, msgs [][]byte) {
	for _, p := range h.sent {
		for _, m := range p.msgs {
			if len(m) > 0 && wire.MessageType(m[0]) == typ {
				to = append(to, p.to)
				msgs = append(msgs, m)
			}
		}
	}
	return to, msgs
}

// wantSent fails unless the last step sent exactly n messages of type typ, and returns their
// destinations and the messages.
func (h *harness) wantSent(typ wire.MessageType, n int, reason string) ([]string, [][]byte) {
	h.t.Helper()
	to, msgs := h.sentOf(typ)
	require.Len(h.t, to, n, "%s: messages of type %d sent (to %v)", reason, typ, to)
	return to, msgs
}

// wantNone fails if the last step sent any message of type typ.
func (h *harness) wantNone(typ wire.MessageType, reason string) {
	h.t.Helper()
	to, _ := h.sentOf(typ)
	require.Empty(h.t, to, "%s: no message of type %d sent", reason, typ)
}

// wantStream fails unless the last step opened exactly one stream, to peer, and returns it.
func (h *harness) wantStream(peer, reason string) outStream {
	h.t.Helper()
	require.Len(h.t, h.streams, 1, "%s: one stream opened", reason)
	require.Equal(h.t, peer, h.nameOf(h.streams[0].to), "%s: the stream goes to %s", reason, peer)
	return h.streams[0]
}

// probe runs until the core pings a peer as the start of a probe, and returns the target
// and the ping.
func (h *harness) probe() (string, wire.Ping) {
	h.t.Helper()
	for range 10000 {
		h.advance(h.nextDeadline())
		for _, p := range h.sent {
			for _, m := range p.msgs {
				if wire.MessageType(m[0]) != wire.PingMsg {
					continue
				}
				var ping wire.Ping
				require.NoError(h.t, ping.Decode(m[1:]))
				if h.c.probe.active != nil && h.c.probe.active.seq == ping.SeqNo {
					h.probeAt = h.now()
					return p.to, ping
				}
			}
		}
	}
	h.t.Fatal("no probe started")
	return "", wire.Ping{}
}

// retried returns the ping of the retry of target's failed probe, sent in the last step, and
// makes the retry the harness's current probe.
func (h *harness) retried(target string) wire.Ping {
	h.t.Helper()
	p := h.c.probe.active
	require.NotNil(h.t, p, "a probe is in flight")
	require.True(h.t, p.retry, "a failed probe is retried")
	require.Equal(h.t, target, p.target.name, "the retry probes the same target")
	to, msgs := h.sentOf(wire.PingMsg)
	for i := range to {
		if ping := decode[wire.Ping](h.t, msgs[i]); to[i] == target && ping.SeqNo == p.seq {
			h.probeAt = p.start.Sub(testEpoch)
			return ping
		}
	}
	h.t.Fatalf("no retry ping to %s in the last step (pings to %v)", target, to)
	return wire.Ping{}
}

// sinceProbe runs time forward to d after the last probe started.
func (h *harness) sinceProbe(d time.Duration) {
	h.t.Helper()
	h.advanceTo(h.probeAt + d)
}

// runAnswering runs for d, playing the peers: pings to a target for which answering says so
// are acked at once, each indirect ping is handed to onIndirect, and each probe that fails
// is shown to onProbeFailed.
func (h *harness) runAnswering(d time.Duration) {
	h.t.Helper()
	end := h.c.now.Add(d)
	if h.relaysOf == nil {
		h.relaysOf, h.relaySeq = map[string][]string{}, map[string]uint32{}
	}
	relays := h.relaysOf
	for h.c.now.Before(end) {
		next, ok := h.c.nextDeadline()
		if !ok || next.After(end) {
			next = end
		}
		h.advance(next.Sub(h.c.now))
		var acks []func()
		for _, p := range h.sent {
			for _, m := range p.msgs {
				switch wire.MessageType(m[0]) {
				case wire.PingMsg:
					if ping := decode[wire.Ping](h.t, m); h.answering != nil && h.answering(p.to) {
						acks = append(acks, func() { h.recv(p.to, ack(ping.SeqNo)) })
					}
				case wire.IndirectPingMsg:
					req := decode[wire.IndirectPingReq](h.t, m)
					if h.relaySeq[req.Node] != req.SeqNo {
						// A new probe of this target: forget the relays of the last one.
						h.relaySeq[req.Node] = req.SeqNo
						relays[req.Node] = nil
					}
					relays[req.Node] = append(relays[req.Node], p.to)
					if h.onIndirect != nil {
						acks = append(acks, func() { h.onIndirect(p.to, req.SeqNo) })
					}
				}
			}
		}
		for _, e := range h.events {
			if e.kind == evSuspect && e.other.Name == "self" {
				if h.onProbeFailed != nil {
					h.onProbeFailed(relays[e.node.Name()])
				}
				delete(relays, e.node.Name())
			}
		}
		for _, f := range acks {
			f()
		}
	}
}

// wantGossiped runs one gossip interval and returns the first message of type typ the core
// gossiped in it, failing if there is none.
func (h *harness) wantGossiped(typ wire.MessageType, reason string) []byte {
	h.t.Helper()
	h.advance(h.c.cfg.GossipInterval)
	_, msgs := h.sentOf(typ)
	require.NotEmpty(h.t, msgs, reason)
	return msgs[0]
}

// score is the core's Lifeguard health score.
func (h *harness) score() int { return h.c.healthScore() }

func decode[T any, P interface {
	*T
	Decode([]byte) error
}](t *testing.T, msg []byte) T {
	t.Helper()
	var v T
	require.NoError(t, P(&v).Decode(msg[1:]))
	return v
}

func ack(seq uint32) []byte  { return (&wire.AckResp{SeqNo: seq}).Append(nil) }
func nack(seq uint32) []byte { return (&wire.NackResp{SeqNo: seq}).Append(nil) }
