package main

// What happens when the ring changes, in order. Every rebalanceTick the instance compares
// its ring's checksum with the one it last placed its keys for. When they differ it walks
// every key it holds and looks up the key's two replicas on the new ring:
//
//   - not one of them: it copies the key to both (with X-Shard-Replica, so they store it
//     whatever their own rings say), the second replica first, so that it can tell the
//     primary the second has it already; once both have it, it drops it: handed off;
//   - the primary: it makes sure the second replica has the key, copying it if the second
//     replica is not the one it last copied to (the old one crashed, or a newcomer came
//     between);
//   - the second replica: it forgets whom it copied the key to, if it was the primary
//     before: should it become the primary again (the member now in front of it crashes),
//     that member may no longer hold the key, so it must copy it afresh.
//
// A copy that fails (the member crashed and the ring does not know yet) leaves the key
// where it is, and the pass is tried again at the next tick, on the ring as it is then. A
// pass also runs every recheckInterval while the ring is unchanged: a member whose view
// lagged may have handed this one a key it does not hold by its own ring, and that key is
// sent on then.

import (
	"context"
	"slices"
	"time"

	"github.com/swim-go/swim"
)

const (
	rebalanceTick   = 50 * time.Millisecond
	recheckInterval = time.Second
)

// rebalanceLoop runs passes until ctx is done.
func (s *server) rebalanceLoop(ctx context.Context) {
	tick := time.NewTicker(rebalanceTick)
	defer tick.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		sum := s.ring.Checksum()
		if sum == s.placed.Load() && time.Since(last) < recheckInterval {
			continue
		}
		last = time.Now()
		if s.rebalance(ctx) {
			s.placed.Store(sum)
		}
	}
}

// rebalance places every key held for the ring as it is now, and reports whether every copy
// it needed succeeded. The ring may change during the pass; the next pass sees to that.
func (s *server) rebalance(ctx context.Context) bool {
	ok := true
	for _, h := range s.store.all() {
		replicas := s.ring.LookupN(h.key, replicationFactor)
		switch {
		case len(replicas) == 0:
			// An empty ring (this member left or shut down): nowhere to put anything.
			return false
		case !holds(replicas, s.name):
			if !s.handOff(ctx, replicas, h) {
				ok = false
				continue
			}
			if s.store.deleteIf(h.key, h.value) {
				s.stats.handedOff.Add(1)
			}
		case replicas[0].Name == s.name && len(replicas) > 1 && h.copiedTo != replicas[1].Name:
			if err := s.putReplica(ctx, replicas[1], h.key, h.value, ""); err != nil {
				s.log.Debug("copy to replica failed", "peer", replicas[1].Name, "key", h.key, "err", err)
				ok = false
				continue
			}
			s.store.markCopied(h.key, h.value, replicas[1].Name)
			s.stats.copied.Add(1)
		case replicas[0].Name != s.name && h.copiedTo != "":
			s.store.markCopied(h.key, h.value, "")
		}
	}
	return ok
}

// handOff copies h to its replicas, the primary last, and reports whether all of them took
// it.
func (s *server) handOff(ctx context.Context, replicas []swim.Node, h held) bool {
	copiedTo := ""
	for _, n := range slices.Backward(replicas) {
		if err := s.putReplica(ctx, n, h.key, h.value, copiedTo); err != nil {
			s.log.Debug("handoff failed", "peer", n.Name, "key", h.key, "err", err)
			return false
		}
		copiedTo = n.Name
	}
	return true
}

func holds(nodes []swim.Node, name string) bool {
	return slices.ContainsFunc(nodes, func(n swim.Node) bool { return n.Name == name })
}
