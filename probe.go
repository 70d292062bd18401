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
//  3. Without any ack, probe the target once more at once (other relays, a fresh stream
//     ping), telling nobody. Only if that fails too, suspect it. Suspicion, not the probe,
//     decides death. A probe whose stream ping was refused (nothing listens at the target's
//     address) is not retried, and ends as soon as every relay has nacked.
//
// The retry is swim's, not the paper's. Under 20% loss a probe of a healthy member fails
// about one time in 35, and every suspicion it raises reaches every member and must be
// refuted by all of them: with 200 members that was 61,000 suspect observations and 4.6 KB
// per member per second in a simulated minute. The retry fails independently, so a healthy
// member is accused about once per thousand probes (1,400 observations, 0.5 KB/s). A crash
// is not declared dead later for it: the suspicion counts from the first failed probe.
//
// Local health ("awareness", Lifeguard section 4.1) is a score that rises when this member
// itself seems slow (relays that should have nacked and did not, having to refute, its own
// timers firing late) and falls with each answered probe. Probe interval and timeout are
// stretched by score+1, so a member that is struggling accuses others less.

import (
	"errors"
	"net/netip"
	"syscall"
	"time"

	"github.com/swim-go/swim/internal/wire"
)

// prober holds the probe schedule, the probe in flight, and the last failed probe while its
// relays' nacks are still being counted.
type prober struct {
	// order is the probe round: positions in the member table's list, shuffled. A position
	// keeps naming the same member for the whole round, since the list only grows between
	// reaps and reap runs when a round ends, just before the order is rebuilt. Positions
	// rather than pointers: 4 bytes per member and nothing for the garbage collector to
	// trace, in each of the simulator's 10,000 tables of 10,000 members.
	order   []int32
	idx     int
	active  *activeProbe
	judging *activeProbe
}

// probePhase is where a probe is. It only moves forward.
type probePhase uint8

const (
	probeDirect   probePhase = iota // the ping is out; waiting ProbeTimeout for its ack
	probeIndirect                   // relays (and maybe a stream ping) are out until the window closes
	probeStream                     // the window closed; only the stream ping may still answer
	probeAnswered                   // an ack came: directly, through a relay, or by stream
	probeFailed                     // no answer: the target is suspected; nacks still count
)

// activeProbe is one probe: its target, its phase, and the relays asked to help.
type activeProbe struct {
	seq           uint32
	target        *member
	start         time.Time
	phase         probePhase
	streamPending bool // a stream ping is out
	// refused says the stream ping was refused: nothing listens at the target's address,
	// which packet loss does not explain.
	refused bool
	// trusted says the target had answered this member before: only then does its silence,
	// with no trusted relay to tell who is at fault, count against this member's health.
	trusted bool
	relays  []probeRelay
	// retry says a probe of this target just failed: this one decides whether to suspect it.
	retry bool
}

// probeRelay is a member asked to ping the target for us.
type probeRelay struct {
	m *member
	// counts says its silence would count against this member's health: it promised a
	// nack and had answered this member before, so a missing nack suggests the problem is
	// here rather than there.
	counts bool
	nacked bool
}

// finished says the probe will not change the target's fate any more.
func (p *activeProbe) finished() bool { return p.phase >= probeAnswered }

// relayAt returns the relay at address from, or nil.
func (p *activeProbe) relayAt(from netip.AddrPort) *probeRelay {
	for i := range p.relays {
		if p.relays[i].m.addrPort() == from {
			return &p.relays[i]
		}
	}
	return nil
}

