package swim

// The default transport: UDP datagrams and TCP streams on one port, as memberlist does. A
// goroutine reads the UDP socket and hands each datagram, stamped with its arrival time, to
// the loop through a bounded queue (a full queue drops the datagram and counts it: a flood
// must not grow memory); another accepts TCP connections. Nothing here knows the protocol.

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// udpPacketBufSize is the largest datagram read: memberlist accepts anything up to 64 KiB.
const udpPacketBufSize = 65536

// udpSocketBuffer is the receive buffer asked of the kernel, so that a burst of gossip is not
// lost while the loop is busy. The kernel may grant less.
const udpSocketBuffer = 2 << 20

// ErrTransportClosed is returned by a NetTransport after Shutdown.
var ErrTransportClosed = errors.New("swim: transport closed")

// NetTransport is the UDP/TCP Transport. Create uses one when Config.Transport is nil.
type NetTransport struct {
	log      *slog.Logger
	udp      *net.UDPConn
	tcp      *net.TCPListener
	packetCh chan *Packet
	streamCh chan net.Conn
	closed   atomic.Bool
	done     chan struct{}
	wg       sync.WaitGroup
	dropped  atomic.Uint64
	// Set by the member that owns the transport (handOff): datagrams and accepted
	// connections go to these, not to packetCh and streamCh.
	packetHandler atomic.Pointer[func(*Packet)]
	streamHandler atomic.Pointer[func(net.Conn)]
}

// NewNetTransport binds UDP and TCP on bindAddr:bindPort. Port 0 picks a free port that is
// free for both. queueDepth bounds the datagrams waiting for the loop.
func NewNetTransport(bindAddr string, bindPort, queueDepth int, log *slog.Logger) (*NetTransport, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ip, err := netip.ParseAddr(bindAddr)
	if err != nil {
		return nil, fmt.Errorf("swim: bind address %q: %w", bindAddr, err)
	}
	var (
		tcp *net.TCPListener
		udp *net.UDPConn
	)
	// With port 0 the TCP port the kernel picks may be taken for UDP; try a few.
	for attempt := 0; ; attempt++ {
		tcp, err = net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(bindPort))))
		if err != nil {
			return nil, fmt.Errorf("swim: listen tcp: %w", err)
		}
		port := tcp.Addr().(*net.TCPAddr).AddrPort().Port()
		udp, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, port)))
		if err == nil {
			break
		}
		tcp.Close()
		if bindPort != 0 || attempt >= 10 {
			return nil, fmt.Errorf("swim: listen udp: %w", err)
		}
	}
	if err := udp.SetReadBuffer(udpSocketBuffer); err != nil {
		log.Debug("could not size the UDP receive buffer", "error", err)
	}
	t := &NetTransport{
		log:      log,
		udp:      udp,
		tcp:      tcp,
		packetCh: make(chan *Packet, max(queueDepth, 1)),
		streamCh: make(chan net.Conn),
		done:     make(chan struct{}),
	}
	t.wg.Add(2)
	go t.readPackets()
	go t.acceptStreams()
	return t, nil
}

// BoundAddr returns the address and port the transport listens on.
func (t *NetTransport) BoundAddr() netip.AddrPort {
	return t.tcp.Addr().(*net.TCPAddr).AddrPort()
}

// FinalAdvertiseAddr returns the address to advertise: the configured one, else the bound
// one, else (bound to the unspecified address) the first private address of this host, else
// its first non-loopback address, else loopback. Port 0 means the bound port.
func (t *NetTransport) FinalAdvertiseAddr(ip string, port int) (netip.Addr, int, error) {
	if port == 0 {
		port = int(t.BoundAddr().Port())
	}
	if ip != "" {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return netip.Addr{}, 0, fmt.Errorf("swim: advertise address %q: %w", ip, err)
		}
		return a.Unmap(), port, nil
	}
	bound := t.BoundAddr().Addr().Unmap()
	if !bound.IsUnspecified() {
		return bound, port, nil
	}
	a, err := hostAddr()
	if err != nil {
		return netip.Addr{}, 0, err
	}
	return a, port, nil
}

