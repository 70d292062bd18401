package swim

// The receive rules of wire-format.md section 10, one core at a time, fed raw packets.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/swim-go/swim/internal/wire"
)

var (
	testEpoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	peerAddr  = netip.MustParseAddrPort("10.0.0.2:7946")
)

// testCore is a started core named "self" at 10.0.0.1:7946 with an empty outbox.
func testCore(t *testing.T, cfg *Config) *core {
	t.Helper()
	if cfg == nil {
		cfg = DefaultLANConfig()
	}
	cfg.Name = "self"
	c := newCore(cfg, netip.MustParseAddr("10.0.0.1"), 7946, nil, rand.New(rand.NewPCG(1, 2)), func(b []byte) { clear(b) }, nil)
	c.start(testEpoch)
	c.out.reset()
	return c
}

func aliveMsg(name string, inc uint32, meta string) []byte {
	var m []byte
	if meta != "" {
		m = []byte(meta)
	}
	a := wire.Alive{Incarnation: inc, Node: name, Addr: []byte{10, 0, 0, 2}, Port: 7946, Meta: m, Vsn: []byte{1, 5, 2, 0, 0, 0}}
	return a.Append(nil)
}

func feed(c *core, msg []byte) { c.handlePacket(c.now, peerAddr, msg) }

func events(c *core, kind coreEventKind) int {
	n := 0
	for _, e := range c.out.events {
		if e.kind == kind {
			n++
		}
	}
	return n
}

func stateOf(t *testing.T, c *core, name string) NodeState {
	t.Helper()
	m := c.members.get(name)
	require.NotNil(t, m, "member %s is known", name)
	return m.state()
}

// 10.2 step 5: "a node first announced with incarnation 0 stays recorded as dead (not a
// member) until an alive with i >= 1 arrives".
func TestAliveIncarnationZeroIsNotAMember(t *testing.T) {
	c := testCore(t, nil)
	feed(c, aliveMsg("a", 0, ""))
	require.Equal(t, StateDead, stateOf(t, c, "a"))
	require.Zero(t, events(c, evJoin))
	feed(c, aliveMsg("a", 1, ""))
	require.Equal(t, StateAlive, stateOf(t, c, "a"))
	require.Equal(t, 1, events(c, evJoin), "a join event for the new member")
}

// 10.2 step 5 and 9: "alive beats ... only with a strictly higher incarnation"; a metadata
// change is an update.
func TestAliveNeedsHigherIncarnation(t *testing.T) {
	c := testCore(t, nil)
	feed(c, aliveMsg("a", 2, "x"))
	c.out.reset()
	feed(c, aliveMsg("a", 2, "y"))
	require.Equal(t, "x", string(c.members.get("a").meta), "equal incarnation is ignored")
	feed(c, aliveMsg("a", 3, "y"))
	require.Equal(t, "y", string(c.members.get("a").meta))
	require.Equal(t, 1, events(c, evUpdate), "metadata change reported as an update")
	require.NotNil(t, c.queue.queued("a"), "accepted alive is rebroadcast")
}

// 10.2 step 2: "PMin = 0, or PMax = 0, or PMin > PMax -> ignore".
func TestAliveWithBadVersionsIgnored(t *testing.T) {
	c := testCore(t, nil)
	a := wire.Alive{Incarnation: 1, Node: "a", Addr: []byte{10, 0, 0, 2}, Port: 7946, Vsn: []byte{3, 2, 2, 0, 0, 0}}
	feed(c, a.Append(nil))
	require.Nil(t, c.members.get("a"))
}

// 10.2 step 4: "Known X with a different Addr ... while alive or suspect ... is a conflict".
func TestAliveFromOtherAddressIsConflict(t *testing.T) {
	c := testCore(t, nil)
	feed(c, aliveMsg("a", 1, ""))
	other := wire.Alive{Incarnation: 5, Node: "a", Addr: []byte{10, 0, 0, 9}, Port: 7946, Vsn: []byte{1, 5, 2, 0, 0, 0}}
	feed(c, other.Append(nil))
	require.Equal(t, []byte{10, 0, 0, 2}, c.members.get("a").addrBytes(), "the live holder keeps the name")
	require.Equal(t, 1, events(c, evConflict))

	// memberlist #157: once the holder is declared dead, the claim wins.
	d := wire.Dead{Incarnation: 1, Node: "a", From: "z"}
	feed(c, d.Append(nil))
	require.Equal(t, StateAlive, stateOf(t, c, "a"))
	require.Equal(t, []byte{10, 0, 0, 9}, c.members.get("a").addrBytes(), "the pending claim took over")
}

