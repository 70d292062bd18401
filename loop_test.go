package swim

// The runtime, driven in virtual time by testing/synctest over the in-memory transport: no
// sockets, no wall-clock sleeps (time.Sleep inside a bubble only advances virtual time), and
// the bubble itself fails the test if any goroutine outlives Shutdown.

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// recorder is a Delegate and EventDelegate that remembers what it was told.
type recorder struct {
	mu     sync.Mutex
	meta   []byte
	msgs   []string
	events []NodeEvent
	bq     BroadcastQueue
	onJoin func(Node)
	onMsg  func([]byte)
}

// setOnJoin and setOnMsg install hooks while the member runs.
func (r *recorder) setOnJoin(f func(Node)) {
	r.mu.Lock()
	r.onJoin = f
	r.mu.Unlock()
}

func (r *recorder) setOnMsg(f func([]byte)) {
	r.mu.Lock()
	r.onMsg = f
	r.mu.Unlock()
}

func (r *recorder) NodeMeta(int) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.meta
}
func (r *recorder) NotifyMsg(b []byte) {
	r.mu.Lock()
	r.msgs = append(r.msgs, string(b))
	f := r.onMsg
	r.mu.Unlock()
	if f != nil {
		f(b)
	}
}
func (r *recorder) GetBroadcasts(overhead, limit int) [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bq.GetBroadcasts(overhead, limit)
}
func (r *recorder) LocalState(bool) []byte        { return nil }
func (r *recorder) MergeRemoteState([]byte, bool) {}
func (r *recorder) NotifyJoin(n Node) {
	r.record(NodeEvent{EventJoin, n})
	r.mu.Lock()
	f := r.onJoin
	r.mu.Unlock()
	if f != nil {
		f(n)
	}
}
func (r *recorder) NotifyLeave(n Node)  { r.record(NodeEvent{EventLeave, n}) }
func (r *recorder) NotifyUpdate(n Node) { r.record(NodeEvent{EventUpdate, n}) }
func (r *recorder) record(e NodeEvent) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

func (r *recorder) sawLeft(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.ContainsFunc(r.events, func(e NodeEvent) bool {
		return e.Type == EventLeave && e.Node.Name == name && e.Node.State == StateLeft
	})
}

type testMember struct {
	*Memberlist
	rec *recorder
}

func startMember(t *testing.T, network *MemNetwork, i int) testMember {
	t.Helper()
	tr, err := network.NewTransport(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, 0, byte(i)}), 7946))
	require.NoError(t, err)
	rec := &recorder{}
	rec.bq = BroadcastQueue{NumNodes: func() int { return 3 }, RetransmitMult: 3}
	cfg := DefaultLocalConfig()
	cfg.Name = fmt.Sprintf("m%d", i)
	cfg.Transport = tr
	cfg.Delegate = rec
	cfg.Events = rec
	m, err := Create(cfg)
	require.NoError(t, err)
	require.NoError(t, m.WaitEvents(context.Background()), "its own join is delivered before a test hooks the events")
	return testMember{m, rec}
}

// waitUntil advances virtual time until cond holds, failing with reason after limit.
func waitUntil(t *testing.T, limit time.Duration, cond func() bool, reason string) {
	t.Helper()
	for end := time.Now().Add(limit); !cond(); {
		if time.Now().After(end) {
			t.Fatalf("%s: not within %v", reason, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func names(ns []Node) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Name)
	}
	slices.Sort(out)
	return out
}

func TestRuntimeLifecycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		network := NewMemNetwork()
		ms := []testMember{startMember(t, network, 1), startMember(t, network, 2), startMember(t, network, 3)}
		for _, m := range ms[1:] {
			n, err := m.Join([]string{ms[0].LocalNode().Address()})
			require.NoError(t, err)
			require.Equal(t, 1, n)
		}
		waitUntil(t, 5*time.Second, func() bool {
			for _, m := range ms {
				if m.NumMembers() != 3 {
					return false
				}
			}
			return true
		}, "three members see each other")
		require.Equal(t, []string{"m1", "m2", "m3"}, names(ms[2].Members()))

		ms[1].rec.mu.Lock()
		ms[1].rec.meta = []byte("v2")
		ms[1].rec.mu.Unlock()
		require.NoError(t, ms[1].UpdateNode(5*time.Second))
		waitUntil(t, 5*time.Second, func() bool {
			for _, m := range ms {
				i := slices.IndexFunc(m.Members(), func(n Node) bool { return n.Name == "m2" })
				if i < 0 || string(m.Members()[i].Meta) != "v2" {
					return false
				}
			}
			return true
		}, "metadata update seen by all")

		m2 := ms[0].Members()[slices.IndexFunc(ms[0].Members(), func(n Node) bool { return n.Name == "m2" })]
		require.NoError(t, ms[0].SendBestEffort(m2, []byte("datagram")))
		require.NoError(t, ms[0].SendReliable(m2, []byte("stream")))
		ms[2].rec.mu.Lock()
		ms[2].rec.bq.QueueBroadcast("", []byte("broadcast"), nil)
		ms[2].rec.mu.Unlock()
		waitUntil(t, 5*time.Second, func() bool {
			got := ms[1].rec.messages()
			return slices.Contains(got, "datagram") && slices.Contains(got, "stream") && slices.Contains(got, "broadcast")
		}, "best-effort, reliable and broadcast user messages delivered")

		require.NoError(t, ms[2].Leave(5*time.Second))
		waitUntil(t, 5*time.Second, func() bool { return ms[0].rec.sawLeft("m3") && ms[1].rec.sawLeft("m3") },
			"the leave is seen as left")
		require.NoError(t, ms[2].Shutdown())

		require.NoError(t, ms[1].Shutdown(), "m2 crashes")
		waitUntil(t, 30*time.Second, func() bool { return ms[0].NumMembers() == 1 }, "the crash is detected")
		require.NoError(t, ms[0].Shutdown())
	})
}

