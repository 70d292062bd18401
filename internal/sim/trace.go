package sim

// The trace: a running SHA-256 that fingerprints a run.
//
// Every delivered packet and stream is hashed when its handler is called, as a record of
// kind ('P' or 'S'), virtual time in nanoseconds, sender and receiver address (16-byte IP
// and port), length and bytes. The driver adds its own records (kind 'R') with Record. Two
// runs with the same seed and the same calls give the same TraceSum; any difference in
// timing, order or content shows up in it.

import (
	"encoding/binary"
	"net/netip"
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

// traceTransfer adds one delivered packet or stream to the trace.
func (n *Network) traceTransfer(kind byte, from, to int32, buf []byte) {
	h := n.scratch[:0]
	h = append(h, kind)
	h = binary.BigEndian.AppendUint64(h, uint64(n.now))
	h = appendAddr(h, n.hot[from].addr)
	h = appendAddr(h, n.hot[to].addr)
	h = binary.BigEndian.AppendUint32(h, uint32(len(buf)))
	n.trace.Write(h)
	n.trace.Write(buf)
}

// appendAddr appends the 16-byte form of a's IP and its port.
func appendAddr(b []byte, a netip.AddrPort) []byte {
	ip := a.Addr().As16()
	b = append(b, ip[:]...)
	return binary.BigEndian.AppendUint16(b, a.Port())
}
