package wire

// Stream framing (section 6.2). A plaintext stream message has no length prefix: its end
// follows from the msgpack values and the lengths they carry. ReadStreamMessage reads exactly
// one message, parsing values as they arrive, and never allocates ahead of the bytes actually
// received: a header claiming gigabytes costs nothing until the bytes come, and is refused at
// the limit.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// StreamOptions says how to read a stream message.
type StreamOptions struct {
	Limits Limits
	// Decrypt is the encryption seam: given the associated data (the type byte and the four
	// length bytes; the caller adds the label) and the encrypted blob, it returns the
	// plaintext. nil means no keyring: an encrypted stream fails with
	// ErrEncryptionNotConfigured.
	Decrypt func(aad, blob []byte) ([]byte, error)
	// RequireEncryption refuses plaintext streams with ErrNotEncrypted.
	RequireEncryption bool
	// Decompress, if set, stands in for Decompress (the simulator remembers its results).
	Decompress func(body []byte, limit int) ([]byte, error)
	// SizeHint, if positive, is how many bytes the stream holds in all, known when the whole
	// stream is in memory (the simulator's are): the message is then read into one buffer of
	// about that size, not one grown as its bytes arrive.
	SizeHint int
}

// AppendStreamEncrypted frames an encrypted blob for a stream: type 10, u32 length, blob.
func AppendStreamEncrypted(b, blob []byte) []byte {
	b = binary.BigEndian.AppendUint32(append(b, byte(EncryptMsg)), uint32(len(blob)))
	return append(b, blob...)
}

// ReadStreamMessage reads one framed message from r and returns it as a plain message (type
// byte and body), decrypted and decompressed.
func ReadStreamMessage(r io.Reader, opt StreamOptions) ([]byte, error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 4096)
	}
	t, err := br.ReadByte()
	if err != nil {
		return nil, truncated(err)
	}
	if MessageType(t) == EncryptMsg {
		if opt.Decrypt == nil {
			return nil, ErrEncryptionNotConfigured
		}
		var hdr [5]byte
		hdr[0] = t
		if _, err := io.ReadFull(br, hdr[1:]); err != nil {
			return nil, truncated(err)
		}
		n := binary.BigEndian.Uint32(hdr[1:])
		if uint64(n) > uint64(opt.Limits.MaxStreamEncrypted) {
			return nil, fmt.Errorf("encrypted stream of %d bytes: %w", n, ErrOversized)
		}
		blob, err := readN(br, make([]byte, 0, min(opt.SizeHint, int(n))), int(n))
		if err != nil {
			return nil, err
		}
		plain, err := opt.Decrypt(hdr[:], blob)
		if err != nil {
			return nil, err
		}
		if len(plain) > 0 && MessageType(plain[0]) == CompressMsg {
			return decompressStream(plain[1:], opt)
		}
		return plain, nil
	}
	if opt.RequireEncryption {
		return nil, ErrNotEncrypted
	}
	budget := opt.Limits.MaxDecompressed
	msg := append(make([]byte, 0, max(1, min(opt.SizeHint, budget+1))), t)
	switch MessageType(t) {
	case PingMsg, AckRespMsg, ErrMsg:
		return readValue(br, msg, &budget, 0)
	case CompressMsg:
		msg, err = readValue(br, msg, &budget, 0)
		if err != nil {
			return nil, err
		}
		return decompressStream(msg[1:], opt)
	case PushPullMsg:
		if msg, err = readValue(br, msg, &budget, 0); err != nil {
			return nil, err
		}
		var h PushPullHeader
		if _, err := h.DecodeBody(msg[1:]); err != nil {
			return nil, err
		}
		if err := checkPushPullHeader(&h, opt.Limits); err != nil {
			return nil, err
		}
		for range h.Nodes {
			if msg, err = readValue(br, msg, &budget, 0); err != nil {
				return nil, err
			}
		}
		return readN(br, msg, h.UserStateLen)
	case UserMsg:
		if msg, err = readValue(br, msg, &budget, 0); err != nil {
			return nil, err
		}
		var h UserMsgHeader
		if _, err := h.DecodeBody(msg[1:]); err != nil {
			return nil, err
		}
		if h.UserMsgLen < 0 || h.UserMsgLen > opt.Limits.MaxUserMsgLen {
			return nil, fmt.Errorf("user message of %d bytes: %w", h.UserMsgLen, ErrOversized)
		}
		return readN(br, msg, h.UserMsgLen)
	}
	return nil, fmt.Errorf("stream message type %d: %w", t, ErrUnknownType)
}