// hostAddr picks an address of this host to advertise.
func hostAddr() (netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("swim: listing interface addresses: %w", err)
	}
	var public, loopback netip.Addr
	for _, a := range addrs {
		pfx, err := netip.ParsePrefix(a.String())
		if err != nil {
			continue
		}
		ip := pfx.Addr().Unmap()
		switch {
		case ip.IsPrivate() && ip.Is4():
			return ip, nil
		case ip.IsLoopback():
			if !loopback.IsValid() {
				loopback = ip
			}
		case ip.IsGlobalUnicast() && !public.IsValid():
			public = ip
		}
	}
	if public.IsValid() {
		return public, nil
	}
	if loopback.IsValid() {
		return loopback, nil
	}
	return netip.Addr{}, errors.New("swim: no address to advertise; set AdvertiseAddr")
}

// WriteTo sends one datagram.
func (t *NetTransport) WriteTo(b []byte, addr netip.AddrPort) (time.Time, error) {
	if t.closed.Load() {
		return time.Time{}, ErrTransportClosed
	}
	_, err := t.udp.WriteToUDPAddrPort(b, addr)
	return time.Now(), err
}

// PacketCh delivers received datagrams.
func (t *NetTransport) PacketCh() <-chan *Packet { return t.packetCh }

// DialTimeout opens a TCP stream.
func (t *NetTransport) DialTimeout(addr netip.AddrPort, timeout time.Duration) (net.Conn, error) {
	if t.closed.Load() {
		return nil, ErrTransportClosed
	}
	d := net.Dialer{Timeout: timeout}
	// Bound to one address, streams leave from it too, so the peer (and any firewall
	// between) sees the member at the address it advertises; the kernel would otherwise
	// pick the source by route, another address on a multi-homed host.
	if bound := t.BoundAddr().Addr(); !bound.IsUnspecified() {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(bound, 0))
	}
	return d.Dial("tcp", addr.String())
}

// StreamCh delivers accepted TCP streams.
func (t *NetTransport) StreamCh() <-chan net.Conn { return t.streamCh }

// DroppedPackets counts datagrams dropped because the loop's queue was full.
func (t *NetTransport) DroppedPackets() uint64 { return t.dropped.Load() }

// Shutdown closes both sockets and waits for the reading goroutines to end.
func (t *NetTransport) Shutdown() error {
	if t.closed.Swap(true) {
		return nil
	}
	close(t.done)
	err := errors.Join(t.udp.Close(), t.tcp.Close())
	t.wg.Wait()
	return err
}

func (t *NetTransport) readPackets() {
	defer t.wg.Done()
	buf := make([]byte, udpPacketBufSize)
	for {
		n, from, err := t.udp.ReadFromUDPAddrPort(buf)
		now := time.Now()
		if err != nil {
			if t.closed.Load() {
				return
			}
			t.log.Debug("udp read failed", "error", err)
			continue
		}
		if n == 0 {
			continue
		}
		p := &Packet{Buf: append([]byte(nil), buf[:n]...), From: netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), Timestamp: now}
		if h := t.packetHandler.Load(); h != nil {
			(*h)(p)
			continue
		}
		select {
		case t.packetCh <- p:
		default:
			t.dropped.Add(1)
		}
	}
}

// handOff makes the reading goroutine give each datagram to packets, in order, instead of
// queueing it on PacketCh, and the accepting goroutine give each connection to streams
// instead of StreamCh: the member that owns this transport then takes each on the spot.
func (t *NetTransport) handOff(packets func(*Packet), streams func(net.Conn)) {
	t.packetHandler.Store(&packets)
	t.streamHandler.Store(&streams)
}

func (t *NetTransport) acceptStreams() {
	defer t.wg.Done()
	for {
		conn, err := t.tcp.Accept()
		if err != nil {
			if t.closed.Load() {
				return
			}
			t.log.Debug("tcp accept failed", "error", err)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			time.Sleep(5 * time.Millisecond) // back off on e.g. EMFILE rather than spin
			continue
		}
		if h := t.streamHandler.Load(); h != nil {
			(*h)(conn)
			continue
		}
		select {
		case t.streamCh <- conn:
		case <-t.done:
			conn.Close()
			return
		}
	}
}
