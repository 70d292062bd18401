package swim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/swim-go/swim/internal/wire"
)

// visible renders the events the application would get, as "kind name" (with "held out" on
// a held-out leave).
func visible(evs []coreEvent) []string {
	var out []string
	for _, e := range evs {
		if e.hidden {
			continue
		}
		s := map[coreEventKind]string{evJoin: "join", evLeave: "leave", evUpdate: "update"}[e.kind]
		if s == "" {
			continue
		}
		s += " " + e.node.Name()
		if e.node.heldOut {
			s += " held out"
		}
		out = append(out, s)
	}
	return out
}

// visibleNow is visible for a bare core's outbox, which it empties.
func visibleNow(c *core) []string {
	out := visible(c.out.events)
	c.out.reset()
	return out
}

func inView(c *core, name string) bool {
	for _, n := range c.snapshot() {
		if n.Name == name {
			return true
		}
	}
	return false
}

// flapHarness is a core whose peers p1..p3 answer its probes, with p1's refutations and
// deaths fed to it by hand.
type flapHarness struct {
	*harness
	inc uint32
}

func newFlapHarness(t *testing.T, cfg *Config) *flapHarness {
	h := newHarness(t, cfg, 3)
	h.answering = func(string) bool { return true }
	h.takeHistory()
	return &flapHarness{harness: h, inc: 1}
}

func (h *flapHarness) alive() []byte {
	a := wire.Alive{Incarnation: h.inc, Node: "p1", Addr: h.addrOf("p1").Addr().AsSlice(), Port: 7946, Vsn: []byte{1, 5, 2, 0, 0, 0}}
	return a.Append(nil)
}

// refute has p2 suspect p1 and p1 refute, as a peer's gossip would bring them.
func (h *flapHarness) refute() {
	h.recv("p2", (&wire.Suspect{Incarnation: h.inc, Node: "p1", From: "p2"}).Append(nil))
	st, _, _ := h.c.memberState("p1")
	require.Equal(h.t, StateSuspect, st)
	h.inc++
	h.recv("p2", h.alive())
	st, _, _ = h.c.memberState("p1")
	require.Equal(h.t, StateAlive, st, "the protocol applies the refutation as ever")
}

// dieAndReturn has p2 declare p1 dead and p1 refute it.
func (h *flapHarness) dieAndReturn() {
	h.recv("p2", (&wire.Dead{Incarnation: h.inc, Node: "p1", From: "p2"}).Append(nil))
	st, _, _ := h.c.memberState("p1")
	require.Equal(h.t, StateDead, st)
	h.inc++
	h.recv("p2", h.alive())
}

// A member that refutes six suspicions within 20 probe intervals leaves the application's
// view with one NotifyLeave, is kept out while it goes on flapping, and is back with one
// NotifyJoin once FlapHoldDown has passed without a refutation. The protocol goes on as
// before throughout.
func TestFlappingMemberIsHeldOut(t *testing.T) {
	cfg := DefaultLANConfig()
	h := newFlapHarness(t, cfg)
	// flapBurstCount-1 refutations over 16 s.
	gap := 16 * time.Second / (flapBurstCount - 2)
	for i := range flapBurstCount - 1 {
		if i > 0 {
			h.runAnswering(gap)
		}
		h.refute()
	}
	require.Empty(t, visible(h.takeHistory()), "five refutations: the application only saw suspect states")
	require.True(t, inView(h.c, "p1"))

	// The next, 21 s after the first: more than 20 probe intervals, so the first is gone.
	h.runAnswering(5 * time.Second)
	h.refute()
	require.Empty(t, visible(h.takeHistory()), "six refutations, but over more than 20 probe intervals")
	h.runAnswering(2 * time.Second)
	h.refute()
	require.Equal(t, []string{"leave p1 held out"}, visible(h.takeHistory()), "six within 20 probe intervals")
	require.False(t, inView(h.c, "p1"), "held out of Members()")

	// Flapping on, dying and rejoining included: the application hears nothing.
	h.runAnswering(30 * time.Second)
	h.refute()
	h.dieAndReturn()
	h.takeHistory()
	h.runAnswering(cfg.FlapHoldDown - time.Second)
	require.Empty(t, visible(h.takeHistory()), "not before FlapHoldDown has passed")
	require.False(t, inView(h.c, "p1"))
	h.runAnswering(2 * time.Second)
	require.Equal(t, []string{"join p1"}, visible(h.takeHistory()), "back FlapHoldDown after the last refutation")
	require.True(t, inView(h.c, "p1"))

	// The count starts afresh: one more refutation is one.
	h.refute()
	require.Empty(t, visible(h.takeHistory()))
	require.True(t, inView(h.c, "p1"))
}

