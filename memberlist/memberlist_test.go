package memberlist

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// app is a delegate as a memberlist program writes one: metadata, a broadcast queue, the
// messages it got, the events it saw; and, if callAPI is set, a call to Members from inside
// every callback (which deadlocks or races with memberlist itself, #23 and #306).
type app struct {
	name    string
	queue   TransmitLimitedQueue
	ml      func() *Memberlist
	callAPI bool

	mu       sync.Mutex
	msgs     []string
	events   []string
	callback map[string]int // callback name -> times it ran Members() successfully
}

func (a *app) api(where string) {
	if !a.callAPI || a.ml() == nil {
		return
	}
	n := len(a.ml().Members())
	a.mu.Lock()
	if n > 0 {
		a.callback[where]++
	}
	a.mu.Unlock()
}

func (a *app) NodeMeta(limit int) []byte { return []byte("meta-" + a.name) }
func (a *app) NotifyMsg(b []byte) {
	a.api("NotifyMsg")
	a.mu.Lock()
	a.msgs = append(a.msgs, string(b))
	a.mu.Unlock()
}
func (a *app) GetBroadcasts(overhead, limit int) [][]byte {
	a.api("GetBroadcasts")
	return a.queue.GetBroadcasts(overhead, limit)
}
func (a *app) LocalState(join bool) []byte            { a.api("LocalState"); return []byte("state") }
func (a *app) MergeRemoteState(buf []byte, join bool) { a.api("MergeRemoteState") }
func (a *app) NotifyJoin(n *Node)                     { a.event("join " + n.Name) }
func (a *app) NotifyLeave(n *Node)                    { a.event("leave " + n.Name) }
func (a *app) NotifyUpdate(n *Node)                   { a.event("update " + n.Name) }
func (a *app) NotifyMerge(peers []*Node) error        { a.api("NotifyMerge"); return nil }
func (a *app) NotifyAlive(peer *Node) error           { a.api("NotifyAlive"); return nil }
func (a *app) AckPayload() []byte                     { a.api("AckPayload"); return []byte("payload") }
func (a *app) NotifyPingComplete(other *Node, rtt time.Duration, payload []byte) {
	a.api("NotifyPingComplete")
}

func (a *app) calls() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return maps.Clone(a.callback)
}

func (a *app) event(e string) {
	a.api("event")
	a.mu.Lock()
	a.events = append(a.events, e)
	a.mu.Unlock()
}

func (a *app) saw(e string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Contains(a.events, e) || slices.Contains(a.msgs, e)
}

// broadcast is a Broadcast as memberlist programs write them.
type broadcast struct {
	msg    []byte
	notify chan struct{}
}

func (b *broadcast) Invalidates(Broadcast) bool { return false }
func (b *broadcast) Message() []byte            { return b.msg }
func (b *broadcast) Finished() {
	if b.notify != nil {
		close(b.notify)
	}
}

// start creates a member on loopback with a free port, wired as memberlist's README does.
func start(t *testing.T, name string, callAPI bool) (*Memberlist, *app) {
	t.Helper()
	var ml *Memberlist
	a := &app{name: name, callAPI: callAPI, callback: map[string]int{}, ml: func() *Memberlist { return ml }}
	conf := DefaultLocalConfig()
	conf.Name = name
	conf.BindAddr = "127.0.0.1"
	conf.BindPort = 0
	conf.ProbeInterval = 100 * time.Millisecond
	conf.ProbeTimeout = 50 * time.Millisecond
	conf.GossipInterval = 20 * time.Millisecond
	conf.Delegate, conf.Events, conf.Merge, conf.Alive, conf.Ping = a, a, a, a, a
	conf.LogOutput = testWriter{t}
	var err error
	ml, err = Create(conf)
	require.NoError(t, err)
	require.NotZero(t, conf.BindPort, "the bound port is written back")
	a.queue = TransmitLimitedQueue{NumNodes: ml.NumMembers, RetransmitMult: conf.RetransmitMult}
	t.Cleanup(func() { ml.Shutdown() })
	return ml, a
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }

func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	require.Eventually(t, cond, 10*time.Second, 10*time.Millisecond, what)
}