// 10.3 steps 2 and 6: suspect applies at an equal incarnation, not a lower one.
func TestSuspectIncarnationRules(t *testing.T) {
	c := testCore(t, nil)
	feed(c, aliveMsg("a", 3, ""))
	low := wire.Suspect{Incarnation: 2, Node: "a", From: "b"}
	feed(c, low.Append(nil))
	require.Equal(t, StateAlive, stateOf(t, c, "a"))
	eq := wire.Suspect{Incarnation: 3, Node: "a", From: "b"}
	feed(c, eq.Append(nil))
	require.Equal(t, StateSuspect, stateOf(t, c, "a"))
}

// 10.1: "it picks a new incarnation = max(own + 1, accused + 1) ... and broadcasts alive".
func TestRefutation(t *testing.T) {
	c := testCore(t, nil)
	feed(c, aliveMsg("a", 1, "")) // someone to talk to
	s := wire.Suspect{Incarnation: 7, Node: "self", From: "a"}
	feed(c, s.Append(nil))
	require.Equal(t, uint32(8), c.self.incarnation)
	require.Equal(t, StateAlive, c.self.state(), "a member never records itself as suspect")
	it := c.queue.queued("self")
	require.NotNil(t, it)
	require.True(t, it.priority, "a refutation goes out before other gossip")
	require.Equal(t, 1, c.awareness.score, "refuting raises the local health score")

	d := wire.Dead{Incarnation: 8, Node: "self", From: "a"}
	feed(c, d.Append(nil))
	require.Equal(t, uint32(9), c.self.incarnation, "a death is refuted too")
}

// 10.4 step 7: "State = left if F = X, else dead".
func TestDeadFromSelfMeansLeft(t *testing.T) {
	c := testCore(t, nil)
	feed(c, aliveMsg("a", 1, ""))
	feed(c, aliveMsg("b", 1, ""))
	left := wire.Dead{Incarnation: 1, Node: "a", From: "a"}
	feed(c, left.Append(nil))
	require.Equal(t, StateLeft, stateOf(t, c, "a"))
	dead := wire.Dead{Incarnation: 1, Node: "b", From: "a"}
	feed(c, dead.Append(nil))
	require.Equal(t, StateDead, stateOf(t, c, "b"))
	require.Equal(t, 2, events(c, evLeave))
}

// 10.5: "a remote dead only makes the receiver suspect the node", and restart recovery: a
// member that sees its own old death in a push/pull refutes above it.
func TestPushPullMergeRules(t *testing.T) {
	c := testCore(t, nil)
	feed(c, aliveMsg("a", 4, ""))
	pp := &wire.PushPull{Nodes: []wire.PushNodeState{
		{Name: "a", Addr: []byte{10, 0, 0, 2}, Port: 7946, Incarnation: 4, State: int(StateDead), Vsn: []byte{1, 5, 2, 0, 0, 0}},
		{Name: "self", Addr: []byte{10, 0, 0, 1}, Port: 7946, Incarnation: 6, State: int(StateDead), Vsn: []byte{1, 5, 2, 0, 0, 0}},
	}}
	require.NoError(t, c.mergeRemote(statesOf(t, pp), knownState{}))
	require.Equal(t, StateSuspect, stateOf(t, c, "a"))
	require.Equal(t, uint32(7), c.self.incarnation)
}

// 10.6: a push/pull from a member whose spoken version is outside the cluster's range is
// refused whole.
func TestPushPullIncompatibleRefused(t *testing.T) {
	c := testCore(t, nil)
	pp := &wire.PushPull{Nodes: []wire.PushNodeState{
		{Name: "old", Addr: []byte{10, 0, 0, 2}, Port: 7946, Incarnation: 1, State: int(StateAlive), Vsn: []byte{1, 1, 1, 0, 0, 0}},
	}}
	err := c.mergeRemote(statesOf(t, pp), knownState{})
	require.ErrorIs(t, err, ErrIncompatible)
	require.Nil(t, c.members.get("old"))
	require.Equal(t, uint64(1), c.drops.counts[DropIncompatible])
}

// Garbage is counted, never fatal.
func TestGarbageIsCountedNotFatal(t *testing.T) {
	c := testCore(t, nil)
	for _, b := range [][]byte{{}, {0xff}, {0x04, 0x81}, {0x07, 0x05}, {0x0c, 1, 2}} {
		feed(c, b)
	}
	var total uint64
	for _, n := range c.drops.counts {
		total += n
	}
	require.Equal(t, uint64(5), total)
	require.Len(t, c.members.list, 1, "no garbage in the member table")
}