// shownState is the state Members() shows of name, "" if it is out of the view.
func shownState(c *core, name string) string {
	for _, n := range c.snapshot() {
		if n.Name == name {
			return n.State.String()
		}
	}
	return ""
}

// returns renders the returns to alive the application could see: suspect members shown
// alive again, and joins.
func returns(evs []coreEvent) (n int) {
	for _, e := range evs {
		if !e.hidden && (e.kind == evUnsuspect || e.kind == evJoin) {
			n++
		}
	}
	return n
}

// A member that refutes a second suspicion within 20 probe intervals stays suspect in the
// view: the application sees it come back from the first suspicion, not from the second,
// nor from any other until FlapHoldDown passes without one; then it is shown alive again.
func TestSecondRefutationShowsSuspect(t *testing.T) {
	cfg := DefaultLANConfig()
	h := newFlapHarness(t, cfg)
	h.refute()
	require.Equal(t, 1, returns(h.takeHistory()), "the first refutation is a return to alive")
	require.Equal(t, "alive", shownState(h.c, "p1"))

	h.runAnswering(10 * time.Second)
	h.refute()
	require.Zero(t, returns(h.takeHistory()), "the second within 20 probe intervals is not")
	require.Equal(t, "suspect", shownState(h.c, "p1"), "the protocol has it alive; the view shows it suspect")

	h.runAnswering(cfg.FlapHoldDown - time.Second)
	require.Equal(t, "suspect", shownState(h.c, "p1"), "until FlapHoldDown has passed without a refutation")
	h.runAnswering(2 * time.Second)
	require.Equal(t, 1, returns(h.takeHistory()), "then one return")
	require.Equal(t, "alive", shownState(h.c, "p1"))
}

// An alive that raises the incarnation by several tells of as many refutations, the ones
// whose alives this member missed included: every member counts the same refutations, and
// a flapping member is held out everywhere, not only where no alive of it was lost.
func TestMissedRefutationsCount(t *testing.T) {
	h := newFlapHarness(t, DefaultLANConfig())
	h.refute()
	h.runAnswering(2 * time.Second)
	// Four refutations, of which this member hears the last only.
	h.inc += 3
	h.refute()
	require.Empty(t, visible(h.takeHistory()), "five refutations: shown suspect, not held out")
	require.Equal(t, "suspect", shownState(h.c, "p1"))
	h.runAnswering(2 * time.Second)
	h.refute()
	require.Equal(t, []string{"leave p1 held out"}, visible(h.takeHistory()), "the sixth within 20 probe intervals")
}

// An update between two refutations raises the incarnation too, but is not counted as one.
func TestUpdateBetweenRefutationsIsNotCounted(t *testing.T) {
	c := testCore(t, DefaultLANConfig())
	feed(c, aliveMsg("a", 1, ""))
	feed(c, (&wire.Suspect{Incarnation: 1, Node: "a", From: "b"}).Append(nil))
	feed(c, aliveMsg("a", 2, ""))
	feed(c, aliveMsg("a", 3, "v2"))
	feed(c, (&wire.Suspect{Incarnation: 3, Node: "a", From: "b"}).Append(nil))
	feed(c, aliveMsg("a", 4, "v2"))
	f := c.members.get("a").flap()
	require.NotZero(t, f.recent[1], "two refutations")
	require.Zero(t, f.recent[2], "and no third")
}

