package swim

// Flap damping. A member that keeps being suspected and refuting (it cannot hear most of
// what is sent to it), or that keeps dying and rejoining (its links are cut and restored),
// would otherwise keep every other member's view in motion: a suspect state, an alive one, a
// leave, a join, round after round. So each member keeps, for every other, the refutations
// it has seen: an alive message that raises the incarnation with the same address and
// metadata, which is how a member answers a suspicion or a death. It damps in two steps:
//
//   - A member that refutes a second suspicion within flapBurst probe intervals of the first
//     stays suspect in this member's view (Members() shows StateSuspect) until FlapHoldDown
//     passes without another refutation or death. An application sees it come back from
//     its first suspicion, not from the second.
//   - A member that returns from the dead within FlapHoldDown of another refutation, or
//     after dying twice within FlapHoldDown, or that refutes six suspicions within
//     flapBurst probe intervals, is held out of this member's view: it
//     leaves Members(), with one NotifyLeave (Node.HeldOut set), and nothing about it
//     reaches the application until FlapHoldDown has passed without a refutation or death;
//     then it is back, with one NotifyJoin, if it is alive.
//
// The protocol itself is untouched: the member is probed, gossiped about, suspected and
// declared dead as any other, so mixed clusters behave as before.
//
// Refutations are gossiped to everyone, so every member counts the same ones, and a member
// that flaps is damped everywhere, not on some members only. The thresholds are where a
// healthy member under heavy loss everywhere is not held and a deaf one is. With 20% loss on
// every link, Local timings (one relay per probe) and 64 members, a probe of a healthy member
// fails about one time in ten and its retry too, so each member refutes 0.6 suspicions a
// minute, at random: over 300 simulated minutes the most refutations any healthy
// member made within 20 probe intervals were 2 in 187 of them, 3 in 106, 4 in 4 and 5 in
// one. Held out at three, a healthy member left every view for a minute in a third of the
// minutes. A member with 80% ingress loss refutes every 2-3 s: six hold it out about 15 s
// after its first refutation, and it is shown suspect from its second refutation, so the application
// sees it come back once at most either way. Deaths are rarer and surer: a healthy member is
// not declared dead under that loss at all.

// A member is shown suspect when it refutes two suspicions within flapBurst probe intervals,
// and held out when it returns from the dead within FlapHoldDown of another refutation or
// refutes flapBurstCount suspicions within flapBurst probe intervals.
const (
	flapBurst      = 20
	flapBurstCount = 6
)

// flapState is what one member knows of another's refutations.
type flapState struct {
	recent  [flapBurstCount]int64 // UnixNano of the latest refutations, newest first
	inc     uint32                // the incarnation the latest raised it to
	deaths  [2]int64              // and of the latest deaths
	gen     uint64                // the latest release timer's; unique in the core, so that a timer of a reaped entry cannot release a new one
	heldOut bool
	suspect bool // shown suspect in the view, whatever the protocol's state
}

// heldOut says the member is out of the application's view.
func (m *member) heldOut() bool {
	f := m.flap()
	return f != nil && f.heldOut
}

// flapSuspect says the application's view shows the member suspect for flapping.
func (m *member) flapSuspect() bool {
	f := m.flap()
	return f != nil && f.suspect && !f.heldOut
}

