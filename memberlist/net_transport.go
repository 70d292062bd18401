package memberlist

import (
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-metrics"
	"github.com/swim-go/swim"
)

// NetTransportConfig configures a NetTransport.
type NetTransportConfig struct {
	// BindAddrs are the addresses to listen on, UDP and TCP, each on BindPort. Packets are
	// sent from the first.
	BindAddrs []string
	// BindPort is the port; 0 picks one free on every address.
	BindPort int
	// Logger receives the transport's log lines; nil means standard error.
	Logger *log.Logger
	// MetricLabels go with the transport's metrics.
	MetricLabels []metrics.Label
}

// NetTransport is the UDP and TCP transport, listening on one or more addresses. Create uses
// one on Config.BindAddr when Config.Transport is nil.
type NetTransport struct {
	listeners []*swim.NetTransport
	packetCh  chan *Packet
	streamCh  chan net.Conn
	stop      chan struct{}
	wg        sync.WaitGroup
	once      sync.Once
}

var (
	_ NodeAwareTransport      = (*NetTransport)(nil)
	_ IngestionAwareTransport = (*NetTransport)(nil)
)

// NewNetTransport listens on every one of config.BindAddrs.
func NewNetTransport(config *NetTransportConfig) (*NetTransport, error) {
	if len(config.BindAddrs) == 0 {
		return nil, errors.New("at least one bind address is required")
	}
	out := config.Logger
	if out == nil {
		out = log.Default()
	}
	logger := slog.New(&logHandler{out: out})
	t := &NetTransport{packetCh: make(chan *Packet), streamCh: make(chan net.Conn), stop: make(chan struct{})}
	port := config.BindPort
	for _, addr := range config.BindAddrs {
		l, err := swim.NewNetTransport(addr, port, 1024, logger)
		if err != nil {
			t.Shutdown()
			return nil, fmt.Errorf("failed to start listeners on %s:%d: %w", addr, port, err)
		}
		t.listeners = append(t.listeners, l)
		// With port 0 the first address picks a free port and the others take the same.
		port = int(l.BoundAddr().Port())
	}
	for _, l := range t.listeners {
		t.wg.Add(2)
		go t.movePackets(l)
		go t.moveStreams(l)
	}
	return t, nil
}

func (t *NetTransport) movePackets(l *swim.NetTransport) {
	defer t.wg.Done()
	for {
		select {
		case p, ok := <-l.PacketCh():
			if !ok {
				return
			}
			from := net.UDPAddrFromAddrPort(p.From)
			select {
			case t.packetCh <- &Packet{Buf: p.Buf, From: from, Timestamp: p.Timestamp}:
			case <-t.stop:
				return
			}
		case <-t.stop:
			return
		}
	}
}

func (t *NetTransport) moveStreams(l *swim.NetTransport) {
	defer t.wg.Done()
	for {
		select {
		case c, ok := <-l.StreamCh():
			if !ok {
				return
			}
			select {
			case t.streamCh <- c:
			case <-t.stop:
				c.Close()
				return
			}
		case <-t.stop:
			return
		}
	}
}

// GetAutoBindPort returns the port the transport listens on: BindPort, or the one picked.
func (t *NetTransport) GetAutoBindPort() int { return int(t.listeners[0].BoundAddr().Port()) }

// FinalAdvertiseAddr returns ip:port if ip is set, else the first bound address (or, bound
// to all addresses, a private address of this host) and the bound port.
func (t *NetTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	a, p, err := t.listeners[0].FinalAdvertiseAddr(ip, port)
	if err != nil {
		return nil, 0, err
	}
	return net.IP(a.AsSlice()), p, nil
}

// WriteTo sends one datagram to host:port.
func (t *NetTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	ap, err := resolveAddrPort(addr)
	if err != nil {
		return time.Time{}, err
	}
	return t.listeners[0].WriteTo(b, ap)
}

// WriteToAddress is WriteTo; the name is not needed to reach a member over UDP.
func (t *NetTransport) WriteToAddress(b []byte, a Address) (time.Time, error) {
	return t.WriteTo(b, a.Addr)
}

// PacketCh delivers the datagrams received on every address.
func (t *NetTransport) PacketCh() <-chan *Packet { return t.packetCh }

// DialTimeout opens a TCP stream to host:port.
func (t *NetTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	ap, err := resolveAddrPort(addr)
	if err != nil {
		return nil, err
	}
	return t.listeners[0].DialTimeout(ap, timeout)
}

// DialAddressTimeout is DialTimeout; the name is not needed to reach a member over TCP.
func (t *NetTransport) DialAddressTimeout(a Address, timeout time.Duration) (net.Conn, error) {
	return t.DialTimeout(a.Addr, timeout)
}

// StreamCh delivers the streams accepted on every address.
func (t *NetTransport) StreamCh() <-chan net.Conn { return t.streamCh }

// IngestPacket reads a whole datagram from conn (which the application accepted itself) and
// delivers it as if it had arrived from addr at now.
func (t *NetTransport) IngestPacket(conn net.Conn, addr net.Addr, now time.Time, shouldClose bool) error {
	return ingestPacket(t.packetCh, t.stop, conn, addr, now, shouldClose)
}

// IngestStream delivers a stream the application accepted itself.
func (t *NetTransport) IngestStream(conn net.Conn) error {
	return ingestStream(t.streamCh, t.stop, conn)
}

// Shutdown closes every listener.
func (t *NetTransport) Shutdown() error {
	t.once.Do(func() {
		close(t.stop)
		for _, l := range t.listeners {
			l.Shutdown()
		}
		t.wg.Wait()
	})
	return nil
}
