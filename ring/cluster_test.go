package ring_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/swim-go/swim"
	"github.com/swim-go/swim/ring"
)

// member is one swim member with a ring installed as its event delegate, next to a channel
// the test reads to know when events have been delivered.
type member struct {
	m      *swim.Memberlist
	ring   *ring.Ring
	events chan swim.NodeEvent
}

func startMember(t *testing.T, network *swim.MemNetwork, name, ip string) *member {
	t.Helper()
	tr, err := network.NewTransport(netip.MustParseAddrPort(ip + ":7946"))
	require.NoError(t, err)
	mb := &member{ring: ring.New(ring.Config{}), events: make(chan swim.NodeEvent, 64)}
	cfg := swim.DefaultLocalConfig()
	cfg.Name = name
	cfg.Transport = tr
	cfg.Events = swim.EventDelegates{mb.ring, &swim.ChannelEventDelegate{Ch: mb.events}}
	mb.m, err = swim.Create(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { mb.m.Shutdown() })
	return mb
}

// await reads events until want(e) holds. The ring saw each event before the channel did,
// so after await and Sync the ring holds it.
func (mb *member) await(t *testing.T, why string, want func(swim.NodeEvent) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e := <-mb.events:
			if want(e) {
				mb.ring.Sync()
				return
			}
		case <-deadline:
			t.Fatalf("%s: not seen in 10 s", why)
		}
	}
}

// Installed as cfg.Events, the ring follows the member's own view: every member's ring
// holds the whole cluster, themselves included, and they agree; a member that leaves is
// gone from the others' rings.
func TestRingFollowsMembership(t *testing.T) {
	network := swim.NewMemNetwork()
	a := startMember(t, network, "alpha", "10.0.0.1")
	b := startMember(t, network, "beta", "10.0.0.2")
	c := startMember(t, network, "gamma", "10.0.0.3")
	for _, mb := range []*member{b, c} {
		_, err := mb.m.Join([]string{a.m.LocalNode().Address()})
		require.NoError(t, err)
	}
	for _, mb := range []*member{a, b, c} {
		seen := map[string]bool{}
		mb.await(t, mb.m.LocalNode().Name+" hears of all three", func(e swim.NodeEvent) bool {
			if e.Type == swim.EventJoin {
				seen[e.Node.Name] = true
			}
			return len(seen) == 3
		})
		require.Equal(t, []string{"alpha", "beta", "gamma"}, nodeNames(mb.ring.Members()), "each ring holds the cluster, its own member included")
	}
	require.Equal(t, a.ring.Checksum(), b.ring.Checksum(), "the rings agree")
	require.Equal(t, a.ring.Checksum(), c.ring.Checksum(), "the rings agree")

	require.NoError(t, c.m.Leave(time.Second))
	for _, mb := range []*member{a, b} {
		mb.await(t, mb.m.LocalNode().Name+" hears gamma leave", func(e swim.NodeEvent) bool {
			return e.Type == swim.EventLeave && e.Node.Name == "gamma"
		})
		require.Equal(t, []string{"alpha", "beta"}, nodeNames(mb.ring.Members()), "gamma left the ring")
	}
	require.Equal(t, a.ring.Checksum(), b.ring.Checksum(), "and the rings agree again")
}

func nodeNames(nodes []swim.Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.Name
	}
	return out
}
