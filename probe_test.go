package swim

// Failure detection, sentence by sentence (SWIM section 3, Lifeguard section 4.1), read from
// what the core sends.

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/swim-go/swim/internal/wire"
)

// SWIM 3.1: "During each protocol period of length T', a random member is selected from Mi's
// membership list and a ping message sent to it."
func TestProbeDirectPing(t *testing.T) {
	h := newHarness(t, nil, 4)
	target, ping := h.probe()
	require.Contains(t, h.peers, target)
	require.Equal(t, target, ping.Node, "the ping names its target")
	require.Equal(t, "self", ping.SourceNode)
	h.wantSent(wire.PingMsg, 1, "one ping per protocol period")
	require.Equal(t, h.c.cfg.ProbeTimeout, h.timerDue(timerProbeTimeout), "the probe timeout is armed")

	h.recv(target, ack(ping.SeqNo))
	h.advance(h.c.cfg.ProbeTimeout)
	h.wantNone(wire.IndirectPingMsg, "an answered probe asks nobody for help")
}

// SWIM 3.1: "If Mi does not receive an ack within the timeout, it selects k members at random
// and sends each of them a ping-req(Mj) message." Lifeguard 4.1 adds that each relay sends a
// nack when its own ping goes unanswered; memberlist adds a stream ping alongside.
func TestProbeIndirectPings(t *testing.T) {
	h := newHarness(t, nil, 6)
	target, ping := h.probe()
	h.advance(h.c.cfg.ProbeTimeout)
	relays, reqs := h.wantSent(wire.IndirectPingMsg, h.c.cfg.IndirectChecks, "k indirect pings")
	require.NotContains(t, relays, target, "the target is not its own relay")
	require.Len(t, slices.Compact(slices.Sorted(slices.Values(relays))), len(relays), "k distinct relays")
	for _, r := range reqs {
		req := decode[wire.IndirectPingReq](t, r)
		require.Equal(t, ping.SeqNo, req.SeqNo)
		require.Equal(t, target, req.Node)
		require.True(t, req.Nack, "relays speaking protocol 4+ are asked for a nack")
	}
	st := h.wantStream(target, "a stream ping alongside")
	require.True(t, st.wantReply)
	require.Equal(t, h.c.cfg.ProbeInterval-h.c.cfg.ProbeTimeout, st.deadline.Sub(h.c.now), "the stream ping has until the window closes")
}

// SWIM 3.1: "Mi checks, at the end of the protocol period, if it has received any acks
// directly from Mj or indirectly through any of the k members; if not, it declares Mj as
// failed in its local membership list" (here, as suspect: section 4.2), once the retry of
// the probe has failed too (TestFailedProbeIsRetried).
func TestProbeFailureSuspects(t *testing.T) {
	h := newHarness(t, nil, 4)
	target, _ := h.probe()
	for range 2 {
		h.advance(h.c.cfg.ProbeTimeout)
		st := h.wantStream(target, "stream ping")
		h.streamDone(st, nil, errors.New("connection refused"))
		require.Equal(t, StateAlive, stateOf(t, h.c, target), "nothing is decided before the window closes")
		h.sinceProbe(h.c.cfg.ProbeInterval)
		if h.c.probe.active.retry && stateOf(t, h.c, target) == StateAlive {
			h.retried(target)
		}
	}
	require.Equal(t, StateSuspect, stateOf(t, h.c, target), "no ack by the retry's end: suspect")
	s := decode[wire.Suspect](t, h.wantGossiped(wire.SuspectMsg, "the suspicion is gossiped"))
	require.Equal(t, target, s.Node)
	require.Equal(t, "self", s.From)
}