// "A conflicting claim waiting in pendingAlive expires after a few suspicion timeouts": a
// claim on a live member's name from another address is kept so that a restarted member is
// admitted once its old instance is declared dead, but not hours later, when the claimant
// may be long gone.
func TestNameClaimExpires(t *testing.T) {
	for _, wait := range []time.Duration{time.Second, time.Hour} {
		h := newHarness(t, nil, 3)
		h.answering = func(string) bool { return true }
		claim := wire.Alive{Incarnation: 5, Node: "p1", Addr: []byte{10, 0, 9, 9}, Port: 7946, Vsn: []byte{1, 5, 2, 0, 0, 0}}
		h.recv("p2", claim.Append(nil))
		require.Len(t, h.events, 1)
		require.Equal(t, evConflict, h.events[0].kind, "the conflict is reported")
		h.runAnswering(wait)
		require.Equal(t, StateAlive, stateOf(t, h.c, "p1"), "the holder answers its probes")
		h.recv("p2", (&wire.Dead{Incarnation: 1, Node: "p1", From: "p2"}).Append(nil))
		m := h.c.members.get("p1")
		if wait == time.Second {
			require.Equal(t, StateAlive, m.state(), "a fresh claim wins once the holder dies")
			require.Equal(t, []byte{10, 0, 9, 9}, m.addrBytes())
		} else {
			require.Equal(t, StateDead, m.state(), "a claim an hour old does not take the name")
			require.Equal(t, []byte{10, 0, 1, 1}, m.addrBytes())
		}
	}
}

// vetoAll is a MergeDelegate that refuses every merge and remembers what it was shown.
type vetoAll struct{ shown [][]Node }

func (v *vetoAll) NotifyMerge(peers []Node) error {
	v.shown = append(v.shown, peers)
	return errors.New("Merge canceled")
}

// As in memberlist, the MergeDelegate decides joins only: a join's push/pull it refuses
// changes nothing and returns its error; a periodic push/pull does not ask it.
func TestMergeDelegateDecidesJoinsOnly(t *testing.T) {
	cfg := DefaultLANConfig()
	veto := &vetoAll{}
	cfg.Merge = veto
	c := testCore(t, cfg)
	node := wire.PushNodeState{Name: "a", Addr: []byte{10, 0, 0, 2}, Port: 7946, Incarnation: 1, State: int(StateAlive), Vsn: []byte{1, 5, 2, 0, 0, 0}}
	err := c.mergeRemote(statesOf(t, &wire.PushPull{Join: true, Nodes: []wire.PushNodeState{node}}), knownState{})
	require.ErrorContains(t, err, "Merge canceled")
	require.Nil(t, c.members.get("a"), "a refused join merges nothing")
	require.Len(t, veto.shown, 1)
	require.Equal(t, "a", veto.shown[0][0].Name)

	require.NoError(t, c.mergeRemote(statesOf(t, &wire.PushPull{Nodes: []wire.PushNodeState{node}}), knownState{}))
	require.Equal(t, StateAlive, stateOf(t, c, "a"), "a periodic push/pull merges")
	require.Len(t, veto.shown, 1, "without asking")
}

// UserMessagesNewestFirst (memberlist's order, from its last-in-first-out handoff queue):
// the user messages of one packet are delivered newest first; other events keep their places.
func TestUserMessagesNewestFirst(t *testing.T) {
	for _, newestFirst := range []bool{false, true} {
		cfg := DefaultLANConfig()
		cfg.UserMessagesNewestFirst = newestFirst
		c := testCore(t, cfg)
		user := func(s string) []byte { return append([]byte{byte(wire.UserMsg)}, s...) }
		pkt := wire.AppendCompound(nil, [][]byte{user("first"), aliveMsg("a", 1, ""), user("second"), user("third")})
		c.handlePacket(c.now, netip.MustParseAddrPort("10.0.0.2:7946"), pkt)
		var got []string
		for _, e := range c.out.events {
			switch e.kind {
			case evUserMsg:
				got = append(got, string(e.msg))
			case evJoin:
				got = append(got, "join "+e.node.Name())
			}
		}
		want := []string{"first", "join a", "second", "third"}
		if newestFirst {
			want = []string{"third", "join a", "second", "first"}
		}
		require.Equal(t, want, got, "newest first: %v", newestFirst)
	}
}

