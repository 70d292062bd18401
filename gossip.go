package swim

// Gossip (SWIM section 4.1, memberlist's gossip timer). Piggybacking alone moves news at the
// pace of probes, one packet pair per member per probe interval. Every GossipInterval each
// member also sends what is queued to GossipNodes random members: alive and suspect ones, and
// dead ones for GossipToTheDeadTime after their death, so that a member wrongly declared dead
// hears of it and refutes.

// gossipTick sends queued broadcasts to a few random members.
func (c *core) gossipTick() {
	c.armAfter(c.cfg.GossipInterval, timerGossip, 0, "", 0)
	if c.metrics.on() {
		c.metrics.sample(MetricBroadcastQueue, float64(c.queue.Len()))
	}
	if c.queue.Len() == 0 && c.cfg.Delegate == nil {
		return
	}
	targets := c.kRandomMembers(c.cfg.GossipNodes, func(m *member) bool {
		switch m.state {
		case StateAlive, StateSuspect:
			return m != c.self
		case StateDead:
			return c.now.Sub(m.changedAt()) < c.cfg.GossipToTheDeadTime
		}
		return false
	})
	for _, t := range targets {
		parts := c.collectBroadcasts(c.parts[:0], c.packetBudget())
		c.sendParts(t.addrPort(), t, parts)
		c.metrics.count(MetricGossip, 1)
		clear(parts)
		c.parts = parts[:0]
	}
}