// noteRefutation counts a refutation by m, just applied, that raised its incarnation to
// inc; fromDead says it answered m's death, wasInView that m was in the application's view
// before (alive or suspect, not held out).
//
// Each refutation raises the incarnation by one, so one that raises it three above the last
// counted tells of two more that this member missed: their alives were lost or overtaken by
// a later one, or a suspicion at a higher incarnation came first. They count too. Counted by
// alives received, members that missed different ones disagreed: on real sockets, with 80%
// ingress loss at one member, 6 of 63 observers still showed it suspect when the others had
// held it out.
func (c *core) noteRefutation(m *member, inc uint32, fromDead, wasInView bool) {
	h := c.cfg.FlapHoldDown
	if h <= 0 {
		return
	}
	f := c.flapRecord(m)
	now := c.now.UnixNano()
	burst := int64(flapBurst) * int64(c.cfg.ProbeInterval)
	bumps := uint32(1)
	if f.inc != 0 && inc > f.inc {
		bumps = inc - f.inc
	}
	f.inc = inc
	for range min(bumps, flapBurstCount) {
		copy(f.recent[1:], f.recent[:])
		f.recent[0] = now
	}
	within := func(i int) bool { return f.recent[i] != 0 && now-f.recent[i] <= burst }
	// Back from the dead within FlapHoldDown of another refutation (of a death or of a
	// suspicion: what it came back from is only what this member happened to see), or
	// after dying twice within FlapHoldDown, which the refutation between the two deaths
	// may not have reached this member to show.
	flapping := within(flapBurstCount-1) || fromDead &&
		(f.recent[1] != 0 && now-f.recent[1] <= int64(h) || f.deaths[1] != 0 && f.deaths[0]-f.deaths[1] <= int64(h))
	if f.heldOut {
		return
	}
	if flapping {
		c.log.Info("holding out a flapping member", "peer", m.name, "hold_down", h)
		c.metrics.count(MetricFlapHeldOut, 1)
		if wasInView {
			n := m.event()
			n.heldOut = true
			c.emit(coreEvent{kind: evLeave, node: n})
		}
		f.heldOut = true
		c.markChanged()
		return
	}
	if !fromDead && within(1) && !f.suspect {
		c.log.Debug("showing a flapping member suspect", "peer", m.name)
		f.suspect = true
		c.markChanged()
	}
}

// noteDeath counts m's death, just applied. What this member knows of m's flapping is kept
// for FlapHoldDown after it, as after a refutation, and so is a hold or a suspect showing.
func (c *core) noteDeath(m *member) {
	if c.cfg.FlapHoldDown <= 0 {
		return
	}
	f := c.flapRecord(m)
	f.deaths[1], f.deaths[0] = f.deaths[0], c.now.UnixNano()
}

// flapRecord returns m's record, made if need be, and keeps it FlapHoldDown from now: the
// release timer is re-armed, and an earlier one goes stale. A dead member is not reaped
// while it has a record (reap): learnt afresh after it, a member's return would not be
// known as one, and on real sockets a cut-off member's refutation often arrives after
// GossipToTheDeadTime.
func (c *core) flapRecord(m *member) *flapState {
	f := m.flap()
	if f == nil {
		f = &flapState{}
		m.setFlap(f)
	}
	c.flapGen++
	f.gen = c.flapGen
	c.arm(c.now.Add(c.cfg.FlapHoldDown), timerFlapRelease, 0, m.name, f.gen)
	return f
}

// endFlapSuspect stops showing m suspect for flapping; the application sees it return to
// alive if the protocol has it alive.
func (c *core) endFlapSuspect(m *member) {
	wasShown := m.flapSuspect()
	m.flap().suspect = false
	if wasShown && m.state() == StateAlive {
		c.emit(coreEvent{kind: evUnsuspect, node: m.event()})
	}
	c.markChanged()
}

// flapRelease forgets m's flapping record once FlapHoldDown has passed without a refutation
// or a death: a held member is back in the view, one shown suspect is shown as it is.
func (c *core) flapRelease(name string, gen uint64) {
	m := c.members.get(name)
	if m == nil || m.flap() == nil || m.flap().gen != gen {
		return
	}
	f := m.flap()
	if !f.heldOut {
		if f.suspect {
			c.endFlapSuspect(m)
		}
		m.setFlap(nil)
		return
	}
	m.setFlap(nil)
	c.log.Info("releasing a member that stopped flapping", "peer", name)
	if m.state() == StateAlive || m.state() == StateSuspect {
		c.emit(coreEvent{kind: evJoin, node: m.event()})
	}
	c.markChanged()
}