// While a join is in flight, a user message from a sender not in the table (gossip from the
// cluster being joined, which learnt of this member first) is held until the join's
// push/pull is merged: the application sees the cluster's state before messages about it.
func TestUserMessagesWaitForTheJoin(t *testing.T) {
	h := newHarness(t, nil, 2)
	h.step()
	h.c.join(h.c.now, []seed{{addr: h.addrOf("p9"), name: "p9"}}, 9)
	h.collect()
	st := h.wantStream("10.0.1.9:7946", "the join's push/pull")
	user := append([]byte{byte(wire.UserMsg)}, "old news"...)
	h.recv("p9", user)
	require.Empty(t, h.events, "held while the join is in flight")
	h.recv("p1", append([]byte{byte(wire.UserMsg)}, "from a member"...))
	require.Len(t, h.events, 1, "a member's message is not held")

	reply := (&wire.PushPull{Join: true, Nodes: []wire.PushNodeState{{Name: "p9", Addr: []byte{10, 0, 1, 9}, Port: 7946,
		Incarnation: 1, State: int(StateAlive), Vsn: []byte{1, 5, 2, 0, 0, 0}}}}).Append(nil)
	h.streamDone(st, reply, nil)
	var kinds []string
	for _, e := range h.events {
		switch e.kind {
		case evJoin:
			kinds = append(kinds, "join "+e.node.Name())
		case evUserMsg:
			kinds = append(kinds, string(e.msg))
		}
	}
	require.Equal(t, []string{"join p9", "old news"}, kinds, "the merge first, then the held message")
	require.Equal(t, []apiDone{{token: 9, n: 1}}, h.done)
}

// A user packet goes bare, as memberlist sends it: queued news waits for probes and gossip,
// whose destinations are random, instead of going to the member the application chose
// (Serf answers each query to its origin, which would soak up the query's transmissions).
func TestUserPacketsCarryNoBroadcasts(t *testing.T) {
	h := newHarness(t, DefaultLANConfig(), 3)
	h.c.queue.queueMember(&news{name: "p3", msg: aliveMsg("p3", 2, "")}, false)
	queued := h.c.queue.Len()
	require.Equal(t, 1, queued)

	h.step()
	h.c.sendUser(h.c.now, h.addrOf("p1"), "p1", []byte("to p1"), false, 1)
	h.c.sendUserTo(h.c.now, h.addrOf("p2"), "p2", []byte("to p2"), 2)
	h.collect()
	require.Len(t, h.sent, 2)
	for _, p := range h.sent {
		require.Len(t, p.msgs, 1, "a user packet to %s holds the user message alone", p.to)
		require.Equal(t, wire.UserMsg, wire.MessageType(p.msgs[0][0]))
	}
	require.Equal(t, queued, h.c.queue.Len(), "the news is still queued")
}

// An identity builds the alive it rebroadcasts once per incarnation and shape, and what it
// hands out is always the bytes the alive itself encodes to (port fixed).
func TestAliveNewsIsBuiltOnceAndExact(t *testing.T) {
	vsn := []byte{1, 5, 2, 0, 0, 0}
	a := wire.Alive{Incarnation: 3, Node: "a", Addr: []byte{10, 0, 0, 1}, Port: 0, Meta: []byte("m"), Vsn: vsn}
	id := newIdentity(a.Node, a.Addr, 7946, a.Meta, a.Vsn, nil)
	exact := func(a wire.Alive) []byte { a.Port = 7946; return a.Append(nil) }

	first := id.aliveNews(&a, 7946)
	require.Equal(t, exact(a), first.msg)
	require.Same(t, first, id.aliveNews(&a, 7946), "the same alive again is built once")

	b := a
	b.Incarnation = 4
	require.Equal(t, exact(b), id.aliveNews(&b, 7946).msg, "a new incarnation is built afresh")

	short := b
	short.Vsn = vsn[:3]
	require.Equal(t, exact(short), id.aliveNews(&short, 7946).msg, "short versions encode as sent")
	require.Equal(t, exact(b), id.aliveNews(&b, 7946).msg, "and do not replace what is remembered")

	none := newIdentity("b", a.Addr, 7946, nil, vsn, nil)
	nilMeta, emptyMeta := b, b
	nilMeta.Node, nilMeta.Meta = "b", nil
	emptyMeta.Node, emptyMeta.Meta = "b", []byte{}
	require.Equal(t, exact(nilMeta), none.aliveNews(&nilMeta, 7946).msg)
	require.Equal(t, exact(emptyMeta), none.aliveNews(&emptyMeta, 7946).msg, "empty metadata encodes unlike nil")
	require.NotEqual(t, exact(nilMeta), exact(emptyMeta))
}

