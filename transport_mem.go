package swim

// An in-memory Transport: members in one process exchange packets over channels and streams
// over net.Pipe. Tests use it (it runs under testing/synctest, with no real sockets), and so
// can applications that want several members in one process.

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"
)

// ErrConnRefused is returned when dialing an in-memory address nobody listens on. It wraps
// syscall.ECONNREFUSED.
var ErrConnRefused = fmt.Errorf("swim: in-memory connection refused: %w", syscall.ECONNREFUSED)

// MemNetwork connects in-memory transports by address.
type MemNetwork struct {
	mu    sync.Mutex
	nodes map[netip.AddrPort]*MemTransport
}

// NewMemNetwork returns an empty in-memory network.
func NewMemNetwork() *MemNetwork {
	return &MemNetwork{nodes: make(map[netip.AddrPort]*MemTransport)}
}

// memQueueDepth is how many packets an in-memory transport holds for its member.
const memQueueDepth = 1024

// NewTransport attaches a transport at addr.
func (n *MemNetwork) NewTransport(addr netip.AddrPort) (*MemTransport, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.nodes[addr]; ok {
		return nil, fmt.Errorf("swim: in-memory address %s is taken", addr)
	}
	t := &MemTransport{net: n, addr: addr, packetCh: make(chan *Packet, memQueueDepth),
		streamCh: make(chan net.Conn), closed: make(chan struct{})}
	n.nodes[addr] = t
	return t, nil
}

func (n *MemNetwork) lookup(addr netip.AddrPort) *MemTransport {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.nodes[addr]
}

// MemTransport is one member's attachment to a MemNetwork.
type MemTransport struct {
	net      *MemNetwork
	addr     netip.AddrPort
	packetCh chan *Packet
	streamCh chan net.Conn
	closed   chan struct{}
	once     sync.Once
}

// FinalAdvertiseAddr returns the transport's own address unless another is configured.
func (t *MemTransport) FinalAdvertiseAddr(ip string, port int) (netip.Addr, int, error) {
	a := t.addr.Addr()
	if ip != "" {
		var err error
		if a, err = netip.ParseAddr(ip); err != nil {
			return netip.Addr{}, 0, err
		}
	}
	if port == 0 {
		port = int(t.addr.Port())
	}
	return a, port, nil
}

// WriteTo delivers a copy of b to the transport at addr, if there is one with room, as UDP
// would: silently dropped otherwise.
func (t *MemTransport) WriteTo(b []byte, addr netip.AddrPort) (time.Time, error) {
	now := time.Now()
	select {
	case <-t.closed:
		return now, ErrTransportClosed
	default:
	}
	dst := t.net.lookup(addr)
	if dst == nil {
		return now, nil
	}
	p := &Packet{Buf: append([]byte(nil), b...), From: t.addr, Timestamp: now}
	select {
	case <-dst.closed:
	case dst.packetCh <- p:
	default:
	}
	return now, nil
}

// PacketCh delivers received packets.
func (t *MemTransport) PacketCh() <-chan *Packet { return t.packetCh }

// StreamCh delivers accepted streams.
func (t *MemTransport) StreamCh() <-chan net.Conn { return t.streamCh }

// DialTimeout connects to the transport at addr.
func (t *MemTransport) DialTimeout(addr netip.AddrPort, timeout time.Duration) (net.Conn, error) {
	dst := t.net.lookup(addr)
	if dst == nil {
		return nil, ErrConnRefused
	}
	a, b := net.Pipe()
	local, remote := &memConn{a, t.addr, addr}, &memConn{b, addr, t.addr}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case dst.streamCh <- remote:
		return local, nil
	case <-dst.closed:
	case <-t.closed:
	case <-timer.C:
		a.Close()
		b.Close()
		return nil, fmt.Errorf("swim: in-memory dial %s: %w", addr, errTimeout)
	}
	a.Close()
	b.Close()
	return nil, ErrConnRefused
}

var errTimeout = errors.New("i/o timeout")

// Shutdown detaches the transport; its address becomes free.
func (t *MemTransport) Shutdown() error {
	t.once.Do(func() {
		close(t.closed)
		t.net.mu.Lock()
		delete(t.net.nodes, t.addr)
		t.net.mu.Unlock()
	})
	return nil
}

// memConn is a pipe end that knows the addresses it connects.
type memConn struct {
	net.Conn
	local, remote netip.AddrPort
}

func (c *memConn) LocalAddr() net.Addr  { return net.TCPAddrFromAddrPort(c.local) }
func (c *memConn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(c.remote) }
