package swim

// Flap damping. A member that keeps being suspected and refuting (it cannot hear most of
// what is sent to it), or that keeps dying and rejoining (its links are cut and restored),
// would otherwise keep every other member's view in motion: a suspect state, an alive one, a
// leave, a join, round after round. So each member keeps, for every other, the refutations
// it has seen: an alive message that raises the incarnation with the same address and
// metadata, which is how a member answers a suspicion or a death. A member that returns from
// the dead twice within FlapHoldDown, or refutes three suspicions within 20 probe
// intervals, is held out of this member's view: it leaves Members(), with one NotifyLeave
// (Node.HeldOut set), and nothing about it reaches the application until FlapHoldDown has
// passed without a refutation; then it is back, with one NotifyJoin, if it is alive. The
// protocol itself is untouched: the held member is probed, gossiped about, suspected and
// declared dead as any other, so mixed clusters behave as before.
//
// Refutations are gossiped to everyone, so every member counts the same ones, and a member
// that flaps is held out everywhere, not on some members only. The thresholds are where a
// healthy member under heavy loss everywhere is never held and a deaf one is held at once:
// with 20% loss on every link, Local timings and 64 members, refuting two suspicions within
// 20 probe intervals happened to 1 to 9 healthy members a minute (each then left every
// view for a minute), three never; a member with 80% ingress loss refutes every few seconds.
// Deaths are rarer and surer: a healthy member is not declared dead under that loss at all.

// A member is held out when it returns from the dead twice within FlapHoldDown, or refutes
// flapBurstCount suspicions within flapBurst probe intervals.
const (
	flapBurst      = 20
	flapBurstCount = 3
)

// flapState is what one member knows of another's refutations.
type flapState struct {
	recent   [flapBurstCount]int64 // UnixNano of the latest refutations, newest first
	lastDead int64                 // and of the last return from the dead
	gen      uint64                // the latest release timer's; unique in the core, so that a timer of a reaped entry cannot release a new one
	heldOut  bool
}

// heldOut says the member is out of the application's view.
func (m *member) heldOut() bool { return m.flap != nil && m.flap.heldOut }

// noteRefutation counts a refutation by m, just applied; fromDead says it answered m's
// death, wasInView that m was in the application's view before it (alive or suspect, not
// held out).
func (c *core) noteRefutation(m *member, fromDead, wasInView bool) {
	h := c.cfg.FlapHoldDown
	if h <= 0 {
		return
	}
	f := m.flap
	if f == nil {
		f = &flapState{}
		m.flap = f
	}
	now := c.now.UnixNano()
	burst := int64(flapBurst) * int64(c.cfg.ProbeInterval)
	copy(f.recent[1:], f.recent[:])
	f.recent[0] = now
	oldest := f.recent[flapBurstCount-1]
	flapping := oldest != 0 && now-oldest <= burst || fromDead && f.lastDead != 0 && now-f.lastDead <= int64(h)
	if fromDead {
		f.lastDead = now
	}
	c.flapGen++
	f.gen = c.flapGen
	c.arm(c.now.Add(h), timerFlapRelease, 0, m.name, f.gen)
	if !flapping || f.heldOut {
		return
	}
	c.log.Info("holding out a flapping member", "peer", m.name, "hold_down", h)
	c.metrics.count(MetricFlapHeldOut, 1)
	if wasInView {
		n := m.node()
		n.HeldOut = true
		c.emit(coreEvent{kind: evLeave, node: n})
	}
	f.heldOut = true
	c.markChanged()
}

// flapRelease brings a held member back once FlapHoldDown has passed without a refutation.
func (c *core) flapRelease(name string, gen uint64) {
	m := c.members.byName[name]
	if m == nil || m.flap == nil || m.flap.gen != gen {
		return
	}
	f := m.flap
	m.flap = nil
	if !f.heldOut {
		return
	}
	c.log.Info("releasing a member that stopped flapping", "peer", name)
	if m.state == StateAlive || m.state == StateSuspect {
		c.emit(coreEvent{kind: evJoin, node: m.node()})
	}
	c.markChanged()
}
