package sim

// The trace: a running SHA-256 that fingerprints a run.
//
// Every delivered packet and stream is hashed when its handler is called, as a record of
// kind ('P' or 'S'), virtual time in nanoseconds, sender and receiver address (16-byte IP
// and port), length and content: a packet's bytes, a stream's SHA-256. A stream's is
// worked out on a goroutine of its own when the stream is sent (its bytes are not changed
// after that), since hashing a simulated cluster's push/pulls, up to a megabyte each, was a
// tenth of the run loop's time at 10,000 members. The driver adds its own records (kind 'R')
// with Record. Two runs with the same seed and the same calls give the same TraceSum; any
// difference in timing, order or content shows up in it.

import (
	"crypto/sha256"
	"encoding/binary"
	"net/netip"

	"github.com/swim-go/swim/internal/later"
)

// Record adds b to the trace.
func (n *Network) Record(b []byte) {
	h := n.scratch[:0]
	h = append(h, 'R')
	h = binary.BigEndian.AppendUint64(h, uint64(n.now))
	h = binary.BigEndian.AppendUint32(h, uint32(len(b)))
	n.trace.Write(h)
	n.trace.Write(b)
}

// TraceSum returns the hash of everything traced so far. It does not reset the trace.
func (n *Network) TraceSum() [32]byte {
	var sum [32]byte
	n.trace.Sum(sum[:0])
	return sum
}

// tracePacket adds one delivered packet to the trace.
func (n *Network) tracePacket(from, to int32, buf []byte) {
	n.trace.Write(n.transferHeader('P', from, to, len(buf)))
	n.trace.Write(buf)
}

// traceStream adds one delivered stream of size bytes to the trace, waiting for its digest.
func (n *Network) traceStream(from, to int32, size int, sum *later.Value[[sha256.Size]byte]) {
	digest := sum.Get()
	n.trace.Write(append(n.transferHeader('S', from, to, size), digest[:]...))
}

// transferHeader is a transfer record up to its content.
func (n *Network) transferHeader(kind byte, from, to int32, size int) []byte {
	h := n.scratch[:0]
	h = append(h, kind)
	h = binary.BigEndian.AppendUint64(h, uint64(n.now))
	h = appendAddr(h, n.hot[from].addr)
	h = appendAddr(h, n.hot[to].addr)
	return binary.BigEndian.AppendUint32(h, uint32(size))
}

// appendAddr appends the 16-byte form of a's IP and its port.
func appendAddr(b []byte, a netip.AddrPort) []byte {
	ip := a.Addr().As16()
	b = append(b, ip[:]...)
	return binary.BigEndian.AppendUint16(b, a.Port())
}
