package swim

// Suspicion, sentence by sentence (SWIM section 4.2, Lifeguard section 4.2), read from what
// the core sends.

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/swim-go/swim/internal/wire"
)

// suspectByProbe runs h until its probe of some peer fails twice (the probe and its retry),
// and returns the peer and when the suspicion counts from (the first failure). Pings to
// other peers are acked; the relays nack.
func suspectByProbe(t *testing.T, h *harness) (string, time.Duration) {
	t.Helper()
	var target string
	h.answering = func(p string) bool { return target != "" && p != target }
	h.onProbeFailed = func([]string) {}
	for target == "" {
		p, ping := h.probe()
		if p == "p1" {
			target = p
			for range 2 { // the probe and its retry
				h.sinceProbe(h.c.cfg.ProbeTimeout)
				relays, _ := h.sentOf(wire.IndirectPingMsg)
				for _, r := range relays {
					h.recv(r, nack(ping.SeqNo))
				}
				h.sinceProbe(h.c.cfg.ProbeInterval)
				if stateOf(t, h.c, target) == StateAlive {
					ping = h.retried(target)
				}
			}
			break
		}
		h.recv(p, ack(ping.SeqNo))
	}
	require.Equal(t, StateSuspect, stateOf(t, h.c, target))
	return target, h.c.members.get(target).susp().start.Sub(testEpoch)
}

// deadAt runs h in small steps until name is dead here, and returns when.
func deadAt(t *testing.T, h *harness, name string, limit time.Duration) time.Duration {
	t.Helper()
	for end := h.now() + limit; h.now() < end; {
		h.runAnswering(10 * time.Millisecond)
		if stateOf(t, h.c, name) == StateDead {
			return h.now()
		}
	}
	t.Fatalf("%s was not declared dead within %v", name, limit)
	return 0
}

// Lifeguard 4.2: "the suspicion timeout starts at its maximum, SuspicionMaxTimeoutMult times
// the minimum SuspicionMult * log10(n) * ProbeInterval", and with no confirmation the suspect
// is declared dead when it runs out, and the death is gossiped.
func TestSuspicionRunsOutAtMax(t *testing.T) {
	h := newHarness(t, nil, 4)
	target, start := suspectByProbe(t, h)
	lo, hi := suspicionBounds(4, 6, 5, time.Second)
	require.Equal(t, 4*time.Second, lo, "min: 4 * max(1, log10(5)) * 1 s")
	require.Equal(t, 24*time.Second, hi)
	dead := deadAt(t, h, target, time.Minute)
	require.InDelta(t, (start + hi).Seconds(), dead.Seconds(), 0.011, "declared dead when the maximum runs out")
	d := decode[wire.Dead](t, h.wantGossiped(wire.DeadMsg, "the death is gossiped"))
	require.Equal(t, target, d.Node)
	require.Equal(t, "self", d.From)
}

// Lifeguard 4.2: "each independent confirmation shrinks the timeout logarithmically toward
// the minimum": with k = SuspicionMult - 2 = 2 wanted, one confirmation leaves
// max - log(2)/log(3) * (max - min), two leave the minimum.
func TestConfirmationsShortenTimeout(t *testing.T) {
	for _, tc := range []struct {
		confirmers []string
		want       time.Duration
	}{
		{[]string{"p2"}, 11381 * time.Millisecond},
		{[]string{"p2", "p2", "self"}, 11381 * time.Millisecond}, // the same confirmer, or the accuser, counts once or not at all
		{[]string{"p2", "p3"}, 4 * time.Second},
		{[]string{"p2", "p3", "p4"}, 4 * time.Second}, // never below the minimum
	} {
		h := newHarness(t, nil, 4)
		target, start := suspectByProbe(t, h)
		for _, from := range tc.confirmers {
			h.recv(from, (&wire.Suspect{Incarnation: 1, Node: target, From: from}).Append(nil))
		}
		dead := deadAt(t, h, target, time.Minute)
		require.InDelta(t, (start + tc.want).Seconds(), dead.Seconds(), 0.011, "confirmed by %v", tc.confirmers)
	}
}

// SWIM 4.2: "a member that learns it is suspected refutes by raising its incarnation and
// disseminating an alive message"; Lifeguard counts the refutation against its own health.
func TestSuspectedMemberRefutes(t *testing.T) {
	h := newHarness(t, nil, 3)
	h.recv("p1", (&wire.Suspect{Incarnation: 1, Node: "self", From: "p1"}).Append(nil))
	a := decode[wire.Alive](t, h.wantGossiped(wire.AliveMsg, "the refutation is gossiped"))
	require.Equal(t, "self", a.Node)
	require.Equal(t, uint32(2), a.Incarnation, "one above the accused incarnation")
	require.Equal(t, 1, h.score(), "refuting raises the health score")
}

