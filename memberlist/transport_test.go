package memberlist

import (
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// startOn creates a member over transport t.
func startOn(t *testing.T, name string, tr Transport) (*Memberlist, *app) {
	t.Helper()
	a := &app{name: name, callback: map[string]int{}}
	conf := DefaultLocalConfig()
	conf.Name = name
	conf.Transport = tr
	conf.Delegate, conf.Events = a, a
	conf.LogOutput = testWriter{t}
	m, err := Create(conf)
	require.NoError(t, err)
	a.ml = func() *Memberlist { return m }
	a.queue = TransmitLimitedQueue{NumNodes: m.NumMembers, RetransmitMult: conf.RetransmitMult}
	t.Cleanup(func() { m.Shutdown() })
	return m, a
}

// Three members on a MockNetwork find each other, and a member that shuts down is found dead.
func TestMockNetwork(t *testing.T) {
	var network MockNetwork
	a, _ := startOn(t, "a", network.NewTransport("a"))
	b, _ := startOn(t, "b", network.NewTransport("b"))
	c, appC := startOn(t, "c", network.NewTransport("c"))
	for _, m := range []*Memberlist{b, c} {
		_, err := m.Join([]string{a.LocalNode().Address()})
		require.NoError(t, err)
	}
	for _, m := range []*Memberlist{a, b, c} {
		eventually(t, func() bool { return m.NumMembers() == 3 }, m.config.Name+" sees all three")
	}
	require.NoError(t, b.Shutdown())
	eventually(t, func() bool { return appC.saw("leave b") }, "c finds b dead")
}

// A NetTransport on two addresses: members reach it on either.
func TestNetTransportSeveralAddresses(t *testing.T) {
	nt, err := NewNetTransport(&NetTransportConfig{BindAddrs: []string{"127.0.0.1", "127.0.0.2"}, BindPort: 0})
	require.NoError(t, err)
	port := nt.GetAutoBindPort()
	require.NotZero(t, port)
	a, _ := startOn(t, "a", nt)
	require.Equal(t, "127.0.0.1", a.LocalNode().Addr.String(), "advertises the first address")

	b, _ := start(t, "b", false)
	_, err = b.Join([]string{"a/127.0.0.2:" + itoa(port)})
	require.NoError(t, err, "joined through the second address")
	eventually(t, func() bool { return a.NumMembers() == 2 && b.NumMembers() == 2 }, "both see each other")
}

func itoa(i int) string { return strconv.Itoa(i) }

// namedTransport is an application's NodeAwareTransport that records the names it is given.
type namedTransport struct {
	*MockTransport
	mu    sync.Mutex
	names map[string]bool
}

func (n *namedTransport) WriteToAddress(b []byte, a Address) (time.Time, error) {
	n.mu.Lock()
	n.names[a.Name] = true
	n.mu.Unlock()
	return n.MockTransport.WriteToAddress(b, a)
}

func (n *namedTransport) DialAddressTimeout(a Address, timeout time.Duration) (net.Conn, error) {
	n.mu.Lock()
	n.names[a.Name] = true
	n.mu.Unlock()
	return n.MockTransport.DialAddressTimeout(a, timeout)
}

// A NodeAwareTransport is told whom each packet and stream is for, the join's included.
func TestNodeAwareTransportGetsNames(t *testing.T) {
	var network MockNetwork
	a, _ := startOn(t, "a", network.NewTransport("a"))
	nt := &namedTransport{MockTransport: network.NewTransport("b"), names: map[string]bool{}}
	b, _ := startOn(t, "b", nt)
	_, err := b.Join([]string{"a/" + a.LocalNode().Address()})
	require.NoError(t, err)
	eventually(t, func() bool {
		nt.mu.Lock()
		defer nt.mu.Unlock()
		return nt.names["a"]
	}, "b's transport was told a's name")
}
