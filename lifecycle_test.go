package swim

// The runtime's promises at its edges (membership.go, loop.go): no call hangs or silently does
// nothing, in virtual time over the in-memory transport.

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/swim-go/swim/internal/wire"
)

// joined starts two members, b joined to a, and waits until each sees the other.
func joined(t *testing.T) (a, b testMember) {
	t.Helper()
	network := NewMemNetwork()
	a, b = startMember(t, network, 1), startMember(t, network, 2)
	_, err := b.Join([]string{a.LocalNode().Address()})
	require.NoError(t, err)
	waitUntil(t, 5*time.Second, func() bool { return a.NumMembers() == 2 && b.NumMembers() == 2 }, "two members see each other")
	return a, b
}

// "Shutdown returns promptly when it is called from an event callback."
func TestShutdownFromCallback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		network := NewMemNetwork()
		a, b := startMember(t, network, 1), startMember(t, network, 2)
		done := make(chan error, 1)
		a.rec.setOnJoin(func(Node) { done <- a.Shutdown() })
		// a may shut down before it answers b's push/pull: the join's outcome is not the
		// point here.
		_, _ = b.Join([]string{a.LocalNode().Address()})
		returnsNil(t, done, "Shutdown from NotifyJoin")
		require.NoError(t, b.Shutdown())
	})
}

// "Shutdown returns promptly when the application stopped reading its
// ChannelEventDelegate channel."
func TestShutdownWithUnreadEventChannel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		network := NewMemNetwork()
		ch := make(chan NodeEvent) // nobody reads it
		m := startNamed(t, network, 9, "stuck", func(c *Config) { c.Events = &ChannelEventDelegate{Ch: ch} })
		b := startMember(t, network, 2)
		_, err := b.Join([]string{m.LocalNode().Address()})
		require.NoError(t, err)
		waitUntil(t, 5*time.Second, func() bool { return m.NumMembers() == 2 }, "joined")
		done := make(chan error, 1)
		go func() { done <- m.Shutdown() }()
		returnsNil(t, done, "Shutdown with a channel nobody reads")
		require.NoError(t, b.Shutdown())
		<-ch // let the blocked delivery finish, so its goroutine ends inside the bubble
	})
}

// "Leave(0) and UpdateNode(0) mean no deadline, as in memberlist": they used to time out at
// once and do nothing, so a ported program's leave looked like a crash.
func TestZeroTimeoutMeansNoDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := joined(t)
		b.rec.mu.Lock()
		b.rec.meta = []byte("v2")
		b.rec.mu.Unlock()
		require.NoError(t, b.UpdateNode(0))
		require.NoError(t, b.Leave(0))
		waitUntil(t, 5*time.Second, func() bool { return a.rec.sawLeft("m2") }, "the leave is seen as left")
		require.NoError(t, b.Leave(0), "a second Leave returns nil, as in memberlist")
		_, err := b.Join([]string{a.LocalNode().Address()})
		require.ErrorIs(t, err, ErrLeft, "Join after Leave")
		require.NoError(t, a.Shutdown())
		require.NoError(t, b.Shutdown())
	})
}