// swim: a failed probe is repeated at once, and only the second failure raises a suspicion.
// Under 20% loss a probe of a healthy member fails about one time in 35 (direct ping, k
// relays and the stream ping all lost), and the suspicion it raises reaches every member;
// the retry fails independently, so a healthy member is accused about one time in a
// thousand probes instead. Nobody but the prober hears of the first failure, and the
// suspicion counts from it, so a crash is declared dead no later than without the retry.
func TestFailedProbeIsRetried(t *testing.T) {
	t.Run("answered", func(t *testing.T) {
		h := newHarness(t, nil, 4)
		target, _ := h.probe()
		h.advance(h.c.cfg.ProbeTimeout)
		h.streamDone(h.wantStream(target, "stream ping"), nil, errStreamTimeout)
		h.sinceProbe(h.c.cfg.ProbeInterval)
		ping := h.retried(target)
		require.Equal(t, StateAlive, stateOf(t, h.c, target), "one failed probe accuses nobody")
		h.recv(target, ack(ping.SeqNo))
		for range 10 {
			h.advance(h.c.cfg.GossipInterval)
			h.wantNone(wire.SuspectMsg, "the first failure is not gossiped")
		}
		require.Equal(t, StateAlive, stateOf(t, h.c, target), "the answered retry clears the target")
		require.Equal(t, uint32(1), h.c.members.get(target).incarnation, "with nothing to refute")
	})
	t.Run("failed", func(t *testing.T) {
		h := newHarness(t, nil, 7)
		h.trustAll()
		target, _ := h.probe()
		h.advance(h.c.cfg.ProbeTimeout)
		first, _ := h.wantSent(wire.IndirectPingMsg, 3, "the probe's relays")
		h.streamDone(h.wantStream(target, "stream ping"), nil, errStreamTimeout)
		h.sinceProbe(h.c.cfg.ProbeInterval)
		failedAt := h.now()
		h.retried(target)
		h.wantNone(wire.SuspectMsg, "no suspicion while the retry is out")
		h.sinceProbe(h.c.cfg.ProbeTimeout)
		require.Equal(t, len(first), h.score(), "the first probe's silent relays count, once each")
		h.wantNone(wire.IndirectPingMsg, "the retry's window is stretched by the score")
		h.sinceProbe(h.c.awareness.scale(h.c.cfg.ProbeTimeout))
		relays, _ := h.wantSent(wire.IndirectPingMsg, 3, "the retry asks relays again")
		st := h.wantStream(target, "and pings by stream again")
		for _, r := range relays {
			require.NotContains(t, first, r, "the retry asks other relays than the silent ones")
			h.recv(r, nack(h.c.probe.active.seq))
		}
		h.streamDone(st, nil, errStreamTimeout)
		h.sinceProbe(h.c.awareness.scale(h.c.cfg.ProbeInterval))
		require.Equal(t, StateSuspect, stateOf(t, h.c, target), "two failed probes: suspect")
		m := h.c.members.get(target)
		require.Equal(t, failedAt, m.susp().start.Sub(testEpoch), "the suspicion counts from the first failure")
		s := decode[wire.Suspect](t, h.wantGossiped(wire.SuspectMsg, "and is gossiped"))
		require.Equal(t, target, s.Node)
		require.Equal(t, len(first), h.score(), "the retry's relays nacked: nothing more counts")
	})
}

// SWIM 3.1: "Each of these members in turn, on receiving a ping-req(Mj) message, pings Mj and
// forwards the ack from Mj (if it receives one) back to Mi."
func TestRelayForwardsAck(t *testing.T) {
	h := newHarness(t, nil, 3)
	h.recv("p1", (&wire.IndirectPingReq{SeqNo: 77, Target: []byte{10, 0, 1, 2}, Port: 7946, Node: "p2", Nack: true,
		SourceAddr: []byte{10, 0, 1, 1}, SourcePort: 7946, SourceNode: "p1"}).Append(nil))
	to, msgs := h.wantSent(wire.PingMsg, 1, "the relay pings the target")
	require.Equal(t, []string{"p2"}, to)
	ping := decode[wire.Ping](t, msgs[0])
	h.recv("p2", ack(ping.SeqNo))
	to, msgs = h.wantSent(wire.AckRespMsg, 1, "the ack is forwarded")
	require.Equal(t, []string{"p1"}, to)
	require.Equal(t, uint32(77), decode[wire.AckResp](t, msgs[0]).SeqNo, "under the requester's sequence number")
	h.advance(h.c.cfg.ProbeTimeout)
	h.wantNone(wire.NackRespMsg, "no nack after an ack")
}

// Lifeguard 4.1: "if the ping from the relay times out, the relay sends a nack to the
// requester", so the requester can tell a dead target from its own trouble.
func TestRelayNacks(t *testing.T) {
	h := newHarness(t, nil, 3)
	h.recv("p1", (&wire.IndirectPingReq{SeqNo: 78, Target: []byte{10, 0, 1, 2}, Port: 7946, Node: "p2", Nack: true,
		SourceAddr: []byte{10, 0, 1, 1}, SourcePort: 7946, SourceNode: "p1"}).Append(nil))
	h.advance(h.c.cfg.ProbeTimeout - time.Millisecond)
	h.wantNone(wire.NackRespMsg, "not before the relay's probe timeout")
	h.advance(time.Millisecond)
	to, msgs := h.wantSent(wire.NackRespMsg, 1, "a nack at the relay's probe timeout")
	require.Equal(t, []string{"p1"}, to)
	require.Equal(t, uint32(78), decode[wire.NackResp](t, msgs[0]).SeqNo)
}

