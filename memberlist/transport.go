package memberlist

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/swim-go/swim"
)

// Packet is one datagram a Transport received.
type Packet struct {
	// Buf is the datagram; the receiver owns it from now on.
	Buf []byte
	// From is where it came from, as the network saw it.
	From net.Addr
	// Timestamp is when it arrived, taken as close to the socket as possible.
	Timestamp time.Time
}

// Transport carries a member's packets (unreliable datagrams) and streams (reliable
// connections). Give one in Config.Transport to run over something other than UDP and TCP
// (a TLS tunnel, a mesh); nil means a NetTransport.
type Transport interface {
	// FinalAdvertiseAddr resolves the address to advertise from the configured one (empty
	// and 0: whatever the transport is bound to).
	FinalAdvertiseAddr(ip string, port int) (net.IP, int, error)
	// WriteTo sends one datagram to host:port and returns when it was sent.
	WriteTo(b []byte, addr string) (time.Time, error)
	// PacketCh delivers received datagrams.
	PacketCh() <-chan *Packet
	// DialTimeout opens a stream to host:port.
	DialTimeout(addr string, timeout time.Duration) (net.Conn, error)
	// StreamCh delivers accepted streams.
	StreamCh() <-chan net.Conn
	// Shutdown closes everything.
	Shutdown() error
}

// NodeAwareTransport is a Transport that is also given the name of the member a packet or
// stream is for, so it can route by name.
type NodeAwareTransport interface {
	Transport
	WriteToAddress(b []byte, addr Address) (time.Time, error)
	DialAddressTimeout(addr Address, timeout time.Duration) (net.Conn, error)
}

// IngestionAwareTransport lets an application hand a transport packets and streams it
// accepted itself. Deprecated in memberlist, which never calls it; neither does this package.
type IngestionAwareTransport interface {
	IngestPacket(conn net.Conn, addr net.Addr, now time.Time, shouldClose bool) error
	IngestStream(conn net.Conn) error
}

// transportAdapter runs swim over an application's Transport: it converts addresses between
// memberlist's strings and swim's netip values, and moves received packets across.
type transportAdapter struct {
	t       Transport
	packets chan *swim.Packet
	stop    chan struct{}
	done    sync.WaitGroup
	once    sync.Once
}

func newTransportAdapter(t Transport) *transportAdapter {
	a := &transportAdapter{t: t, packets: make(chan *swim.Packet), stop: make(chan struct{})}
	a.done.Add(1)
	go a.movePackets()
	return a
}

func (a *transportAdapter) movePackets() {
	defer a.done.Done()
	for {
		select {
		case p, ok := <-a.t.PacketCh():
			if !ok {
				return
			}
			sp := &swim.Packet{Buf: p.Buf, From: addrPortOf(p.From), Timestamp: p.Timestamp}
			select {
			case a.packets <- sp:
			case <-a.stop:
				return
			}
		case <-a.stop:
			return
		}
	}
}

func (a *transportAdapter) FinalAdvertiseAddr(ip string, port int) (netip.Addr, int, error) {
	addr, p, err := a.t.FinalAdvertiseAddr(ip, port)
	if err != nil {
		return netip.Addr{}, 0, err
	}
	na, ok := netip.AddrFromSlice(addr)
	if !ok {
		return netip.Addr{}, 0, &net.AddrError{Err: "transport advertised no valid IP", Addr: addr.String()}
	}
	return na.Unmap(), p, nil
}

func (a *transportAdapter) WriteTo(b []byte, addr netip.AddrPort) (time.Time, error) {
	return a.t.WriteTo(b, addr.String())
}

func (a *transportAdapter) PacketCh() <-chan *swim.Packet { return a.packets }

func (a *transportAdapter) DialTimeout(addr netip.AddrPort, timeout time.Duration) (net.Conn, error) {
	return a.t.DialTimeout(addr.String(), timeout)
}

func (a *transportAdapter) StreamCh() <-chan net.Conn { return a.t.StreamCh() }

func (a *transportAdapter) Shutdown() error {
	var err error
	a.once.Do(func() {
		close(a.stop)
		err = a.t.Shutdown()
		a.done.Wait()
	})
	return err
}

// namedTransportAdapter is a transportAdapter over a NodeAwareTransport.
type namedTransportAdapter struct {
	*transportAdapter
	named NodeAwareTransport
}

func (a namedTransportAdapter) WriteToAddress(b []byte, addr netip.AddrPort, name string) (time.Time, error) {
	return a.named.WriteToAddress(b, Address{Addr: addr.String(), Name: name})
}

func (a namedTransportAdapter) DialAddressTimeout(addr netip.AddrPort, name string, timeout time.Duration) (net.Conn, error) {
	return a.named.DialAddressTimeout(Address{Addr: addr.String(), Name: name}, timeout)
}

// adaptTransport gives swim the application's transport.
func adaptTransport(t Transport) swim.Transport {
	a := newTransportAdapter(t)
	if named, ok := t.(NodeAwareTransport); ok {
		return namedTransportAdapter{transportAdapter: a, named: named}
	}
	return a
}

// addrPortOf converts a net.Addr (a *net.UDPAddr, *net.TCPAddr, or anything whose String is
// host:port) to swim's form; the zero value when it is none of these.
func addrPortOf(a net.Addr) netip.AddrPort {
	switch v := a.(type) {
	case *net.UDPAddr:
		ap := v.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	case *net.TCPAddr:
		ap := v.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	case nil:
		return netip.AddrPort{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// ingestPacket reads a whole datagram from conn, which an application accepted itself, and
// hands it to packetCh as if it had arrived from addr at now (IngestionAwareTransport).
func ingestPacket(packetCh chan<- *Packet, stop <-chan struct{}, conn net.Conn, addr net.Addr, now time.Time, shouldClose bool) error {
	if shouldClose {
		defer conn.Close()
	}
	buf, err := io.ReadAll(io.LimitReader(conn, 65536))
	if err != nil {
		return fmt.Errorf("failed to read packet: %w", err)
	}
	if len(buf) == 0 {
		return fmt.Errorf("packet too short (0 bytes) %s", LogAddress(addr))
	}
	select {
	case packetCh <- &Packet{Buf: buf, From: addr, Timestamp: now}:
		return nil
	case <-stop:
		return swim.ErrNotRunning
	}
}

// ingestStream hands a stream an application accepted itself to streamCh.
func ingestStream(streamCh chan<- net.Conn, stop <-chan struct{}, conn net.Conn) error {
	select {
	case streamCh <- conn:
		return nil
	case <-stop:
		return swim.ErrNotRunning
	}
}