// A return from the dead within FlapHoldDown of a return from a suspicion holds the member
// out: the application sees it come back once, whatever it came back from.
func TestReturnFromDeadAfterRefutationIsHeldOut(t *testing.T) {
	h := newFlapHarness(t, DefaultLANConfig())
	h.refute()
	h.runAnswering(30 * time.Second)
	h.takeHistory()
	h.dieAndReturn()
	evs := h.takeHistory()
	require.Equal(t, []string{"leave p1"}, visible(evs), "the death shows; the return does not")
	require.Zero(t, returns(evs))
	require.Equal(t, "", shownState(h.c, "p1"), "held out of Members()")
}

// A flapping member that dies stays in the table until its record expires, past
// GossipToTheDeadTime: reaped and learnt afresh, its next return would be a first one.
func TestFlappingDeadMemberIsKeptUntilItsRecordExpires(t *testing.T) {
	cfg := DefaultLANConfig()
	h := newFlapHarness(t, cfg)
	h.refute()
	h.runAnswering(time.Second)
	h.recv("p2", (&wire.Dead{Incarnation: h.inc, Node: "p1", From: "p2"}).Append(nil))
	h.runAnswering(cfg.GossipToTheDeadTime + 10*time.Second)
	_, _, known := h.c.memberState("p1")
	require.True(t, known, "kept past GossipToTheDeadTime")
	h.takeHistory()
	h.inc++
	h.recv("p2", h.alive())
	require.Zero(t, returns(h.takeHistory()), "its return is known as a second one")

	h.recv("p2", (&wire.Dead{Incarnation: h.inc, Node: "p1", From: "p2"}).Append(nil))
	h.runAnswering(cfg.FlapHoldDown + cfg.GossipToTheDeadTime + 10*time.Second)
	_, _, known = h.c.memberState("p1")
	require.False(t, known, "reaped once the record has expired")
}

// Returning from the dead twice within FlapHoldDown holds a member out: the second death is
// the second leave and join the application would otherwise see.
func TestMemberDyingTwiceIsHeldOut(t *testing.T) {
	h := newFlapHarness(t, DefaultLANConfig())
	h.dieAndReturn()
	require.Equal(t, []string{"leave p1", "join p1"}, visible(h.takeHistory()), "the first return is let through")
	h.runAnswering(40 * time.Second)
	h.takeHistory()
	h.dieAndReturn()
	require.Equal(t, []string{"leave p1"}, visible(h.takeHistory()), "the second within FlapHoldDown: out, and kept out")
	require.False(t, inView(h.c, "p1"))
}

// An update (new metadata) and a first return from the dead are no flaps, and with
// FlapHoldDown 0 nothing is ever held out, as in memberlist.
func TestUpdatesAreNoFlaps(t *testing.T) {
	c := testCore(t, DefaultLANConfig())
	feed(c, aliveMsg("a", 1, ""))
	feed(c, aliveMsg("a", 2, "v2"))
	feed(c, aliveMsg("a", 3, "v3"))
	feed(c, aliveMsg("a", 4, "v4"))
	require.Equal(t, []string{"join a", "update a", "update a", "update a"}, visibleNow(c))

	cfg := DefaultLANConfig()
	cfg.FlapHoldDown = 0
	c = testCore(t, cfg)
	feed(c, aliveMsg("a", 1, ""))
	for inc := uint32(1); inc <= 5; inc++ {
		feed(c, (&wire.Suspect{Incarnation: inc, Node: "a", From: "b"}).Append(nil))
		feed(c, aliveMsg("a", inc+1, ""))
	}
	require.Equal(t, []string{"join a"}, visibleNow(c))
	require.True(t, inView(c, "a"))
}