// memberlist's stream fallback: a target that answers the stream ping while every packet
// was lost is not suspected.
func TestStreamPingAnswers(t *testing.T) {
	h := newHarness(t, nil, 3)
	target, ping := h.probe()
	h.advance(h.c.cfg.ProbeTimeout)
	st := h.wantStream(target, "stream ping")
	h.sinceProbe(h.c.cfg.ProbeInterval - time.Millisecond)
	h.streamDone(st, ack(ping.SeqNo), nil)
	h.sinceProbe(2 * h.c.cfg.ProbeInterval)
	require.Equal(t, StateAlive, stateOf(t, h.c, target), "answered by stream: not suspected")
}

// SWIM 4.2 and memberlist's buddy system: a member probing a suspect piggybacks the suspicion
// on the ping, so the suspect hears of it at once and can refute.
func TestProbeOfSuspectCarriesSuspicion(t *testing.T) {
	h := newHarness(t, nil, 3)
	for _, p := range h.peers {
		h.recv("p1", (&wire.Suspect{Incarnation: 1, Node: p, From: "p1"}).Append(nil))
	}
	target, _ := h.probe()
	require.Equal(t, StateSuspect, stateOf(t, h.c, target))
	var carried bool
	for _, p := range h.sent {
		if p.to != target {
			continue
		}
		require.GreaterOrEqual(t, len(p.msgs), 2)
		require.Equal(t, wire.SuspectMsg, wire.MessageType(p.msgs[0][0]), "the suspicion goes first")
		require.Equal(t, wire.PingMsg, wire.MessageType(p.msgs[1][0]), "then the ping")
		carried = decode[wire.Suspect](t, p.msgs[0]).Node == target
	}
	require.True(t, carried, "the ping to the suspect carries its suspicion")
}

// Lifeguard 4.1: "a member increments its local health multiplier when a probe fails and
// relays it trusted did not send the expected nacks" ... and nacks that arrive after the
// window closes still count: with LAN timings every nack does (indirect pings leave at
// ProbeTimeout, 500 ms, and the relay waits its own 500 ms before nacking).
func TestLateNacksCount(t *testing.T) {
	h := newHarness(t, nil, 6)
	h.trustAll()
	target, ping := h.probe()
	for probe := range 2 { // the probe and its retry
		h.advance(h.c.cfg.ProbeTimeout)
		relays, _ := h.wantSent(wire.IndirectPingMsg, 3, "indirect pings")
		h.streamDone(h.wantStream(target, "stream ping"), nil, errStreamTimeout)
		h.sinceProbe(h.c.cfg.ProbeInterval)
		if probe == 0 {
			retry := h.retried(target)
			h.advance(5 * time.Millisecond)
			for _, r := range relays {
				h.recv(r, nack(ping.SeqNo))
			}
			ping = retry
			continue
		}
		h.advance(5 * time.Millisecond)
		for _, r := range relays {
			h.recv(r, nack(ping.SeqNo))
		}
	}
	require.Equal(t, StateSuspect, stateOf(t, h.c, target))
	h.sinceProbe(2 * h.c.cfg.ProbeInterval)
	require.Equal(t, 0, h.score(), "every trusted relay nacked, if after the window: the target is down, not this member")
}

// Lifeguard 4.1: the score rises by the nacks missing, one per relay; duplicates (the network
// may deliver one nack several times) do not make up for a silent relay, and a failed probe
// never lowers the score.
func TestNacksCappedAtOnePerRelay(t *testing.T) {
	h := newHarness(t, nil, 6)
	h.trustAll()
	h.c.awareness.apply(3)
	target, ping := h.probe()
	h.sinceProbe(h.c.awareness.scale(h.c.cfg.ProbeTimeout))
	relays, _ := h.wantSent(wire.IndirectPingMsg, 3, "indirect pings")
	h.streamDone(h.wantStream(target, "stream ping"), nil, errStreamTimeout)
	for range 6 {
		h.recv(relays[0], nack(ping.SeqNo))
	}
	h.sinceProbe(h.c.awareness.scale(h.c.cfg.ProbeInterval))
	retry := h.retried(target)
	h.recv(target, ack(retry.SeqNo))
	h.sinceProbe(h.c.awareness.scale(h.c.cfg.ProbeInterval))
	require.Equal(t, 3+2-1, h.score(), "two silent relays count, six copies of one nack count once, the answered retry takes one off")
}