// bySeq returns the probe with this sequence number that may still hear a nack, or nil.
func (p *prober) bySeq(seq uint32) *activeProbe {
	switch {
	case p.active != nil && p.active.seq == seq:
		return p.active
	case p.judging != nil && p.judging.seq == seq:
		return p.judging
	}
	return nil
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

// insert puts the member just added at position pos of the list at a random position of the
// probe order (SWIM section 4.3).
func (p *prober) insert(c *core, pos int) {
	p.order = append(p.order, int32(pos))
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
			for i, m := range c.members.list {
				if m != c.self {
					p.order = append(p.order, int32(i))
				}
			}
			c.rng.Shuffle(len(p.order), func(i, j int) { p.order[i], p.order[j] = p.order[j], p.order[i] })
			p.idx = 0
			if len(p.order) == 0 {
				return nil
			}
		}
		// The order holds positions in the table as it stands: members are only ever
		// added at its end (insert) or removed by reap, just above, before the order is
		// made afresh.
		m := c.members.list[p.order[p.idx]]
		p.idx++
		if m.state() == StateAlive || m.state() == StateSuspect {
			return m
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
	if p := c.probe.active; p != nil && !p.finished() {
		// The previous probe's window was stretched (or its stream ping is still out):
		// let it finish first.
		c.armAfter(c.awareness.scale(c.cfg.ProbeTimeout), timerProbe, 0, "", 0)
		return
	}
	c.armAfter(c.awareness.scale(c.cfg.ProbeInterval), timerProbe, 0, "", 0)
	c.reportHealth()
	if c.leaving {
		return
	}
	if target := c.probe.next(c); target != nil {
		c.startProbe(target, false)
	}
}

// startProbe pings target.
func (c *core) startProbe(target *member, retry bool) {
	seq := c.nextSeqNo()
	c.probe.active = &activeProbe{seq: seq, target: target, start: c.now, trusted: target.answered, retry: retry}
	ping := c.pingFor(seq, target.name)
	if target.state() == StateSuspect {
		// The buddy system: the suspect hears the accusation from its prober.
		c.accuse(target, c.self.name, ping.Append(c.msgBuf[:0]))
	} else {
		c.sendMsg(target.addrPort(), target, ping.Append(c.msgBuf[:0]))
	}
	c.arm(c.now.Add(c.awareness.scale(c.cfg.ProbeTimeout)), timerProbeTimeout, seq, "", 0)
}

// reportHealth reports the health score and the table's states, once per probe interval.
func (c *core) reportHealth() {
	if !c.metrics.on() {
		return
	}
	c.metrics.gauge(MetricHealthScore, float64(c.awareness.score))
	if c.awareness.score > 0 {
		c.metrics.count(MetricProbeDegraded, 1)
	}
	var n [StateLeft + 1]int
	for _, m := range c.members.list {
		n[m.state()]++
	}
	for s, k := range n {
		c.metrics.gaugeBy(MetricMembers, float64(k), "state", NodeState(s).String())
	}
}

// pingFor builds a ping from this member.
func (c *core) pingFor(seq uint32, target string) *wire.Ping {
	return &wire.Ping{SeqNo: seq, Node: target, SourceAddr: c.self.addrBytes(), SourcePort: c.self.port, SourceNode: c.self.name}
}

// probeTimeout moves a probe without a direct ack to indirect pings.
func (c *core) probeTimeout(seq uint32) {
	p := c.probe.active
	if p == nil || p.seq != seq || p.phase != probeDirect {
		return
	}
	if due := p.start.Add(c.awareness.scale(c.cfg.ProbeTimeout)); c.now.Before(due) {
		c.arm(due, timerProbeTimeout, seq, "", 0)
		return
	}
	p.phase = probeIndirect
	t := p.target
	end := p.start.Add(c.awareness.scale(c.cfg.ProbeInterval))
	if !end.After(c.now) {
		// The window closed while this member was not running: nobody can answer in time.
		c.arm(end, timerProbeEnd, seq, "", 0)
		return
	}
	for _, r := range c.pickRelays(t) {
		req := wire.IndirectPingReq{SeqNo: seq, Target: t.addrBytes(), Port: t.port, Node: t.name, Nack: r.vsn[1] >= 4,
			SourceAddr: c.self.addrBytes(), SourcePort: c.self.port, SourceNode: c.self.name}
		p.relays = append(p.relays, probeRelay{m: r, counts: req.Nack && r.answered})
		c.sendMsg(r.addrPort(), r, req.Append(c.msgBuf[:0]))
	}
	if !c.cfg.DisableTcpPings && t.vsn[1] >= 3 && (c.cfg.DisableTcpPingsForNode == nil || !c.cfg.DisableTcpPingsForNode(t.name)) {
		p.streamPending = true
		c.openStream(t.addrPort(), c.frameStream(c.pingFor(seq, t.name).Append(nil)), end.Sub(c.now), true,
			pendingStream{kind: streamPing, seq: seq, name: t.name})
	}
	c.arm(end, timerProbeEnd, seq, "", 0)
}

// pickRelays chooses up to IndirectChecks alive members to ping t for us, preferring those
// that have answered this member before: a member that never answered (crashed, or a fake a
// stranger announced) would neither reach the target nor nack. The trusted ones are drawn
// from a full list (a failed probe is rare enough to pay O(n) for it), so that none is
// missed; the rest are random draws.
func (c *core) pickRelays(t *member) []*member {
	eligible := func(m *member) bool { return m != c.self && m != t && m.state() == StateAlive }
	k := c.cfg.IndirectChecks
	var trusted []*member
	for _, m := range c.members.list {
		if eligible(m) && m.answered {
			trusted = append(trusted, m)
		}
	}
	for i := 0; i < len(trusted) && i < k; i++ {
		j := i + c.rng.IntN(len(trusted)-i)
		trusted[i], trusted[j] = trusted[j], trusted[i]
	}
	if len(trusted) >= k {
		return trusted[:k]
	}
	return append(trusted, c.kRandomMembers(k-len(trusted), func(m *member) bool { return eligible(m) && !m.answered })...)
}

// probeEnd closes a probe's window.
func (c *core) probeEnd(seq uint32) {
	p := c.probe.active
	if p == nil || p.seq != seq || p.phase != probeIndirect {
		return
	}
	if due := p.start.Add(c.awareness.scale(c.cfg.ProbeInterval)); c.now.Before(due) {
		c.arm(due, timerProbeEnd, seq, "", 0)
		return
	}
	if p.streamPending {
		p.phase = probeStream
		return
	}
	c.probeFailed(p)
}

// probeAnswered ends a probe that got an ack, by any path. Lifeguard: every answered probe
// is evidence that this member is healthy.
func (c *core) probeAnswered(p *activeProbe, via string) {
	p.phase = probeAnswered
	p.target.answered = true
	c.awareness.apply(-1)
	c.metrics.sampleBy(MetricProbe, millis(c.now.Sub(p.start)), "outcome", via)
}

// probeFailed ends a probe that got no ack: the target is suspected, and the relays' nacks
// are judged once they have had time to arrive.
func (c *core) probeFailed(p *activeProbe) {
	p.phase = probeFailed
	c.metrics.sampleBy(MetricProbe, millis(c.now.Sub(p.start)), "outcome", "failed")
	if c.probe.judging != nil {
		c.judgeNacks(c.probe.judging)
	}
	c.probe.judging = p
	// A relay pings the target when our request arrives and nacks ProbeTimeout later;
	// allow one more ProbeTimeout for the two trips. With LAN timings that is after the
	// window closes, so judging at the window's end would miss every nack.
	indirectAt := p.start.Add(c.awareness.scale(c.cfg.ProbeTimeout))
	c.arm(indirectAt.Add(2*c.cfg.ProbeTimeout), timerNackDue, p.seq, "", 0)
	t := p.target
	if c.members.get(t.name) != t {
		return
	}
	if t.state() == StateAlive && !p.retry && !p.refused && !c.leaving {
		// Relays that have not nacked yet are not trusted until they do: the retry asks
		// others, and a relay that stays silent counts against this member once, not
		// again as a relay of the retry (with WAN timings the retry picks its relays
		// before this probe's nacks are judged).
		for i := range p.relays {
			if r := &p.relays[i]; !r.nacked {
				r.m.answered = false
			}
		}
		c.log.Debug("probe failed; probing again before suspecting", "peer", t.name)
		c.startProbe(t, true)
		return
	}
	if t.state() == StateAlive {
		c.log.Info("suspecting member: no ack", "peer", t.name, "incarnation", t.incarnation)
	} else {
		c.log.Debug("probe failed again", "peer", t.name, "state", t.state().String(), "incarnation", t.incarnation)
	}
	c.suspectNode(&wire.Suspect{Incarnation: t.incarnation, Node: t.name, From: c.self.name})
	if s := t.susp(); p.retry && s != nil && s.accuser == c.self.name && s.start.Equal(c.now) {
		// The suspicion counts from the first failure, as it would have without the
		// retry, so that a crash is declared dead no later for it.
		s.start = p.start
		c.arm(s.deadline(), timerSuspicion, 0, t.name, s.gen)
	}
}

// nackDue judges the nacks of the failed probe seq, if it is still waiting for them.
func (c *core) nackDue(seq uint32) {
	if p := c.probe.judging; p != nil && p.seq == seq {
		c.judgeNacks(p)
	}
}

// judgeNacks applies Lifeguard's verdict on a failed probe (section 4.1): each relay that had
// answered before and promised a nack but sent none suggests that this member, not the
// target, is cut off. With no such relay to ask, the failed probe itself counts once, if the
// target used to answer: a member that never answered (a fake a stranger announced) says
// nothing about this member's health by staying silent. A failed probe never lowers the
// score. A relay that stayed silent is not trusted until it answers again, so a crashed or
// fake relay is held against this member at most once.
func (c *core) judgeNacks(p *activeProbe) {
	if c.probe.judging == p {
		c.probe.judging = nil
	}
	counted, missing := 0, 0
	for i := range p.relays {
		r := &p.relays[i]
		if !r.counts {
			continue
		}
		counted++
		if !r.nacked {
			missing++
			r.m.answered = false
		}
	}
	if counted == 0 && p.trusted {
		missing = 1
	}
	c.awareness.apply(missing)
}

// streamPingResult takes the outcome of a probe's stream ping.
func (c *core) streamPingResult(ps pendingStream, reply []byte, err error) {
	p := c.probe.active
	if p == nil || p.seq != ps.seq || p.finished() {
		return
	}
	p.streamPending = false
	if err == nil && len(reply) > 0 && wire.MessageType(reply[0]) == wire.AckRespMsg {
		var ack wire.AckResp
		if ack.Decode(reply[1:]) == nil && ack.SeqNo == ps.seq {
			c.log.Warn("stream ping answered but packet probes failed; the network may drop UDP", "peer", p.target.name)
			c.probeAnswered(p, "stream")
			return
		}
	}
	p.refused = errors.Is(err, syscall.ECONNREFUSED)
	switch {
	case p.phase == probeStream:
		c.probeFailed(p)
	case p.phase == probeIndirect:
		c.endIfHopeless(p)
	}
}

// endIfHopeless fails a probe before its window closes when nothing can still answer: the
// stream ping was refused and every relay has nacked. With Local timings that is 0.4 s into
// a 1 s window, and the probe of a crashed member fails that much sooner. A late direct ack
// is given up on only then, when the target's own stream port refused us.
func (c *core) endIfHopeless(p *activeProbe) {
	if !p.refused || p.phase != probeIndirect {
		return
	}
	for _, r := range p.relays {
		if !r.nacked {
			return
		}
	}
	c.probeFailed(p)
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

// handlePing answers a ping meant for this member. A ping that comes from a member with this
// member's own name at another address (a newcomer checking whether its name is taken) is a
// conflict the application hears of; it is answered all the same, which is what tells the
// newcomer the name is in use.
func (c *core) handlePing(from netip.AddrPort, m *wire.Ping) {
	if m.Node != "" && m.Node != c.self.name {
		c.drop(DropMisaddressed, from, nil)
		return
	}
	if m.SourceNode == c.self.name {
		if src := replyAddr(from, m.SourceAddr, m.SourcePort); src != c.self.addrPort() {
			c.emit(coreEvent{kind: evConflict, node: c.self.event(),
				other: &Node{Name: m.SourceNode, Addr: src.Addr().AsSlice(), Port: src.Port()}})
		}
	}
	ack := wire.AckResp{SeqNo: m.SeqNo}
	if c.cfg.Ping != nil {
		ack.Payload = c.cfg.Ping.AckPayload()
	}
	c.sendMsg(replyAddr(from, m.SourceAddr, m.SourcePort), c.members.get(m.SourceNode), ack.Append(c.msgBuf[:0]))
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
	c.sendMsg(netip.AddrPortFrom(target.Unmap(), port), c.members.get(m.Node), c.pingFor(seq, m.Node).Append(c.msgBuf[:0]))
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

// userPing is a ping the application asked for (Memberlist.Ping), waiting for its ack.
type userPing struct {
	token uint64
	start time.Time
}

// ping sends a ping to the member named name at addr, outside the probe schedule; the call
// finishes with the round-trip time, or ErrNoPingResponse after ProbeTimeout.
func (c *core) ping(now time.Time, name string, addr netip.AddrPort, token uint64) {
	c.setNow(now)
	seq := c.nextSeqNo()
	c.pings[seq] = userPing{token: token, start: c.now}
	c.sendMsg(addr, c.peerNamed(name), c.pingFor(seq, name).Append(c.msgBuf[:0]))
	c.armAfter(c.cfg.ProbeTimeout, timerPing, seq, "", 0)
}

// pingDone finishes the ping seq: answered if ack is not nil.
func (c *core) pingDone(seq uint32, ack *wire.AckResp) {
	p, ok := c.pings[seq]
	if !ok {
		return
	}
	delete(c.pings, seq)
	if ack == nil {
		c.out.done = append(c.out.done, apiDone{token: p.token, err: ErrNoPingResponse})
		return
	}
	c.out.done = append(c.out.done, apiDone{token: p.token, rtt: c.now.Sub(p.start)})
}

// handleAck matches an ack to a relayed ping (forwarding it), to a ping the application or a
// name check sent, or to the probe in flight.
func (c *core) handleAck(from netip.AddrPort, m *wire.AckResp) {
	if _, ok := c.nameChecks[m.SeqNo]; ok {
		c.nameCheckDone(m.SeqNo, true)
		return
	}
	if _, ok := c.pings[m.SeqNo]; ok {
		c.pingDone(m.SeqNo, m)
		return
	}
	if r, ok := c.relays[m.SeqNo]; ok {
		delete(c.relays, m.SeqNo)
		ack := wire.AckResp{SeqNo: r.origSeq}
		c.sendMsg(r.replyTo, nil, ack.Append(c.msgBuf[:0]))
		return
	}
	p := c.probe.active
	if p == nil || p.seq != m.SeqNo || p.finished() {
		return
	}
	direct := p.phase == probeDirect
	via := "direct"
	if r := p.relayAt(from); r != nil {
		r.m.answered = true
		via = "indirect"
	}
	c.probeAnswered(p, via)
	if c.cfg.Ping != nil && direct {
		// As in memberlist, only an ack within ProbeTimeout of the ping is a round-trip
		// time worth reporting; a late or relayed one says more about the network's trouble.
		c.emit(coreEvent{kind: evPingComplete, node: p.target.event(), rtt: c.now.Sub(p.start), msg: m.Payload})
	}
}

// handleNack counts a relay's nack for a probe: once per relay, however often the network
// duplicates it, and only from a relay that was asked.
func (c *core) handleNack(from netip.AddrPort, m *wire.NackResp) {
	p := c.probe.bySeq(m.SeqNo)
	if p == nil {
		return
	}
	if r := p.relayAt(from); r != nil {
		r.nacked = true
		r.m.answered = true
		if p == c.probe.active {
			c.endIfHopeless(p)
		}
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