// SWIM 4.2: "an alive message with a higher incarnation overrides the suspicion": the
// suspect is not declared dead when the timer runs out.
func TestRefutationEndsSuspicion(t *testing.T) {
	h := newHarness(t, nil, 4)
	target, _ := suspectByProbe(t, h)
	h.recv(target, (&wire.Alive{Incarnation: 2, Node: target, Addr: h.addrOf(target).Addr().AsSlice(), Port: 7946, Vsn: []byte{1, 5, 2, 0, 0, 0}}).Append(nil))
	require.Equal(t, StateAlive, stateOf(t, h.c, target))
	if p := h.c.probe.active; p != nil && !p.finished() {
		h.recv(p.target.name, ack(p.seq)) // the probe that started as the last one failed
	}
	h.answering = func(string) bool { return true }
	h.runAnswering(time.Minute)
	require.Equal(t, StateAlive, stateOf(t, h.c, target), "never declared dead")
}

// Last calls (suspicion.go): every lastCalls-th of the way to the earliest deadline, counted
// from when this member began suspecting, the suspect is sent its accusation directly, ahead
// of a ping, so that a member which missed the refutation hears it in the ack.
func TestLastCallsGoToTheSuspect(t *testing.T) {
	h := newHarness(t, nil, 4)
	target, _ := suspectByProbe(t, h)
	began := h.c.members.get(target).changedAt().Sub(testEpoch)
	lo, _ := suspicionBounds(4, 6, 5, time.Second)
	h.advanceTo(began + lo/lastCalls - time.Millisecond)
	h.advance(time.Millisecond)
	var found bool
	for _, p := range h.sent {
		if p.to == target && len(p.msgs) >= 2 && wire.MessageType(p.msgs[0][0]) == wire.SuspectMsg && wire.MessageType(p.msgs[1][0]) == wire.PingMsg {
			found = true
		}
	}
	require.True(t, found, "a last call to the suspect at 1/lastCalls of the minimum timeout")
}

// broadcast.go, take: a packet that accuses its recipient (a probe of a suspect, a last call)
// does not also carry the queued suspicion, and so does not use up one of its sends. With
// Local timings among three members a suspicion is sent twice; the probe and the last call
// to the suspect could use both, and the third member, never hearing of it, could not
// confirm it: a crash took the longest suspicion timeout to declare.
func TestAccusationDoesNotUseUpTheSuspicion(t *testing.T) {
	h := newHarness(t, DefaultLocalConfig(), 2)
	h.recv("p2", (&wire.Suspect{Incarnation: 1, Node: "p1", From: "p2"}).Append(nil))
	require.Equal(t, StateSuspect, stateOf(t, h.c, "p1"))
	limit := retransmitLimit(h.c.cfg.RetransmitMult, 3)

	suspicions := func(p sentPacket) (n int) {
		for _, m := range p.msgs {
			if wire.MessageType(m[0]) == wire.SuspectMsg && decode[wire.Suspect](t, m).Node == "p1" {
				n++
			}
		}
		return n
	}
	// More accusations than the suspicion has sends, as probes and last calls make.
	p1 := h.c.members.get("p1")
	h.step()
	for seq := range uint32(limit + 2) {
		h.c.accuse(p1, "p2", h.c.pingFor(seq, "p1").Append(nil))
	}
	h.collect()
	require.Len(t, h.sent, limit+2)
	for _, p := range h.sent {
		require.Equal(t, "p1", p.to)
		require.Equal(t, 1, suspicions(p), "each accusation carries the suspicion once")
		require.Equal(t, wire.PingMsg, wire.MessageType(p.msgs[1][0]), "ahead of the ping")
	}

	// The next gossip goes to both others, and p2 hears of the suspicion.
	h.advance(h.timerDue(timerGossip))
	var toP2 int
	for _, p := range h.sent {
		if p.to == "p2" {
			toP2 += suspicions(p)
		}
	}
	require.Equal(t, 1, toP2, "the suspicion is still owed to the others")
}

// state.go, beginSuspicion: a suspicion found in a push/pull is applied but not gossiped,
// since it would go out in this member's name and count as an independent confirmation
// wherever the accuser's own suspicion was running.
func TestMergedSuspicionIsNotGossiped(t *testing.T) {
	h := newHarness(t, DefaultLocalConfig(), 3)
	p1 := h.c.members.get("p1")
	pp := &wire.PushPull{Nodes: []wire.PushNodeState{{Name: "p1", Addr: p1.addrBytes(), Port: 7946,
		Incarnation: p1.incarnation, State: int(StateSuspect), Vsn: []byte{1, 5, 2, 0, 0, 0}}}}
	require.NoError(t, h.c.mergeRemote(statesOf(t, pp), knownState{}))
	require.Equal(t, StateSuspect, stateOf(t, h.c, "p1"), "the merge applies the suspicion")

	for range 10 {
		h.advance(h.c.cfg.GossipInterval)
		for _, p := range h.sent {
			if p.to == "p1" {
				continue // its accusation, in the last calls
			}
			for _, m := range p.msgs {
				if wire.MessageType(m[0]) == wire.SuspectMsg {
					require.NotEqual(t, "p1", decode[wire.Suspect](t, m).Node, "sent to %s", p.to)
				}
			}
		}
	}
}
