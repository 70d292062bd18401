package swim

// How messages become datagrams (wire-format.md section 5.1): the primary message, then as
// many broadcasts as fit in UDPBufferSize piggybacked as a compound, then compression when it
// makes the packet smaller, then a CRC for peers that check one, then encryption and the
// label (security.go). Packets are built in reused
// scratch buffers and land in the outbox's arena, so sending allocates nothing in the steady
// state.

import (
	"bytes"
	"net/netip"

	"github.com/swim-go/swim/internal/wire"
)

// compoundHeader is the type byte and the count byte of a compound message.
const compoundHeader = 2

// sendMsg sends msgs (normally one primary message) to `to`, piggybacking broadcasts. peer is
// the destination's entry when known, for the CRC decision.
func (c *core) sendMsg(to netip.AddrPort, peer *member, msgs ...[]byte) {
	c.send(to, peer, "", msgs)
}

// accuse sends suspect m its accusation (raised by accuser) ahead of msg, normally a ping, so
// that the ack can already carry the refutation: memberlist's buddy system for probes, and the
// last calls.
func (c *core) accuse(m *member, accuser string, msg []byte) {
	s := wire.Suspect{Incarnation: m.incarnation, Node: m.name, From: accuser}
	c.send(m.addrPort(), m, m.name, [][]byte{s.Append(nil), msg})
}

// send sends msgs with broadcasts piggybacked, leaving out any queued suspicion of accused:
// the packet carries one already.
func (c *core) send(to netip.AddrPort, peer *member, accused string, msgs [][]byte) {
	parts := append(c.parts[:0], msgs...)
	budget := c.packetBudget()
	for _, m := range msgs {
		budget -= len(m) + compoundPartOverhead
	}
	parts = c.collectBroadcasts(parts, budget, accused)
	c.sendParts(to, peer, parts)
	clear(parts)
	c.parts = parts[:0]
}

// sendParts sends one message bare, or several as a compound.
func (c *core) sendParts(to netip.AddrPort, peer *member, parts [][]byte) {
	switch len(parts) {
	case 0:
		return
	case 1:
		c.sendPacket(to, peer, parts[0])
	default:
		c.cmpBuf = wire.AppendCompound(c.cmpBuf[:0], parts)
		c.sendPacket(to, peer, c.cmpBuf)
	}
}

// packetFrame compresses plain where that makes it smaller and adds the CRC if crc: what
// sendPacket does to a packet without a label or encryption. It returns the framed packet
// and, if it compressed, the compress message.
func packetFrame(plain []byte, crc bool) (pkt, zip []byte) {
	if pkt = frame(plain, true); len(pkt) < len(plain) {
		zip = pkt
	}
	if crc {
		pkt = wire.AppendCRC(nil, pkt)
	}
	return pkt, zip
}

// packetBudget is how many bytes of messages fit in one compound packet, after the label
// and encryption take their share.
func (c *core) packetBudget() int {
	return c.cfg.UDPBufferSize - compoundHeader - c.sec.packetOverhead()
}

// sendPacket applies the outer layers to a finished message and puts it in the outbox.
func (c *core) sendPacket(to netip.AddrPort, peer *member, pkt []byte) {
	var name string
	if peer != nil {
		name = peer.name
	}
	crc := peer != nil && peer.vsn[1] >= 5
	if c.deferFrames && c.cfg.EnableCompression && len(pkt) >= compressMinSize && c.sec.label == "" && c.sec.sealing() == nil && !c.metrics.on() {
		// Nothing else is to be done to it (no label, no encryption, whose nonces are drawn
		// in order, no metrics, which count the sent size now): packetFrame makes the same
		// bytes from these.
		c.out.packets = append(c.out.packets, outPacket{to: to, name: name, plain: bytes.Clone(pkt), crc: crc})
		return
	}
	if c.cfg.EnableCompression && len(pkt) >= compressMinSize {
		c.zipBuf = wire.AppendCompress(c.zipBuf[:0], pkt)
		if len(c.zipBuf) < len(pkt) {
			if c.memo != nil {
				c.memo.packetSent(c.zipBuf[1:], pkt)
			}
			pkt = c.zipBuf
		}
	}
	if crc {
		c.crcBuf = wire.AppendCRC(c.crcBuf[:0], pkt)
		pkt = c.crcBuf
	}
	start := len(c.out.arena)
	c.out.arena = c.sec.sealPacket(c.out.arena, pkt)
	c.out.packets = append(c.out.packets, outPacket{to: to, name: name, buf: c.out.arena[start:len(c.out.arena):len(c.out.arena)]})
	c.metrics.count(MetricPacketSent, float64(len(c.out.arena)-start))
}