// A memberlist program, unchanged but for the import: create, join, members, a broadcast
// through a TransmitLimitedQueue, events, Ping, SendToAddress, UpdateNode, Leave, Shutdown.
func TestMemberlistProgram(t *testing.T) {
	a, appA := start(t, "a", false)
	b, appB := start(t, "b", false)
	require.True(t, appA.saw("join a"), "Create tells the Events delegate of the member's own join")

	n, err := b.Join([]string{fmt.Sprintf("a/127.0.0.1:%d", a.config.BindPort)})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.True(t, appB.saw("join a"), "Join returns after the Events delegate heard of what it brought")
	require.Equal(t, 2, b.NumMembers())
	eventually(t, func() bool { return a.NumMembers() == 2 }, "a sees b")
	for _, m := range b.Members() {
		require.Equal(t, []byte("meta-"+m.Name), m.Meta)
		require.Len(t, m.Addr, 4, "IPv4 in its 4-byte form")
	}

	done := make(chan struct{})
	appA.queue.QueueBroadcast(&broadcast{msg: []byte("hello from a"), notify: done})
	eventually(t, func() bool { return appB.saw("hello from a") }, "the broadcast reaches b")
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Finished was not called once the broadcast was sent its number of times")
	}

	bAddr := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: b.config.BindPort}
	rtt, err := a.Ping("b", bAddr)
	require.NoError(t, err)
	require.Positive(t, rtt)
	_, err = a.Ping("nobody", bAddr)
	require.ErrorAs(t, err, &NoPingResponseError{})

	require.NoError(t, a.SendToAddress(Address{Addr: bAddr.String(), Name: "b"}, []byte("direct")))
	eventually(t, func() bool { return appB.saw("direct") }, "SendToAddress reaches b")
	require.NoError(t, a.SendToAddress(Address{Addr: fmt.Sprintf("127.0.0.1:%d", a.config.BindPort), Name: "a"}, []byte("to myself")))
	eventually(t, func() bool { return appA.saw("to myself") }, "SendToAddress to itself is delivered")
	require.NoError(t, a.SendReliable(b.LocalNode(), []byte("reliable")))
	eventually(t, func() bool { return appB.saw("reliable") }, "SendReliable reaches b")

	require.Equal(t, 0, a.GetHealthScore())
	require.Equal(t, uint8(ProtocolVersion2Compatible), a.ProtocolVersion())

	require.NoError(t, b.Leave(5*time.Second))
	require.True(t, appB.saw("leave b"), "Leave returns after the Events delegate heard of the member's own leave")
	eventually(t, func() bool { return appA.saw("leave b") }, "a hears b left")
	require.NoError(t, b.Shutdown())
	require.NoError(t, b.Shutdown(), "Shutdown may be called again")
}

// Members() from inside every callback: with memberlist a deadlock from the event delegate
// (#23) and a data race on the nodes returned (#306); here neither (run with -race).
func TestMembersFromEveryCallback(t *testing.T) {
	a, appA := start(t, "a", true)
	b, appB := start(t, "b", true)
	_, err := b.Join([]string{fmt.Sprintf("a/127.0.0.1:%d", a.config.BindPort)})
	require.NoError(t, err)
	eventually(t, func() bool { return a.NumMembers() == 2 }, "a sees b")
	appA.queue.QueueBroadcast(&broadcast{msg: []byte("x")})
	require.NoError(t, a.SendToAddress(Address{Addr: fmt.Sprintf("127.0.0.1:%d", b.config.BindPort), Name: "b"}, []byte("y")))
	want := []string{"event", "NotifyMsg", "GetBroadcasts", "LocalState", "MergeRemoteState", "NotifyMerge", "NotifyAlive", "AckPayload", "NotifyPingComplete"}
	eventually(t, func() bool {
		for _, w := range want {
			appA.mu.Lock()
			na := appA.callback[w]
			appA.mu.Unlock()
			appB.mu.Lock()
			nb := appB.callback[w]
			appB.mu.Unlock()
			if na+nb == 0 {
				return false
			}
		}
		return true
	}, "every callback called Members()")
	t.Logf("Members() calls from callbacks: a %v, b %v", appA.calls(), appB.calls())
	for _, m := range a.Members() {
		m.Meta = append(m.Meta, '!') // a copy: changing it touches nothing inside
	}
	for _, m := range a.Members() {
		require.NotContains(t, string(m.Meta), "!")
	}
}
