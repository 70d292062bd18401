package swim

// Failure detection (SWIM section 3, with Lifeguard's local health). Each probe interval this
// member probes the next member of a shuffled round-robin list, so every member is probed
// within a bounded time (SWIM section 4.3: time-bounded completeness):
//
//  1. Ping the target directly (with a suspect message piggybacked if it is already suspect,
//     so it hears the accusation: the "buddy system") and wait ProbeTimeout for the ack.
//  2. Without an ack, ask IndirectChecks random members to ping it for us (they send a nack
//     if they get no ack, so we can tell "the target is down" from "I am cut off"), and, if
//     the target supports it, try a stream ping alongside. Wait until the probe interval ends.
//  3. Without any ack, suspect the target. Suspicion, not the probe, decides death.
//
// Local health ("awareness", Lifeguard section 4.1) is a score that rises when this member
// itself seems slow (missed nacks, failed probes, having to refute, its own timers firing late)
// and falls with each prompt ack. Probe interval and timeout are stretched by score+1, so a
// member that is struggling accuses others less.

import (
	"net/netip"
	"time"

	"github.com/swim-go/swim/internal/wire"
)

// prober holds the probe schedule and the probe in flight.
type prober struct {
	order  []*member
	idx    int
	active *activeProbe
}

// activeProbe is the probe in flight.
type activeProbe struct {
	seq           uint32
	target        *member
	start         time.Time
	acked         bool // an ack (direct or relayed) arrived
	indirect      bool // the direct ping timed out
	expectedNacks int
	nacks         int
	streamPending bool // a stream ping is out
	streamOK      bool // the stream ping was answered
	ended         bool // the window closed while the stream ping was still out
	done          bool
}

// relay is a ping this member sent on behalf of another member's indirect probe.
type relay struct {
	origSeq uint32
	replyTo netip.AddrPort
	nack    bool
}

// maxRelays bounds the relayed pings in flight, so a flood of indirect ping requests cannot
// grow memory without bound.
const maxRelays = 4096

// insert puts a new member at a random position of the probe list (SWIM section 4.3).
func (p *prober) insert(c *core, m *member) {
	p.order = append(p.order, m)
	j := c.rng.IntN(len(p.order))
	last := len(p.order) - 1
	p.order[j], p.order[last] = p.order[last], p.order[j]
}

// next returns the next member to probe, or nil if there is none. At the end of the list it
// reaps stale dead members and reshuffles.
func (p *prober) next(c *core) *member {
	for tries := 0; tries <= len(p.order); tries++ {
		if p.idx >= len(p.order) {
			c.reap()
			p.order = p.order[:0]
			for _, m := range c.members.list {
				if m != c.self {
					p.order = append(p.order, m)
				}
			}
			c.rng.Shuffle(len(p.order), func(i, j int) { p.order[i], p.order[j] = p.order[j], p.order[i] })
			p.idx = 0
			if len(p.order) == 0 {
				return nil
			}
		}
		m := p.order[p.idx]
		p.idx++
		if m.state == StateAlive || m.state == StateSuspect {
			if c.members.byName[m.name] == m {
				return m
			}
		}
	}
	return nil
}

// awareness is Lifeguard's local health multiplier.
type awareness struct {
	max       int // AwarenessMaxMultiplier
	score     int // 0..max-1
	lastStall time.Time
}

func (a *awareness) apply(delta int) {
	a.score = min(max(a.score+delta, 0), a.max-1)
}

// scale stretches a probe timing by the current health score.
func (a *awareness) scale(d time.Duration) time.Duration {
	return d * time.Duration(a.score+1)
}

// noteLateness lets a timer that fired late count against local health: if this member's own
// loop was stalled (a GC pause, a stopped process, an overloaded host), the acks it was waiting
// for may be sitting unread, and it is the one that is unhealthy, not its target. The score
// rises by one per probe interval of stall, once per stall, before the late timers are judged
// against the stretched deadlines.
func (a *awareness) noteLateness(c *core, late time.Duration) {
	if a.max <= 1 || late <= c.cfg.ProbeTimeout || c.now.Equal(a.lastStall) {
		return
	}
	a.lastStall = c.now
	steps := int((late + c.cfg.ProbeInterval - 1) / c.cfg.ProbeInterval)
	a.apply(steps)
	c.log.Warn("protocol loop stalled; raising local health score", "stall", late, "score", a.score)
}