// stateDelegate adds user state to push/pulls.
type stateDelegate struct {
	floodDelegate
	state []byte
}

func (d stateDelegate) LocalState(bool) []byte { return d.state }

// A member's push/pull state is its table as wire.PushPull encodes it, entry for entry, with
// the application's state after it; the core writes it without building that value first.
func TestLocalStateEncodesTheTable(t *testing.T) {
	cfg := DefaultLANConfig()
	cfg.EnableCompression = false
	cfg.Delegate = stateDelegate{state: []byte("user state")}
	c := testCore(t, cfg)
	for i := range 40 {
		feed(c, aliveMsg(fmt.Sprintf("member-%d", i), uint32(1+i%3), strings.Repeat("m", i%5)))
	}
	s := wire.Suspect{Incarnation: 2, Node: "member-4", From: "member-5"}
	feed(c, s.Append(nil))
	for _, join := range []bool{false, true} {
		want := wire.PushPull{Join: join, UserState: []byte("user state")}
		for _, m := range c.members.list {
			want.Nodes = append(want.Nodes, wire.PushNodeState{Name: m.name, Addr: m.addrBytes(), Port: m.port, Meta: m.meta,
				Incarnation: m.incarnation, State: int(m.state()), Vsn: m.vsn[:]})
		}
		require.Equal(t, want.Append(nil), c.localState(join))
	}
	require.Equal(t, StateSuspect, c.members.get("member-4").state(), "the state holds a suspect too")
}

// The table's kept fingerprint changes with every change a push/pull carries, including
// those that leave a member's state as it was: a higher incarnation of an alive or suspect
// member, new metadata, and this member's own refutations and updates.
func TestTableSumFollowsEveryChange(t *testing.T) {
	c := testCore(t, nil)
	check := func(what string) {
		t.Helper()
		require.Equal(t, c.fingerprint(false), c.tableSum(false), what)
		require.Equal(t, c.fingerprint(true), c.tableSum(true), what)
		fresh, kept := c.versionCounts()
		require.Equal(t, fresh, kept, what)
	}
	check("start")
	steps := []struct {
		what string
		msg  []byte
	}{
		{"a new member", aliveMsg("a", 1, "")},
		{"alive at a higher incarnation", aliveMsg("a", 2, "")},
		{"new metadata", aliveMsg("a", 3, "m")},
		{"suspect", (&wire.Suspect{Incarnation: 3, Node: "a", From: "b"}).Append(nil)},
		{"suspect at a higher incarnation", (&wire.Suspect{Incarnation: 4, Node: "a", From: "b"}).Append(nil)},
		{"dead", (&wire.Dead{Incarnation: 4, Node: "a", From: "b"}).Append(nil)},
		{"a refutation", (&wire.Suspect{Incarnation: 1, Node: "self", From: "b"}).Append(nil)},
	}
	for _, s := range steps {
		before := c.tableSum(false)
		feed(c, s.msg)
		check(s.what)
		require.NotEqual(t, before, c.tableSum(false), "%s changes the fingerprint", s.what)
	}
	before := c.tableSum(false)
	c.updateMeta(c.now, []byte("new"), 0)
	check("an update of this member")
	require.NotEqual(t, before, c.tableSum(false))
}

// compatReference is the version check written the plain way, walking the table each time.
func compatReference(c *core, remote []wire.PushNodeState) string {
	pMin, pMax, dMin, dMax := uint8(0), uint8(255), uint8(0), uint8(255)
	widen := func(v []byte) {
		pMin, pMax = max(pMin, v[0]), min(pMax, v[1])
		dMin, dMax = max(dMin, v[3]), min(dMax, v[4])
	}
	for i := range remote {
		if NodeState(remote[i].State) == StateAlive && len(remote[i].Vsn) >= 5 {
			widen(remote[i].Vsn)
		}
	}
	for _, m := range c.members.list {
		if m.state() == StateAlive {
			widen(m.vsn[:])
		}
	}
	fits := func(pCur, dCur uint8) bool { return pCur >= pMin && pCur <= pMax && dCur >= dMin && dCur <= dMax }
	for i := range remote {
		if v := remote[i].Vsn; len(v) >= 6 && !fits(v[2], v[5]) || len(v) < 6 && !fits(0, 0) {
			return remote[i].Name
		}
	}
	for _, m := range c.members.list {
		if m.state() == StateAlive && !fits(m.vsn[2], m.vsn[5]) {
			return m.name
		}
	}
	return ""
}