// decompressStream undoes a compress wrapper read from a stream; the result must be a whole,
// non-empty message.
func decompressStream(body []byte, opt StreamOptions) ([]byte, error) {
	decompress := Decompress
	if opt.Decompress != nil {
		decompress = opt.Decompress
	}
	out, err := decompress(body, opt.Limits.MaxDecompressed)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty compressed stream message: %w", ErrTruncated)
	}
	return out, nil
}

func truncated(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %w", ErrTruncated, err)
	}
	return err
}

// readN appends exactly n bytes from r to dst, growing dst only as bytes arrive.
func readN(r *bufio.Reader, dst []byte, n int) ([]byte, error) {
	for n > 0 {
		chunk := min(n, 32<<10)
		start := len(dst)
		dst = slices.Grow(dst, chunk)[:start+chunk]
		if _, err := io.ReadFull(r, dst[start:]); err != nil {
			return nil, truncated(err)
		}
		n -= chunk
	}
	return dst, nil
}

// readValue appends the raw bytes of one msgpack value from r to dst, spending at most
// *budget bytes.
func readValue(r *bufio.Reader, dst []byte, budget *int, depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: nested too deeply", ErrMalformed)
	}
	c, err := r.ReadByte()
	if err != nil {
		return nil, truncated(err)
	}
	dst = append(dst, c)
	s, ok := shapeOf(c)
	if !ok {
		return nil, fmt.Errorf("%w: msgpack byte 0x%02x in a stream", ErrMalformed, c)
	}
	if s.lenBytes > 0 {
		start := len(dst)
		if dst, err = readN(r, dst, s.lenBytes); err != nil {
			return nil, err
		}
		var n uint64
		for _, b := range dst[start:] {
			n = n<<8 | uint64(b)
		}
		s = s.withLength(n)
	}
	payload, items, lenBytes := s.payload, s.items, s.lenBytes
	if payload > uint64(*budget) || items > uint64(*budget) {
		return nil, fmt.Errorf("stream value of %d bytes or %d items: %w", payload, items, ErrOversized)
	}
	*budget -= int(payload) + 1 + lenBytes
	if *budget < 0 {
		return nil, fmt.Errorf("stream message: %w", ErrOversized)
	}
	if dst, err = readN(r, dst, int(payload)); err != nil {
		return nil, err
	}
	for range items {
		if dst, err = readValue(r, dst, budget, depth+1); err != nil {
			return nil, err
		}
	}
	return dst, nil
}

// ReadStreamLabel reads the label header a dialer may open a stream with (section 6.1); had
// says whether there was one. The header may arrive split over several reads.
func ReadStreamLabel(br *bufio.Reader) (label []byte, had bool, err error) {
	b, err := br.Peek(1)
	if err != nil {
		return nil, false, truncated(err)
	}
	if b[0] != byte(HasLabelMsg) {
		return nil, false, nil
	}
	br.Discard(1)
	n, err := br.ReadByte()
	if err != nil {
		return nil, true, truncated(err)
	}
	if n == 0 {
		return nil, true, fmt.Errorf("empty label: %w", ErrBadLabel)
	}
	label = make([]byte, n)
	if _, err := io.ReadFull(br, label); err != nil {
		return nil, true, truncated(err)
	}
	return label, true, nil
}
