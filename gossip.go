package swim

// Gossip (SWIM section 4.1, memberlist's gossip timer). Piggybacking alone moves news at the
// pace of probes, one packet pair per member per probe interval. Every GossipInterval each
// member also sends what is queued to GossipNodes random members: alive and suspect ones, and
// dead ones for GossipToTheDeadTime after their death, so that a member wrongly declared dead
// hears of it and refutes.

// wakeGossip rearms a sleeping gossip timer when news is queued, on the beat it would have
// kept had it never slept, so that sleeping changes when nothing is sent and nothing else.
func (c *core) wakeGossip() {
	if !c.gossipIdle {
		return
	}
	c.gossipIdle = false
	if late := c.now.Sub(c.gossipNext); late > 0 {
		beats := (late + c.cfg.GossipInterval - 1) / c.cfg.GossipInterval
		c.gossipNext = c.gossipNext.Add(beats * c.cfg.GossipInterval)
	}
	c.arm(c.gossipNext, timerGossip, 0, "", 0)
}

// gossipTick sends queued broadcasts to a few random members.
func (c *core) gossipTick() {
	c.gossipNext = c.now.Add(c.cfg.GossipInterval)
	if c.metrics.on() {
		c.metrics.sample(MetricBroadcastQueue, float64(c.queue.Len()))
	}
	if c.queue.Len() == 0 && c.cfg.Delegate == nil {
		// Nothing to send, and nothing will be until this member queues news (only a
		// Delegate could have broadcasts of its own): the timer sleeps until wakeGossip,
		// rather than waking the member ten times a second for nothing.
		c.gossipIdle = true
		return
	}
	c.arm(c.gossipNext, timerGossip, 0, "", 0)
	targets := c.kRandomMembers(c.cfg.GossipNodes, func(m *member) bool {
		switch m.state() {
		case StateAlive, StateSuspect:
			return m != c.self
		case StateDead:
			return c.now.Sub(m.changedAt()) < c.cfg.GossipToTheDeadTime
		}
		return false
	})
	for _, t := range targets {
		parts := c.collectBroadcasts(c.parts[:0], c.packetBudget(), "")
		c.sendParts(t.addrPort(), t, parts)
		c.metrics.count(MetricGossip, 1)
		clear(parts)
		c.parts = parts[:0]
	}
}
