package swim

// The outer layers of everything on the wire: the cluster label and AES-GCM encryption
// (wire-format.md sections 5.5 and 7), and the CIDR allow-list. A packet is
// [label header] [encrypted([CRC] message)]; a stream starts with the dialer's label header,
// and each message on it is framed as type 10, a length and the encrypted blob. The label is
// the GCM associated data, so traffic of another cluster fails authentication even when it
// shares the key.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"

	"github.com/swim-go/swim/internal/wire"
)

// The encryption versions (section 7.2). Version 0 pads the plaintext to a block multiple;
// memberlist sends it only at protocol version 1.
const (
	encryptionPadded byte = 0
	encryptionPlain  byte = 1
)

const (
	nonceSize = 12
	tagSize   = 16
	blockSize = 16
)

var (
	errDecrypt           = errors.New("swim: no installed key decrypts the message")
	errEncryptionVersion = errors.New("swim: unknown encryption version")
)

// encryptedLen is the length of the encrypted form of n plaintext bytes.
func encryptedLen(vsn byte, n int) int {
	if vsn == encryptionPadded {
		n += blockSize - n%blockSize
	}
	return 1 + nonceSize + n + tagSize
}

// seal appends to dst the encrypted form of plain under the primary key: version, nonce,
// ciphertext and tag. The key set must not be empty.
func (s *keySet) seal(dst []byte, vsn byte, plain, aad []byte, nonces func([]byte)) []byte {
	dst = append(dst, vsn)
	start := len(dst)
	dst = append(dst, make([]byte, nonceSize)...)
	nonce := dst[start : start+nonceSize]
	nonces(nonce)
	if vsn == encryptionPadded {
		pad := blockSize - len(plain)%blockSize
		padded := make([]byte, len(plain), len(plain)+pad)
		copy(padded, plain)
		for range pad {
			padded = append(padded, byte(pad))
		}
		plain = padded
	}
	return s.aeads[0].Seal(dst, nonce, plain, aad)
}

// open decrypts blob with each installed key in turn, the primary first.
func (s *keySet) open(blob, aad []byte) ([]byte, error) {
	if len(blob) == 0 {
		return nil, fmt.Errorf("encrypted message: %w", wire.ErrTruncated)
	}
	vsn := blob[0]
	if vsn > encryptionPlain {
		return nil, fmt.Errorf("%w %d", errEncryptionVersion, vsn)
	}
	if len(blob) < encryptedLen(vsn, 0) {
		return nil, fmt.Errorf("encrypted message of %d bytes: %w", len(blob), wire.ErrTruncated)
	}
	nonce, ct := blob[1:1+nonceSize], blob[1+nonceSize:]
	for _, aead := range s.aeads {
		plain, err := aead.Open(nil, nonce, ct, aad)
		if err != nil {
			continue
		}
		if vsn == encryptionPadded {
			return unpad(plain)
		}
		return plain, nil
	}
	return nil, errDecrypt
}

// unpad removes version 0's PKCS#7 padding, refusing a pad count no sender would write.
func unpad(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("padding: %w", wire.ErrTruncated)
	}
	pad := int(b[len(b)-1])
	if pad == 0 || pad > blockSize || pad > len(b) {
		return nil, fmt.Errorf("padding of %d bytes: %w", pad, wire.ErrMalformed)
	}
	return b[:len(b)-pad], nil
}

// security is the label and encryption settings of one member at one moment. The loop owns
// the live copy; stream goroutines get a copy when they start, so a change applies to streams
// opened after it.
type security struct {
	label          string
	skipLabelCheck bool
	keys           *Keyring
	verifyIncoming bool
	verifyOutgoing bool
	encryptionVsn  byte
	// nonces fills a nonce with fresh random bytes (crypto/rand, or the simulation's seeded
	// source so that its runs repeat).
	nonces func([]byte)
	lim    wire.Limits
	// decompress, if set, stands in for wire.Decompress on streams (the simulator's memo).
	decompress func(body []byte, limit int) ([]byte, error)
}

// sealing returns the key set to encrypt output with, or nil when output is plaintext.
func (s *security) sealing() *keySet {
	if !s.verifyOutgoing {
		return nil
	}
	if keys := s.keys.set(); len(keys.keys) > 0 {
		return keys
	}
	return nil
}

// checkLabel applies the receiver's label rule (section 5.5) to the label a peer sent (nil
// for none) and returns the label to authenticate with.
func (s *security) checkLabel(got []byte, had bool) ([]byte, error) {
	if s.skipLabelCheck {
		if had {
			return nil, fmt.Errorf("label %q while SkipInboundLabelCheck is set: %w", got, wire.ErrBadLabel)
		}
		return []byte(s.label), nil
	}
	if string(got) != s.label {
		return nil, fmt.Errorf("label %q, want %q: %w", got, s.label, wire.ErrBadLabel)
	}
	return got, nil
}

// openPacket removes a datagram's label and encryption.
func (s *security) openPacket(buf []byte) ([]byte, error) {
	had := len(buf) > 0 && buf[0] == byte(wire.HasLabelMsg)
	label, rest, err := wire.StripLabel(buf)
	if err != nil {
		return nil, err
	}
	aad, err := s.checkLabel(label, had)
	if err != nil {
		return nil, err
	}
	keys := s.keys.set()
	if len(keys.keys) == 0 {
		return rest, nil
	}
	plain, err := keys.open(rest, aad)
	if err != nil {
		if s.verifyIncoming {
			return nil, err
		}
		// Migrating to encryption: peers that have no key yet still send plaintext.
		return rest, nil
	}
	return plain, nil
}

