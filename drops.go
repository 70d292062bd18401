package swim

// Input from the network that cannot be used is dropped: never returned as an error, never a
// panic. Each drop is counted by reason (readable through Memberlist.Drops) and logged at debug
// level, at most once a second per member so that a flood of garbage cannot flood the log.

import (
	"errors"
	"net/netip"
	"time"

	"github.com/swim-go/swim/internal/wire"
)

// DropReason says why a packet, message or stream from the network was dropped.
type DropReason int

// The reasons input is dropped.
const (
	DropTruncated     DropReason = iota // shorter than its framing says
	DropMalformed                       // not valid msgpack, or a field of the wrong type
	DropOversized                       // over a size or count limit
	DropUnknownType                     // a message type this member does not handle there
	DropCRCMismatch                     // the CRC wrapper did not match
	DropBadLabel                        // a malformed or unexpected label
	DropCompression                     // unknown compression algorithm or bad LZW data
	DropEncryption                      // encrypted when not expected, or not when expected
	DropMisaddressed                    // a ping meant for a member of another name
	DropQueueFull                       // the loop's input queue was full
	DropStreamLimit                     // too many inbound streams at once
	DropIncompatible                    // a push/pull from a member with incompatible versions
	DropDecryptFailed                   // no installed key decrypts it (wrong key, or tampered)
	DropNotAllowed                      // from, or about, an address outside CIDRsAllowed
	numDropReasons
)

var dropReasonNames = [numDropReasons]string{
	"truncated", "malformed", "oversized", "unknown_type", "crc_mismatch", "bad_label",
	"compression", "encryption", "misaddressed", "queue_full", "stream_limit", "incompatible",
	"decrypt_failed", "not_allowed",
}

func (r DropReason) String() string {
	if r >= 0 && r < numDropReasons {
		return dropReasonNames[r]
	}
	return "unknown"
}

// dropReasonOf maps a decoding error to the reason it is counted under.
func dropReasonOf(err error) DropReason {
	switch {
	case errors.Is(err, wire.ErrTruncated):
		return DropTruncated
	case errors.Is(err, wire.ErrOversized):
		return DropOversized
	case errors.Is(err, wire.ErrUnknownType):
		return DropUnknownType
	case errors.Is(err, wire.ErrCRCMismatch):
		return DropCRCMismatch
	case errors.Is(err, wire.ErrBadLabel):
		return DropBadLabel
	case errors.Is(err, wire.ErrUnknownCompression):
		return DropCompression
	case errors.Is(err, wire.ErrEncryptionNotConfigured), errors.Is(err, wire.ErrNotEncrypted):
		return DropEncryption
	case errors.Is(err, errDecrypt), errors.Is(err, errEncryptionVersion):
		return DropDecryptFailed
	}
	return DropMalformed
}

// drops counts dropped input and rate-limits the log lines about it.
type drops struct {
	counts     [numDropReasons]uint64
	lastLog    time.Time
	suppressed uint64
}

// drop counts one dropped input and logs it unless a line was logged within the last second.
func (c *core) drop(reason DropReason, from netip.AddrPort, err error) {
	d := &c.drops
	d.counts[reason]++
	c.metrics.countBy(MetricDrop, 1, "reason", reason.String())
	if !d.lastLog.IsZero() && c.now.Sub(d.lastLog) < time.Second {
		d.suppressed++
		return
	}
	d.lastLog = c.now
	c.log.Debug("dropped input", "reason", reason.String(), "peer", from.String(), "error", err, "suppressed", d.suppressed)
	d.suppressed = 0
}

// byReason returns the non-zero counts.
func (d *drops) byReason() map[DropReason]uint64 {
	out := make(map[DropReason]uint64)
	for r, n := range d.counts {
		if n > 0 {
			out[DropReason(r)] = n
		}
	}
	return out
}