// probeTick starts the next probe and arms the one after.
func (c *core) probeTick() {
	if p := c.probe.active; p != nil && !p.done {
		// The previous probe's window was stretched (or its stream ping is still out):
		// let it finish first.
		c.armAfter(c.awareness.scale(c.cfg.ProbeTimeout), timerProbe, 0, "", 0)
		return
	}
	c.armAfter(c.awareness.scale(c.cfg.ProbeInterval), timerProbe, 0, "", 0)
	if c.leaving {
		return
	}
	target := c.probe.next(c)
	if target == nil {
		return
	}
	seq := c.nextSeqNo()
	c.probe.active = &activeProbe{seq: seq, target: target, start: c.now}
	ping := c.pingFor(seq, target.name)
	if target.state == StateSuspect {
		// The buddy system: the suspect hears the accusation from its prober. It goes ahead
		// of the ping, so that a swim target's ack already carries its refutation.
		s := wire.Suspect{Incarnation: target.incarnation, Node: target.name, From: c.self.name}
		c.sendMsg(target.addrPort(), target, s.Append(nil), ping.Append(c.msgBuf[:0]))
	} else {
		c.sendMsg(target.addrPort(), target, ping.Append(c.msgBuf[:0]))
	}
	c.arm(c.now.Add(c.awareness.scale(c.cfg.ProbeTimeout)), timerProbeTimeout, seq, "", 0)
}

// pingFor builds a ping from this member.
func (c *core) pingFor(seq uint32, target string) *wire.Ping {
	return &wire.Ping{SeqNo: seq, Node: target, SourceAddr: c.self.addrBytes(), SourcePort: c.self.port, SourceNode: c.self.name}
}

// probeTimeout moves a probe without a direct ack to indirect pings.
func (c *core) probeTimeout(seq uint32) {
	p := c.probe.active
	if p == nil || p.seq != seq || p.done || p.acked {
		return
	}
	if due := p.start.Add(c.awareness.scale(c.cfg.ProbeTimeout)); c.now.Before(due) {
		c.arm(due, timerProbeTimeout, seq, "", 0)
		return
	}
	p.indirect = true
	t := p.target
	end := p.start.Add(c.awareness.scale(c.cfg.ProbeInterval))
	if !end.After(c.now) {
		// The window closed while this member was not running: nobody can answer in time.
		c.arm(end, timerProbeEnd, seq, "", 0)
		return
	}
	for _, r := range c.kRandomMembers(c.cfg.IndirectChecks, func(m *member) bool {
		return m != c.self && m != t && m.state == StateAlive
	}) {
		req := wire.IndirectPingReq{SeqNo: seq, Target: t.addrBytes(), Port: t.port, Node: t.name, Nack: r.vsn[1] >= 4,
			SourceAddr: c.self.addrBytes(), SourcePort: c.self.port, SourceNode: c.self.name}
		if req.Nack {
			p.expectedNacks++
		}
		c.sendMsg(r.addrPort(), r, req.Append(c.msgBuf[:0]))
	}
	if !c.cfg.DisableTcpPings && t.vsn[1] >= 3 {
		p.streamPending = true
		c.openStream(t.addrPort(), c.frameStream(c.pingFor(seq, t.name).Append(nil)), end.Sub(c.now), true,
			pendingStream{kind: streamPing, seq: seq, name: t.name})
	}
	c.arm(end, timerProbeEnd, seq, "", 0)
}

// probeEnd closes a probe's window.
func (c *core) probeEnd(seq uint32) {
	p := c.probe.active
	if p == nil || p.seq != seq || p.done {
		return
	}
	if due := p.start.Add(c.awareness.scale(c.cfg.ProbeInterval)); c.now.Before(due) {
		c.arm(due, timerProbeEnd, seq, "", 0)
		return
	}
	if p.streamPending && !p.acked {
		p.ended = true
		return
	}
	c.concludeProbe(p)
}

// concludeProbe judges a probe whose window has closed.
func (c *core) concludeProbe(p *activeProbe) {
	p.done = true
	if p.acked {
		return
	}
	if p.streamOK {
		c.log.Warn("stream ping answered but packet probes failed; the network may drop UDP", "peer", p.target.name)
		return
	}
	// Lifeguard: relays that did not even send a nack suggest the problem is here.
	if p.expectedNacks > 0 {
		c.awareness.apply(p.expectedNacks - p.nacks)
	} else {
		c.awareness.apply(1)
	}
	t := p.target
	if c.members.byName[t.name] != t {
		return
	}
	c.log.Info("suspecting member: no ack", "peer", t.name, "incarnation", t.incarnation)
	c.suspectNode(&wire.Suspect{Incarnation: t.incarnation, Node: t.name, From: c.self.name})
}

