package swim

import (
	"net"
	"net/netip"
	"time"
)

// Packet is one datagram received by a Transport.
type Packet struct {
	Buf       []byte         // the datagram; owned by the receiver from now on
	From      netip.AddrPort // the sender's address as the network saw it
	Timestamp time.Time      // when it arrived, taken as close to the socket as possible
}

// Transport carries a member's packets (unreliable datagrams) and streams (one request and at
// most one reply per connection). The default is the UDP/TCP transport; tests use the
// in-memory one.
type Transport interface {
	// FinalAdvertiseAddr resolves the address to advertise, given the configured one (empty
	// and 0 mean "use what you are bound to").
	FinalAdvertiseAddr(ip string, port int) (netip.Addr, int, error)
	// WriteTo sends one datagram and returns when it was sent.
	WriteTo(b []byte, addr netip.AddrPort) (time.Time, error)
	// PacketCh delivers received datagrams.
	PacketCh() <-chan *Packet
	// DialTimeout opens a stream to addr.
	DialTimeout(addr netip.AddrPort, timeout time.Duration) (net.Conn, error)
	// StreamCh delivers accepted streams.
	StreamCh() <-chan net.Conn
	// Shutdown closes everything; the channels stop delivering.
	Shutdown() error
}

// NodeAwareTransport is a Transport that is also told which member a packet or stream is for,
// so that it can route by name (through a gateway, or a mesh that knows members by name).
// name is empty when this member does not know whom it is talking to (a join address without
// a name, a reply to a stranger).
type NodeAwareTransport interface {
	Transport
	WriteToAddress(b []byte, addr netip.AddrPort, name string) (time.Time, error)
	DialAddressTimeout(addr netip.AddrPort, name string, timeout time.Duration) (net.Conn, error)
}