// Lifeguard 4.1: any answered probe lowers the score, whether the ack came directly, through
// a relay, or over the stream ping.
func TestAnsweredProbeLowersScore(t *testing.T) {
	for _, path := range []string{"direct", "relay", "stream"} {
		t.Run(path, func(t *testing.T) {
			h := newHarness(t, nil, 4)
			h.c.awareness.apply(3)
			target, ping := h.probe()
			if path != "direct" {
				h.sinceProbe(h.c.awareness.scale(h.c.cfg.ProbeTimeout))
			}
			switch path {
			case "direct":
				h.recv(target, ack(ping.SeqNo))
			case "relay":
				relays, _ := h.wantSent(wire.IndirectPingMsg, 3, "indirect pings")
				h.recv(relays[0], ack(ping.SeqNo))
			case "stream":
				st := h.wantStream(target, "stream ping")
				h.streamDone(st, ack(ping.SeqNo), nil)
			}
			require.Equal(t, 2, h.score(), "answered %s: one point less", path)
		})
	}
}

// Lifeguard 4.1, and the hostile suite's fake joins: relays that answered this member before
// are preferred; a relay that never answered it (a fake a stranger announced, a member that
// crashed) is not trusted, so its silence costs the prober no more than the failed probe
// itself; and a trusted relay that stays silent is held against it once, then not trusted.
func TestSilentRelaysNotHeldAgainstProber(t *testing.T) {
	trusted := []string{"p1", "p2", "p3"}
	h := newHarness(t, nil, 8)
	h.trust(trusted...)
	// Only the trusted peers answer pings; relays nack when nack says so.
	nackers := trusted
	failed := 0
	h.answering = func(target string) bool { return slices.Contains(trusted, target) }
	h.onIndirect = func(relay string, seq uint32) {
		if slices.Contains(nackers, relay) {
			h.recv(relay, nack(seq))
		}
	}
	h.onProbeFailed = func(relays []string) {
		failed++
		require.ElementsMatch(t, trusted, relays, "the relays that answered before are asked first")
	}
	for failed < 1 {
		h.runAnswering(h.c.cfg.ProbeInterval)
	}
	h.runAnswering(2 * h.c.cfg.ProbeInterval)
	require.Equal(t, 0, h.score(), "three trusted nacks: the target is down")

	// One member answered before, then everything goes silent: whether it is the target or
	// a relay of the first failed probe, its silence counts once; the silence of members
	// that never answered, as relays or as targets, never counts.
	h = newHarness(t, nil, 8)
	h.trust("p1")
	h.answering = func(string) bool { return false }
	failed = 0
	h.onProbeFailed = func([]string) { failed++ }
	for failed < 6 {
		h.runAnswering(h.c.cfg.ProbeInterval)
	}
	h.runAnswering(2 * h.c.awareness.scale(h.c.cfg.ProbeInterval))
	require.Equal(t, 1, h.score(), "one trusted member fell silent")

	// A target that never answered, with no trusted relay to ask: nothing is learnt about
	// this member's health.
	h = newHarness(t, nil, 8)
	h.answering = func(string) bool { return false }
	failed = 0
	h.onProbeFailed = func([]string) { failed++ }
	for failed < 3 {
		h.runAnswering(h.c.cfg.ProbeInterval)
	}
	h.runAnswering(h.c.cfg.ProbeInterval)
	require.Equal(t, 0, h.score(), "three untrusted targets and relays silent")
}

// trust marks peers as having answered this member before.
func (h *harness) trust(names ...string) {
	for _, n := range names {
		h.c.members.get(n).answered = true
	}
}

func (h *harness) trustAll() { h.trust(h.peers...) }