// memberlist #23, #237, #306: calling back into the API from callbacks must neither deadlock
// nor race.
func TestCallbacksMayCallTheAPI(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		network := NewMemNetwork()
		a, b := startMember(t, network, 1), startMember(t, network, 2)
		done := make(chan struct{}, 8)
		a.rec.setOnJoin(func(n Node) {
			_ = a.Members()
			_ = a.LocalNode()
			_, _ = a.Join([]string{b.LocalNode().Address()})
			_ = a.UpdateNode(time.Second)
			_ = a.SendReliable(n, []byte("hello from a callback"))
			_ = a.Drops()
			done <- struct{}{}
		})
		b.rec.setOnMsg(func([]byte) {
			_ = b.Members()
			_ = b.SendBestEffort(a.LocalNode(), []byte("reply"))
			done <- struct{}{}
		})
		_, err := b.Join([]string{a.LocalNode().Address()})
		require.NoError(t, err)
		for range 2 {
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("a callback calling the API did not finish: deadlock")
			}
		}
		require.NoError(t, a.Shutdown())
		require.NoError(t, b.Shutdown())
	})
}

func TestJoinErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		network := NewMemNetwork()
		a := startMember(t, network, 1)
		_, err := a.Join([]string{"10.9.9.9:7946"})
		require.ErrorIs(t, err, ErrJoinFailed, "nobody listens there")
		_, err = a.Join(nil)
		require.ErrorIs(t, err, ErrNoSeeds)

		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err = a.JoinContext(ctx, []string{"10.9.9.9:7946"})
		require.ErrorIs(t, err, context.Canceled)

		require.NoError(t, a.Shutdown())
		require.NoError(t, a.Shutdown(), "Shutdown is idempotent")
		_, err = a.Join([]string{"10.9.9.9:7946"})
		require.ErrorIs(t, err, ErrNotRunning)
		require.ErrorIs(t, a.Leave(time.Second), ErrNotRunning)
		require.ErrorIs(t, a.UpdateNode(time.Second), ErrNotRunning)
		require.ErrorIs(t, a.SendReliable(Node{Name: "x"}, []byte("x")), ErrNotRunning)
		require.ErrorIs(t, a.SendBestEffort(Node{Name: "x"}, []byte("x")), ErrNotRunning)
	})
}

func TestCreateRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		field  string
		break_ func(*Config)
	}{
		{"Name", func(c *Config) { c.Name = "" }},
		{"ProbeTimeout", func(c *Config) { c.ProbeTimeout = 0 }},
		{"ProtocolVersion", func(c *Config) { c.ProtocolVersion = 9 }},
		{"UDPBufferSize", func(c *Config) { c.UDPBufferSize = 10 }},
		{"AdvertiseAddr", func(c *Config) { c.AdvertiseAddr = "not-an-ip" }},
	} {
		cfg := DefaultLANConfig()
		cfg.Name = "x"
		tc.break_(cfg)
		_, err := Create(cfg)
		require.ErrorIs(t, err, ErrInvalidConfig, tc.field)
		var ce *ConfigError
		require.True(t, errors.As(err, &ce), tc.field)
		require.Equal(t, tc.field, ce.Field)
	}
}