// "Members() called in NotifyJoin(x) includes x": events are delivered after the snapshot
// that contains them is published. A join that brings thousands of members at once makes the
// snapshot slow to build, so that a dispatcher woken before it is published reads the old
// one: that failed on nearly every run when events were pushed first.
func TestMembersInNotifyJoinIncludesTheNewMember(t *testing.T) {
	network := NewMemNetwork()
	const n = 3000
	joiners := 6
	if raceEnabled {
		joiners = 2 // the race detector slows the loop and the dispatcher alike
	}
	seed, err := network.NewTransport(netipOf(200))
	require.NoError(t, err)
	defer seed.Shutdown()
	pp := wire.PushPull{Join: true}
	for i := range n {
		pp.Nodes = append(pp.Nodes, wire.PushNodeState{Name: fmt.Sprintf("f%d", i), Addr: []byte{10, 2, byte(i >> 8), byte(i)}, Port: 7946,
			Incarnation: 1, State: int(StateAlive), Vsn: []byte{1, 5, 2, 0, 0, 0}})
	}
	reply := pp.Append(nil)
	go func() {
		// A seed that answers each join with a table of n members.
		for conn := range seed.StreamCh() {
			if _, err := wire.ReadStreamMessage(conn, wire.StreamOptions{Limits: wire.DefaultLimits()}); err == nil {
				conn.Write(reply)
			}
			conn.Close()
		}
	}()
	var missing atomic.Int64
	for k := range joiners {
		a := startMember(t, network, 1+k)
		var seen atomic.Int64
		done := make(chan struct{})
		a.rec.setOnJoin(func(x Node) {
			if !slices.ContainsFunc(a.Members(), func(m Node) bool { return m.Name == x.Name }) {
				missing.Add(1)
			}
			if seen.Add(1) == n {
				close(done)
			}
		})
		_, err = a.Join([]string{netipOf(200).String()})
		require.NoError(t, err)
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Fatalf("only %d of %d joins delivered", seen.Load(), n)
		}
		require.NoError(t, a.Shutdown())
	}
	require.Zero(t, missing.Load(), "joins delivered before the snapshot holding the member was published")
}

// "SendReliable and SendBestEffort to a node that is not a member return ErrUnknownNode."
func TestSendToNonMember(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := joined(t)
		stranger := Node{Name: "stranger", Addr: []byte{10, 1, 0, 77}, Port: 7946}
		require.ErrorIs(t, a.SendReliable(stranger, []byte("x")), ErrUnknownNode)
		require.ErrorIs(t, a.SendBestEffort(stranger, []byte("x")), ErrUnknownNode)
		require.NoError(t, a.SendBestEffort(b.LocalNode(), []byte("x")), "a member is known")
		require.NoError(t, a.Shutdown())
		require.NoError(t, b.Shutdown())
	})
}

// returnsNil fails unless a call reports nil on done within 10 s of virtual time.
func returnsNil(t *testing.T, done <-chan error, call string) {
	t.Helper()
	select {
	case err := <-done:
		require.NoError(t, err, call)
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not return", call)
	}
}

// netipOf is the in-memory address startMember gives member i.
func netipOf(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, 0, byte(i)}), 7946)
}

// conflicts records ConflictDelegate calls.
type conflicts struct {
	mu  sync.Mutex
	got []Node // the other side of each conflict
}

func (c *conflicts) NotifyConflict(existing, other Node) {
	c.mu.Lock()
	c.got = append(c.got, other)
	c.mu.Unlock()
}

func (c *conflicts) seen() []Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got)
}

// startNamed starts a member named name at in-memory address i, its Local config changed by
// configure if not nil.
func startNamed(t *testing.T, network *MemNetwork, i int, name string, configure func(*Config)) *Memberlist {
	t.Helper()
	tr, err := network.NewTransport(netipOf(i))
	require.NoError(t, err)
	cfg := DefaultLocalConfig()
	cfg.Name, cfg.Transport = name, tr
	if configure != nil {
		configure(cfg)
	}
	m, err := Create(cfg)
	require.NoError(t, err)
	return m
}