// memberlist's Ping: a ping outside the probe schedule, to an address, carrying the name of
// the member expected there; it reports the round-trip time, or no response after
// ProbeTimeout.
func TestPingOnRequest(t *testing.T) {
	h := newHarness(t, nil, 2)
	h.step()
	h.c.ping(h.c.now, "p2", h.addrOf("p2"), 7)
	h.collect()
	to, msgs := h.wantSent(wire.PingMsg, 1, "the ping")
	require.Equal(t, []string{"p2"}, to)
	ping := decode[wire.Ping](t, msgs[0])
	require.Equal(t, "p2", ping.Node, "it names the member expected at the address")
	h.advance(30 * time.Millisecond)
	h.recv("p2", ack(ping.SeqNo))
	require.Equal(t, []apiDone{{token: 7, rtt: 30 * time.Millisecond}}, h.done)

	h.step()
	h.c.ping(h.c.now, "stranger", netip.MustParseAddrPort("10.7.7.7:7946"), 8)
	h.collect()
	require.Equal(t, "stranger", h.sent[0].transportName, "a name not in the table still reaches the transport")
	h.advance(h.c.cfg.ProbeTimeout - time.Millisecond)
	require.Empty(t, h.done, "not before ProbeTimeout")
	h.advance(time.Millisecond)
	require.Len(t, h.done, 1)
	require.ErrorIs(t, h.done[0].err, ErrNoPingResponse)
}

// memberlist's DisableTcpPingsForNode: no stream ping for the members it names.
func TestStreamPingOffForNode(t *testing.T) {
	cfg := DefaultLANConfig()
	var asked []string
	cfg.DisableTcpPingsForNode = func(name string) bool { asked = append(asked, name); return true }
	h := newHarness(t, cfg, 4)
	target, _ := h.probe()
	h.advance(h.c.cfg.ProbeTimeout)
	h.wantSent(wire.IndirectPingMsg, 3, "indirect pings as usual")
	require.Empty(t, h.streams, "no stream ping")
	require.Equal(t, []string{target}, asked)
}

// A ProbeTimeout at or above ProbeInterval (memberlist accepts it) leaves no time for
// indirect pings: a probe without a direct ack fails when its window closes.
func TestProbeTimeoutAtInterval(t *testing.T) {
	cfg := DefaultLANConfig()
	cfg.ProbeTimeout = cfg.ProbeInterval
	h := newHarness(t, cfg, 4)
	target, _ := h.probe()
	h.sinceProbe(h.c.cfg.ProbeInterval)
	h.wantNone(wire.IndirectPingMsg, "no time for indirect pings")
	h.retried(target)
	h.sinceProbe(h.c.cfg.ProbeInterval)
	require.Equal(t, StateSuspect, stateOf(t, h.c, target))
}

// A member's packets and streams carry its name to a NodeAwareTransport; so does a join
// address given as "name/host:port".
func TestTransportIsToldNames(t *testing.T) {
	h := newHarness(t, nil, 2)
	target, _ := h.probe()
	require.Equal(t, target, h.sent[0].transportName)
	h.step()
	h.c.join(h.c.now, []seed{{addr: netip.MustParseAddrPort("10.8.8.8:7946"), name: "seed"}}, 9)
	h.collect()
	require.Equal(t, "seed", h.wantStream("10.8.8.8:7946", "the join's push/pull").name)
}

// swim: a probe whose stream ping was refused (nothing listens at the target's address, which
// packet loss does not explain) ends as soon as every relay has nacked, and is not retried:
// with Local timings a crashed member is suspected 0.4 s into the probe instead of at the
// window's end a second later, and a whole probe interval before a retry would.
func TestRefusedStreamPingEndsTheProbe(t *testing.T) {
	h := newHarness(t, DefaultLocalConfig(), 4)
	h.trustAll()
	target, ping := h.probe()
	h.advance(h.c.cfg.ProbeTimeout)
	relays, _ := h.wantSent(wire.IndirectPingMsg, 1, "Local timings: one relay")
	st := h.wantStream(target, "stream ping")
	h.streamDone(st, nil, errStreamRefused)
	require.Equal(t, StateAlive, stateOf(t, h.c, target), "the relay has not nacked yet")
	h.advance(h.c.cfg.ProbeTimeout)
	h.recv(relays[0], nack(ping.SeqNo))
	require.Equal(t, StateSuspect, stateOf(t, h.c, target), "refused and nacked: suspect at once")
	require.Equal(t, 2*h.c.cfg.ProbeTimeout, h.now()-h.probeAt)
	require.False(t, h.c.probe.active.retry, "no retry")
	require.Equal(t, 0, h.score(), "the relay nacked: the target is down, not this member")
}
