package swim

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/swim-go/swim/internal/wire"
)

// A real-socket check of the default transport on loopback: port 0 binds a free port for both
// UDP and TCP, the advertised port is the real one, a datagram and a stream get through, and
// Shutdown closes everything.
func TestNetTransportLoopback(t *testing.T) {
	for _, bind := range []string{"127.0.0.1", "::1"} {
		t.Run(bind, func(t *testing.T) {
			a, err := NewNetTransport(bind, 0, 16, nil)
			if err != nil && bind == "::1" {
				t.Skipf("no IPv6 loopback here: %v", err)
			}
			require.NoError(t, err)
			b, err := NewNetTransport(bind, 0, 16, nil)
			require.NoError(t, err)
			defer b.Shutdown()

			ip, port, err := a.FinalAdvertiseAddr("", 0)
			require.NoError(t, err)
			require.Equal(t, netip.MustParseAddr(bind), ip)
			require.NotZero(t, port)
			require.Equal(t, a.BoundAddr().Port(), uint16(port))

			_, err = b.WriteTo([]byte("ping"), netip.AddrPortFrom(ip, uint16(port)))
			require.NoError(t, err)
			select {
			case p := <-a.PacketCh():
				require.Equal(t, "ping", string(p.Buf))
				require.Equal(t, b.BoundAddr().Port(), p.From.Port())
			case <-time.After(5 * time.Second):
				t.Fatal("datagram not received on loopback")
			}

			conn, err := b.DialTimeout(netip.AddrPortFrom(ip, uint16(port)), time.Second)
			require.NoError(t, err)
			defer conn.Close()
			select {
			case in := <-a.StreamCh():
				in.Close()
			case <-time.After(5 * time.Second):
				t.Fatal("stream not accepted on loopback")
			}

			require.NoError(t, a.Shutdown())
			require.NoError(t, a.Shutdown(), "Shutdown is idempotent")
			_, err = a.WriteTo([]byte("x"), b.BoundAddr())
			require.ErrorIs(t, err, ErrTransportClosed)
		})
	}
}

// A transport bound to one address dials from it, so a stream's peer sees the member at the
// address it advertises (on Linux every 127/8 address is on loopback; elsewhere it skips).
func TestNetTransportDialsFromBoundAddress(t *testing.T) {
	a, err := NewNetTransport("127.0.0.2", 0, 16, nil)
	if err != nil {
		t.Skipf("127.0.0.2 is not a local address here: %v", err)
	}
	defer a.Shutdown()
	b, err := NewNetTransport("127.0.0.3", 0, 16, nil)
	require.NoError(t, err)
	defer b.Shutdown()

	conn, err := a.DialTimeout(b.BoundAddr(), time.Second)
	require.NoError(t, err)
	defer conn.Close()
	select {
	case in := <-b.StreamCh():
		defer in.Close()
		from := in.RemoteAddr().(*net.TCPAddr).AddrPort().Addr()
		require.Equal(t, netip.MustParseAddr("127.0.0.2"), from, "the stream leaves from the bound address")
	case <-time.After(5 * time.Second):
		t.Fatal("stream not accepted on loopback")
	}
}

// Two members on real loopback sockets, with the default transport: join, see each other,
// leave. The only runtime test on real sockets; the rest run in virtual time.
func TestMembersOnLoopback(t *testing.T) {
	events := make(chan NodeEvent, 8)
	start := func(name string, ev chan NodeEvent) *Memberlist {
		cfg := DefaultLocalConfig()
		cfg.Name = name
		cfg.BindAddr = "127.0.0.1"
		cfg.BindPort = 0
		if ev != nil {
			cfg.Events = &ChannelEventDelegate{Ch: ev}
		}
		m, err := Create(cfg)
		require.NoError(t, err)
		return m
	}
	a, b := start("a", events), start("b", nil)
	defer a.Shutdown()
	defer b.Shutdown()
	require.NotEqual(t, uint16(7946), a.LocalNode().Port, "port 0 binds a free port and advertises it")
	n, err := b.Join([]string{a.LocalNode().Address()})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, 2, b.NumMembers(), "Members() after Join shows what the join learnt")
	for e := range events {
		if e.Type == EventJoin && e.Node.Name == "b" {
			break
		}
	}
	require.Equal(t, 2, a.NumMembers())
	require.NoError(t, b.Leave(2*time.Second))
	for e := range events {
		if e.Type == EventLeave && e.Node.Name == "b" {
			require.Equal(t, StateLeft, e.Node.State)
			break
		}
	}
}

// The default transport's reader hands each datagram to the member itself rather than queueing
// it for the loop, so a burst larger than HandoffQueueDepth waits in the socket buffer and is
// answered in full, not dropped at the queue.
func TestBurstOfPingsIsAnsweredInFull(t *testing.T) {
	cfg := DefaultLocalConfig()
	cfg.Name, cfg.BindAddr, cfg.BindPort = "a", "127.0.0.1", 0
	cfg.HandoffQueueDepth = 1
	a, err := Create(cfg)
	require.NoError(t, err)
	defer a.Shutdown()

	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer conn.Close()
	to := net.UDPAddrFromAddrPort(a.LocalNode().AddrPort())
	// Kept well inside the default socket buffers (net.core.rmem_max, about 208 KiB: a
	// datagram takes about 1 KiB of it), on both sides.
	const burst = 100
	for i := range burst {
		p := wire.Ping{SeqNo: uint32(i + 1), Node: "a"}
		_, err := conn.WriteToUDP(p.Append(nil), to)
		require.NoError(t, err)
	}
	seen := map[uint32]bool{}
	buf := make([]byte, 1500)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for len(seen) < burst {
		n, _, err := conn.ReadFromUDP(buf)
		require.NoError(t, err, "acks received: %d of %d", len(seen), burst)
		require.Equal(t, wire.AckRespMsg, wire.MessageType(buf[0]), "a ping is answered with an ack")
		var ack wire.AckResp
		require.NoError(t, ack.Decode(buf[1:n]))
		seen[ack.SeqNo] = true
	}
	require.Zero(t, a.Drops()[DropQueueFull], "no datagram was dropped for a full queue")
}