// "Names are identities": a member that joins under a name a live member holds at another
// address, one that still answers, gets ErrNameInUse from Join, and the holder gets a
// ConflictDelegate call; a member restarted at a new address while its old instance is
// silent still gets in, once the old address is declared dead.
func TestJoinUnderANameInUse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		network := NewMemNetwork()
		holderConflicts := &conflicts{}
		a := startNamed(t, network, 1, "a", nil)
		holder := startNamed(t, network, 2, "b", func(c *Config) { c.Conflict = holderConflicts })
		_, err := holder.Join([]string{a.LocalNode().Address()})
		require.NoError(t, err)
		waitUntil(t, 5*time.Second, func() bool { return a.NumMembers() == 2 }, "joined")

		impostor := startNamed(t, network, 3, "b", nil)
		_, err = impostor.Join([]string{a.LocalNode().Address()})
		require.ErrorIs(t, err, ErrNameInUse, "the name is held by a member that answers")
		waitUntil(t, 5*time.Second, func() bool { return len(holderConflicts.seen()) > 0 }, "the holder hears of the conflict")
		require.Equal(t, netipOf(3), holderConflicts.seen()[0].AddrPort(), "the holder is told who claims its name")
		require.NoError(t, impostor.Shutdown())
		i := slices.IndexFunc(a.Members(), func(n Node) bool { return n.Name == "b" })
		require.Equal(t, netipOf(2), a.Members()[i].AddrPort(), "the name stays with its holder")

		// The holder crashes; restarted at a new address, it joins while its old instance is
		// silent, and is admitted once the old address is declared dead.
		require.NoError(t, holder.Shutdown())
		restarted := startNamed(t, network, 4, "b", nil)
		_, err = restarted.Join([]string{a.LocalNode().Address()})
		require.NoError(t, err, "a silent old instance does not fail the Join")
		waitUntil(t, time.Minute, func() bool {
			i := slices.IndexFunc(a.Members(), func(n Node) bool { return n.Name == "b" })
			return i >= 0 && a.Members()[i].AddrPort() == netipOf(4)
		}, "the restarted member is admitted at its new address")
		require.NoError(t, restarted.Shutdown())
		require.NoError(t, a.Shutdown())
	})
}

// memberlist's Ping and SendToAddress, through the runtime: a ping answered by the member
// named in it, no response from an address under another name, and a user message to an
// address delivered to the member there.
func TestPingAndSendToAddress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := joined(t)
		baddr := b.LocalNode().AddrPort()
		rtt, err := a.Ping("m2", baddr)
		require.NoError(t, err)
		require.GreaterOrEqual(t, rtt, time.Duration(0))
		_, err = a.Ping("someone-else", baddr)
		require.ErrorIs(t, err, ErrNoPingResponse, "a member answers only pings with its name")

		require.NoError(t, a.SendToAddress(baddr, "", []byte("to an address")))
		waitUntil(t, 5*time.Second, func() bool { return slices.Contains(b.rec.messages(), "to an address") }, "delivered")
		require.ErrorIs(t, a.SendToAddress(baddr, "", make([]byte, 2000)), ErrMessageTooLarge)
		require.NoError(t, a.Shutdown())
		_, err = a.Ping("m2", baddr)
		require.ErrorIs(t, err, ErrNotRunning)
		require.ErrorIs(t, a.SendToAddress(baddr, "", []byte("x")), ErrNotRunning)
		require.NoError(t, b.Shutdown())
	})
}

// recorded returns the events r was told of, as "type name" strings.
func (r *recorder) recorded() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, e.Type.String()+" "+e.Node.Name)
	}
	return out
}

// As in memberlist, a member hears of its own join at Create and of its own metadata change
// at UpdateNode; and WaitEvents after a call is where the events that call caused have been
// delivered, which is what memberlist's synchronous callbacks give its users.
func TestWaitEventsAfterACall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		network := NewMemNetwork()
		a := startMember(t, network, 1)
		require.NoError(t, a.WaitEvents(context.Background()))
		require.Equal(t, []string{"join m1"}, a.rec.recorded(), "its own join, before Create's caller goes on")

		b := startMember(t, network, 2)
		_, err := b.Join([]string{a.LocalNode().Address()})
		require.NoError(t, err)
		require.NoError(t, b.WaitEvents(context.Background()))
		require.Equal(t, []string{"join m2", "join m1"}, b.rec.recorded(), "the join's news is delivered")

		b.rec.mu.Lock()
		b.rec.meta = []byte("v2")
		b.rec.mu.Unlock()
		require.NoError(t, b.UpdateNode(time.Second))
		require.NoError(t, b.WaitEvents(context.Background()))
		require.Equal(t, "update m2", b.rec.recorded()[2], "its own update")

		// From a callback it cannot wait for itself, and does not try.
		returned := make(chan error, 1)
		a.rec.setOnMsg(func([]byte) { returned <- a.WaitEvents(context.Background()) })
		require.NoError(t, b.SendBestEffort(a.LocalNode(), []byte("x")))
		returnsNil(t, returned, "WaitEvents from a callback")

		require.NoError(t, a.Shutdown())
		require.ErrorIs(t, a.WaitEvents(context.Background()), ErrNotRunning)
		require.NoError(t, b.Shutdown())
	})
}