// sealPacket appends the finished datagram for pkt to dst: label header, then pkt encrypted
// if this member encrypts.
func (s *security) sealPacket(dst, pkt []byte) []byte {
	dst = wire.AppendLabel(dst, s.label)
	keys := s.sealing()
	if keys == nil {
		return append(dst, pkt...)
	}
	return keys.seal(dst, s.encryptionVsn, pkt, []byte(s.label), s.nonces)
}

// packetOverhead is how many bytes the label and encryption add to a packet.
func (s *security) packetOverhead() int {
	n := 0
	if s.label != "" {
		n += 2 + len(s.label)
	}
	if s.sealing() != nil {
		n += encryptedLen(s.encryptionVsn, blockSize-1)
	}
	return n
}

// sealStream frames one stream message (already compressed if it is to be) for the wire:
// encrypted when this member encrypts. A dialer's request also carries the label header,
// which opens the connection.
func (s *security) sealStream(msg []byte, request bool) []byte {
	keys := s.sealing()
	if keys == nil && (!request || s.label == "") {
		return msg
	}
	var out []byte
	if request {
		out = wire.AppendLabel(nil, s.label)
	}
	if keys == nil {
		return append(out, msg...)
	}
	start := len(out)
	out = binary.BigEndian.AppendUint32(append(out, byte(wire.EncryptMsg)), uint32(encryptedLen(s.encryptionVsn, len(msg))))
	aad := append(append([]byte(nil), out[start:]...), s.label...)
	return keys.seal(out, s.encryptionVsn, msg, aad, s.nonces)
}

// readRequest reads what a dialer sent on an accepted stream: the label header, checked,
// then one message, decrypted and decompressed.
func (s *security) readRequest(r io.Reader) ([]byte, error) {
	br := bufio.NewReaderSize(r, 4096)
	label, had, err := wire.ReadStreamLabel(br)
	if err != nil {
		return nil, err
	}
	opt, err := s.requestOptions(label, had)
	if err != nil {
		return nil, err
	}
	return wire.ReadStreamMessage(br, opt)
}

// readRequestFrom is readRequest for a stream whole in memory (the simulator's). The message
// may be a window of b, which must not change while the message is in use.
func (s *security) readRequestFrom(b []byte) ([]byte, error) {
	label, had, rest, err := wire.CutStreamLabel(b)
	if err != nil {
		return nil, err
	}
	opt, err := s.requestOptions(label, had)
	if err != nil {
		return nil, err
	}
	return wire.StreamMessageOf(rest, opt)
}

// requestOptions checks a request's label header and says how to read the message after it.
func (s *security) requestOptions(label []byte, had bool) (wire.StreamOptions, error) {
	aad, err := s.checkLabel(label, had)
	if err != nil {
		return wire.StreamOptions{}, err
	}
	return s.streamOptions(aad), nil
}

// readReply reads the acceptor's reply on a stream this member dialed. Replies carry no
// label header; they are authenticated with the label the request was sent with.
func (s *security) readReply(r io.Reader) ([]byte, error) {
	cr := &countingReader{r: r}
	msg, err := wire.ReadStreamMessage(cr, s.streamOptions([]byte(s.label)))
	return msg, replyError(err, cr.n == 0)
}

// readReplyFrom is readReply for a stream whole in memory, as readRequestFrom is.
func (s *security) readReplyFrom(b []byte) ([]byte, error) {
	msg, err := wire.StreamMessageOf(b, s.streamOptions([]byte(s.label)))
	return msg, replyError(err, len(b) == 0)
}

// replyError says why a reply could not be read; a stream closed before its first byte is
// most often a peer that does not admit this member.
func replyError(err error, empty bool) error {
	if err != nil && empty {
		return fmt.Errorf("%w (the peer's label, key or CIDRsAllowed may not admit this member): %w", errNoReply, err)
	}
	return err
}

// errNoReply is a stream closed before any reply: what a peer that refuses us does.
var errNoReply = errors.New("swim: peer closed the stream without a reply")

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += n
	return n, err
}

func (s *security) streamOptions(label []byte) wire.StreamOptions {
	opt := wire.StreamOptions{Limits: s.lim, Decompress: s.decompress}
	keys := s.keys.set()
	if len(keys.keys) == 0 {
		return opt
	}
	opt.RequireEncryption = s.verifyIncoming
	opt.Decrypt = func(hdr, blob []byte) ([]byte, error) {
		return keys.open(blob, append(append(make([]byte, 0, len(hdr)+len(label)), hdr...), label...))
	}
	return opt
}

// cidrs is an allow-list of networks; empty allows everyone.
type cidrs []netip.Prefix

func (c cidrs) allowed(a netip.Addr) bool {
	if len(c) == 0 {
		return true
	}
	a = a.Unmap()
	for _, p := range c {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ParseCIDRs parses networks in CIDR notation ("10.0.0.0/8", "fd00::/8") for
// Config.CIDRsAllowed. It returns every parsable network and an error naming each bad one.
func ParseCIDRs(v []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	var errs []error
	for _, s := range v {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: CIDR %q: %v", ErrInvalidConfig, s, err))
			continue
		}
		out = append(out, p.Masked())
	}
	return out, errors.Join(errs...)
}
