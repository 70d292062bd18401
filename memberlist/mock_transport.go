package memberlist

import (
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"
)

// MockNetwork connects MockTransports in one process, for tests: each NewTransport gets an
// address of its own on it, and packets and streams go straight to the transport they are
// addressed to (by name when the sender gives one, else by address).
type MockNetwork struct {
	mu     sync.Mutex
	byAddr map[string]*MockTransport
	byName map[string]*MockTransport
	port   int
}

// NewTransport returns a transport for the member named name, at a new address.
func (n *MockNetwork) NewTransport(name string) *MockTransport {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.byAddr == nil {
		n.byAddr, n.byName = map[string]*MockTransport{}, map[string]*MockTransport{}
	}
	n.port++
	addr := "127.0.0.1:" + strconv.Itoa(n.port)
	t := &MockTransport{net: n, addr: &MockAddress{addr: addr, name: name},
		packetCh: make(chan *Packet, 1024), streamCh: make(chan net.Conn, 64), stop: make(chan struct{})}
	n.byAddr[addr], n.byName[name] = t, t
	return t
}

func (n *MockNetwork) peer(a Address) (*MockTransport, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if t, ok := n.byName[a.Name]; ok && a.Name != "" {
		return t, nil
	}
	if t, ok := n.byAddr[a.Addr]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("no route to %s", a.String())
}

// MockAddress is a MockTransport's address: a net.Addr of network "mock".
type MockAddress struct {
	addr string
	name string
}

// Network returns "mock".
func (a *MockAddress) Network() string { return "mock" }

// String returns the address, host:port.
func (a *MockAddress) String() string { return a.addr }

// MockTransport is a Transport on a MockNetwork.
type MockTransport struct {
	net      *MockNetwork
	addr     *MockAddress
	packetCh chan *Packet
	streamCh chan net.Conn
	stop     chan struct{}
	once     sync.Once
}

var (
	_ NodeAwareTransport      = (*MockTransport)(nil)
	_ IngestionAwareTransport = (*MockTransport)(nil)
)

// FinalAdvertiseAddr returns the transport's own address, whatever is asked.
func (t *MockTransport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	host, portStr, err := net.SplitHostPort(t.addr.addr)
	if err != nil {
		return nil, 0, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, 0, err
	}
	return net.ParseIP(host), port, nil
}

// WriteTo sends a packet to the transport at addr.
func (t *MockTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, Address{Addr: addr})
}

// WriteToAddress sends a packet to the transport of a's name, or at a's address. A packet to
// a transport that is shut down, or whose queue is full, is lost, as on a network.
func (t *MockTransport) WriteToAddress(b []byte, a Address) (time.Time, error) {
	dest, err := t.net.peer(a)
	if err != nil {
		return time.Time{}, err
	}
	now := time.Now()
	select {
	case <-dest.stop:
	case dest.packetCh <- &Packet{Buf: append([]byte(nil), b...), From: t.addr, Timestamp: now}:
	default:
	}
	return now, nil
}

// PacketCh delivers the packets sent to this transport.
func (t *MockTransport) PacketCh() <-chan *Packet { return t.packetCh }

// IngestPacket reads a packet from conn and delivers it as if it came from addr.
func (t *MockTransport) IngestPacket(conn net.Conn, addr net.Addr, now time.Time, shouldClose bool) error {
	return ingestPacket(t.packetCh, t.stop, conn, addr, now, shouldClose)
}

// DialTimeout opens a stream to the transport at addr.
func (t *MockTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(Address{Addr: addr}, timeout)
}

// DialAddressTimeout opens a stream to the transport of a's name, or at a's address.
func (t *MockTransport) DialAddressTimeout(a Address, timeout time.Duration) (net.Conn, error) {
	dest, err := t.net.peer(a)
	if err != nil {
		return nil, err
	}
	local, remote := net.Pipe()
	select {
	case dest.streamCh <- mockConn{Conn: remote, from: t.addr}:
		return mockConn{Conn: local, from: dest.addr}, nil
	case <-dest.stop:
	case <-time.After(timeout):
	}
	local.Close()
	remote.Close()
	return nil, fmt.Errorf("dial %s: connection refused", a.String())
}

// mockConn is one end of a stream, whose RemoteAddr is the other end's transport.
type mockConn struct {
	net.Conn
	from *MockAddress
}

func (c mockConn) RemoteAddr() net.Addr { return c.from }

// StreamCh delivers the streams opened to this transport.
func (t *MockTransport) StreamCh() <-chan net.Conn { return t.streamCh }

// IngestStream delivers a stream as if it had been opened to this transport.
func (t *MockTransport) IngestStream(conn net.Conn) error {
	return ingestStream(t.streamCh, t.stop, conn)
}

// Shutdown takes the transport off the network.
func (t *MockTransport) Shutdown() error {
	t.once.Do(func() {
		close(t.stop)
		t.net.mu.Lock()
		if t.net.byAddr[t.addr.addr] == t {
			delete(t.net.byAddr, t.addr.addr)
		}
		if t.net.byName[t.addr.name] == t {
			delete(t.net.byName, t.addr.name)
		}
		t.net.mu.Unlock()
	})
	return nil
}