// With AllowNameInUse (memberlist's behaviour, which Serf's own conflict vote needs) Join
// goes on under a name in use; joining through the holder, both it and the newcomer hear of
// the conflict.
func TestAllowNameInUse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		network := NewMemNetwork()
		holderConflicts, newcomerConflicts := &conflicts{}, &conflicts{}
		a := startNamed(t, network, 1, "a", nil)
		holder := startNamed(t, network, 2, "b", func(c *Config) { c.Conflict = holderConflicts })
		_, err := holder.Join([]string{a.LocalNode().Address()})
		require.NoError(t, err)
		waitUntil(t, 5*time.Second, func() bool { return a.NumMembers() == 2 }, "joined")

		newcomer := startNamed(t, network, 3, "b", func(c *Config) { c.AllowNameInUse = true; c.Conflict = newcomerConflicts })
		n, err := newcomer.Join([]string{holder.LocalNode().Address()})
		require.NoError(t, err, "the join goes on")
		require.Equal(t, 1, n)
		waitUntil(t, 5*time.Second, func() bool { return len(holderConflicts.seen()) > 0 && len(newcomerConflicts.seen()) > 0 },
			"both hear of the conflict")
		require.NoError(t, newcomer.Shutdown())
		require.NoError(t, holder.Shutdown())
		require.NoError(t, a.Shutdown())
	})
}

// reentrantDelegate calls back into its member from LocalState, which runs inside the
// protocol's step.
type reentrantDelegate struct {
	m        atomic.Pointer[Memberlist]
	update   chan error
	shutdown bool
}

func (r *reentrantDelegate) NodeMeta(int) []byte             { return nil }
func (r *reentrantDelegate) NotifyMsg([]byte)                {}
func (r *reentrantDelegate) GetBroadcasts(int, int) [][]byte { return nil }
func (r *reentrantDelegate) MergeRemoteState([]byte, bool)   {}
func (r *reentrantDelegate) LocalState(bool) []byte {
	m := r.m.Load()
	if m == nil {
		return nil
	}
	_ = m.Members() // reads are fine
	if r.shutdown {
		r.update <- m.Shutdown()
		return nil
	}
	select {
	case r.update <- m.UpdateNode(time.Second):
	default:
	}
	return nil
}

// "No call hangs when made from a callback": a Delegate method runs inside the protocol's
// step, so a call that acts on the protocol would wait for that step forever (it did: the
// member stopped for good). It returns ErrInDelegate at once instead, and Shutdown returns
// and finishes once the delegate has returned.
func TestCallsFromInsideTheProtocolReturn(t *testing.T) {
	for _, shutdown := range []bool{false, true} {
		d := &reentrantDelegate{update: make(chan error, 1), shutdown: shutdown}
		cfg := DefaultLocalConfig()
		cfg.Name, cfg.BindAddr, cfg.BindPort, cfg.Delegate = "a", "127.0.0.1", 0, d
		a, err := Create(cfg)
		require.NoError(t, err)
		d.m.Store(a)
		cfg2 := DefaultLocalConfig()
		cfg2.Name, cfg2.BindAddr, cfg2.BindPort = "b", "127.0.0.1", 0
		b, err := Create(cfg2)
		require.NoError(t, err)
		_, _ = b.Join([]string{a.LocalNode().Address()}) // a serves the push/pull: LocalState runs
		select {
		case err := <-d.update:
			if shutdown {
				require.NoError(t, err, "Shutdown from a delegate returns nil")
				require.Eventually(t, func() bool {
					_, err := a.Join([]string{b.LocalNode().Address()})
					return errors.Is(err, ErrNotRunning)
				}, 10*time.Second, 20*time.Millisecond, "and the member shuts down once the delegate returns")
			} else {
				require.ErrorIs(t, err, ErrInDelegate)
				require.NoError(t, a.UpdateNode(time.Second), "the same call from another goroutine works")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the call from inside the protocol did not return")
		}
		b.Shutdown()
		a.Shutdown()
	}
}