// The version check, which keeps what the table says between changes, refuses exactly the
// states the plain check refuses, naming the same member, as the table changes under it;
// and so it does for a state that is the table itself (a merge of a member's own table).
func TestPushPullVersionCheckMatchesThePlainOne(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 12))
	vsn := func() []byte {
		lo, hi := byte(1+rng.IntN(3)), byte(3+rng.IntN(3))
		return []byte{lo, hi, lo + byte(rng.IntN(int(hi-lo)+1)), 0, 0, byte(rng.IntN(2))}
	}
	c := testCore(t, nil)
	refused := 0
	for step := range 400 {
		name := fmt.Sprintf("m%d", rng.IntN(30))
		switch rng.IntN(4) {
		case 0, 1:
			a := wire.Alive{Incarnation: uint32(step + 1), Node: name, Addr: []byte{10, 0, 1, byte(step)}, Port: 7946, Vsn: vsn()}
			if m := c.members.get(name); m != nil {
				a.Addr = m.addrBytes()
			}
			feed(c, a.Append(nil))
		case 2:
			feed(c, (&wire.Suspect{Incarnation: uint32(step + 1), Node: name, From: "x"}).Append(nil))
		case 3:
			feed(c, (&wire.Dead{Incarnation: uint32(step + 1), Node: name, From: "x"}).Append(nil))
		}
		var remote []wire.PushNodeState
		for i := range rng.IntN(4) {
			remote = append(remote, wire.PushNodeState{Name: fmt.Sprintf("r%d", i), State: rng.IntN(3), Vsn: vsn()})
		}
		var own []wire.PushNodeState // this table as a peer holding the same would send it
		for _, m := range c.members.list {
			own = append(own, wire.PushNodeState{Name: m.name, State: int(m.state()), Vsn: m.vsn[:]})
		}
		ownErr := c.checkCompatible(statesOf(t, &wire.PushPull{Nodes: own}), true)
		if want := compatReference(c, own); want == "" {
			require.NoError(t, ownErr, "step %d, own table", step)
		} else {
			require.Contains(t, ownErr.Error(), fmt.Sprintf("member %q", want), "step %d, own table", step)
		}
		err := c.checkCompatible(statesOf(t, &wire.PushPull{Nodes: remote}), false)
		want := compatReference(c, remote)
		if want == "" {
			require.NoError(t, err, "step %d", step)
			continue
		}
		refused++
		require.ErrorIs(t, err, ErrIncompatible, "step %d", step)
		require.Contains(t, err.Error(), fmt.Sprintf("member %q", want), "step %d", step)
	}
	require.Positive(t, refused, "some states are refused")
}

// Outboxes that share room for events never hold it at once: a member whose events are
// still being read keeps them while another member's input emits its own.
func TestSharedEventRoomIsHeldByOneOutboxAtATime(t *testing.T) {
	var room []coreEvent
	a, b := testCore(t, nil), testCore(t, nil)
	a.shareEventRoom(&room)
	b.shareEventRoom(&room)
	for i := range 100 {
		feed(a, aliveMsg(fmt.Sprintf("a%d", i), 1, ""))
	}
	a.out.reset()
	require.GreaterOrEqual(t, cap(room), 100, "the room is given back, grown")

	for i := range 50 {
		feed(a, aliveMsg(fmt.Sprintf("x%d", i), 1, ""))
	}
	require.Nil(t, room, "an outbox with events holds the room")
	for i := range 70 { // emitted while a's events are still unread
		feed(b, aliveMsg(fmt.Sprintf("y%d", i), 1, ""))
	}
	require.Len(t, a.out.events, 50)
	for i, e := range a.out.events {
		require.Equal(t, fmt.Sprintf("x%d", i), e.node.Name(), "a's events are its own")
	}
	b.out.reset()
	a.out.reset()
	require.GreaterOrEqual(t, cap(room), 100)
	require.Nil(t, a.out.events)
}

// statesOf is pp as a member receives it: encoded, then decoded.
func statesOf(t testing.TB, pp *wire.PushPull) *wire.PushStates {
	t.Helper()
	ps, err := wire.DecodeStates(pp.Append(nil)[1:], wire.DefaultLimits())
	require.NoError(t, err)
	return ps
}