// streamPingResult takes the outcome of a probe's stream ping.
func (c *core) streamPingResult(ps pendingStream, reply []byte, err error) {
	p := c.probe.active
	if p == nil || p.seq != ps.seq || p.done {
		return
	}
	p.streamPending = false
	if err == nil && len(reply) > 0 && wire.MessageType(reply[0]) == wire.AckRespMsg {
		var ack wire.AckResp
		if ack.Decode(reply[1:]) == nil && ack.SeqNo == ps.seq {
			p.streamOK = true
		}
	}
	if p.ended {
		c.concludeProbe(p)
	}
}

// replyAddr is where an ack or nack for a request goes: its Source fields when it has both,
// else where the packet came from (wire-format.md section 1).
func replyAddr(from netip.AddrPort, srcAddr []byte, srcPort uint16) netip.AddrPort {
	if len(srcAddr) > 0 && srcPort > 0 {
		if a, ok := netip.AddrFromSlice(srcAddr); ok {
			return netip.AddrPortFrom(a.Unmap(), srcPort)
		}
	}
	return from
}

// handlePing answers a ping meant for this member.
func (c *core) handlePing(from netip.AddrPort, m *wire.Ping) {
	if m.Node != "" && m.Node != c.self.name {
		c.drop(DropMisaddressed, from, nil)
		return
	}
	ack := wire.AckResp{SeqNo: m.SeqNo}
	if c.cfg.Ping != nil {
		ack.Payload = c.cfg.Ping.AckPayload()
	}
	c.sendMsg(replyAddr(from, m.SourceAddr, m.SourcePort), c.members.byName[m.SourceNode], ack.Append(c.msgBuf[:0]))
}

// handleIndirectPing pings a target on behalf of another member's probe.
func (c *core) handleIndirectPing(from netip.AddrPort, m *wire.IndirectPingReq) {
	target, ok := netip.AddrFromSlice(m.Target)
	if !ok {
		c.drop(DropMalformed, from, nil)
		return
	}
	if len(c.relays) >= maxRelays {
		c.drop(DropQueueFull, from, nil)
		return
	}
	port := m.Port
	if port == 0 {
		port = c.self.port
	}
	seq := c.nextSeqNo()
	c.relays[seq] = relay{origSeq: m.SeqNo, replyTo: replyAddr(from, m.SourceAddr, m.SourcePort), nack: m.Nack}
	c.sendMsg(netip.AddrPortFrom(target.Unmap(), port), c.members.byName[m.Node], c.pingFor(seq, m.Node).Append(c.msgBuf[:0]))
	c.armAfter(c.cfg.ProbeTimeout, timerRelayTimeout, seq, "", 0)
}

// relayTimeout sends a nack for a relayed ping that got no ack, if the requester asked.
func (c *core) relayTimeout(seq uint32) {
	r, ok := c.relays[seq]
	if !ok {
		return
	}
	delete(c.relays, seq)
	if r.nack {
		nack := wire.NackResp{SeqNo: r.origSeq}
		c.sendMsg(r.replyTo, nil, nack.Append(c.msgBuf[:0]))
	}
}

// handleAck matches an ack to a relayed ping (forwarding it) or to the probe in flight.
func (c *core) handleAck(m *wire.AckResp) {
	if r, ok := c.relays[m.SeqNo]; ok {
		delete(c.relays, m.SeqNo)
		ack := wire.AckResp{SeqNo: r.origSeq}
		c.sendMsg(r.replyTo, nil, ack.Append(c.msgBuf[:0]))
		return
	}
	p := c.probe.active
	if p == nil || p.seq != m.SeqNo || p.done || p.acked {
		return
	}
	p.acked = true
	p.done = true
	if !p.indirect {
		c.awareness.apply(-1)
	}
	if c.cfg.Ping != nil {
		c.emit(coreEvent{kind: evPingComplete, node: p.target.node(), rtt: c.now.Sub(p.start), msg: m.Payload})
	}
}

// handleNack counts a relay's nack for the probe in flight.
func (c *core) handleNack(m *wire.NackResp) {
	if p := c.probe.active; p != nil && p.seq == m.SeqNo && !p.done {
		p.nacks++
	}
}

// kRandomMembers picks up to k distinct random members for which ok is true. It gives up
// after 3n draws, so a table with few eligible members costs O(n), never more.
func (c *core) kRandomMembers(k int, ok func(*member) bool) []*member {
	picked := c.pick[:0]
	n := len(c.members.list)
	for i := 0; i < 3*n && len(picked) < k; i++ {
		m := c.members.list[c.rng.IntN(n)]
		if !ok(m) || containsMember(picked, m) {
			continue
		}
		picked = append(picked, m)
	}
	c.pick = picked
	return picked
}

func containsMember(ms []*member, m *member) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
}
