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
	return readStreamMessage(&readSource{br: br}, opt)
}

// StreamMessageOf is ReadStreamMessage for a stream whole in memory (the simulator's): it
// reads the first message of b, and what it returns may be a window of b rather than a
// copy, so b must not change while the message is in use.
func StreamMessageOf(b []byte, opt StreamOptions) ([]byte, error) {
	return readStreamMessage(&memSource{b: b}, opt)
}

func readStreamMessage(src streamSource, opt StreamOptions) ([]byte, error) {
	t, err := src.next()
	if err != nil {
		return nil, err
	}
	if MessageType(t) == EncryptMsg {
		if opt.Decrypt == nil {
			return nil, ErrEncryptionNotConfigured
		}
		var hdr [5]byte
		hdr[0] = t
		n4, err := src.take(4)
		if err != nil {
			return nil, err
		}
		copy(hdr[1:], n4)
		n := binary.BigEndian.Uint32(hdr[1:])
		if uint64(n) > uint64(opt.Limits.MaxStreamEncrypted) {
			return nil, fmt.Errorf("encrypted stream of %d bytes: %w", n, ErrOversized)
		}
		blob, err := src.take(int(n))
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
	switch MessageType(t) {
	case PingMsg, AckRespMsg, ErrMsg:
		if err := readValue(src, &budget, 0); err != nil {
			return nil, err
		}
		return src.message(), nil
	case CompressMsg:
		if err := readValue(src, &budget, 0); err != nil {
			return nil, err
		}
		return decompressStream(src.message()[1:], opt)
	case PushPullMsg:
		if err := readValue(src, &budget, 0); err != nil {
			return nil, err
		}
		var h PushPullHeader
		if _, err := h.DecodeBody(src.message()[1:]); err != nil {
			return nil, err
		}
		if err := checkPushPullHeader(&h, opt.Limits); err != nil {
			return nil, err
		}
		for range h.Nodes {
			if err := readValue(src, &budget, 0); err != nil {
				return nil, err
			}
		}
		if _, err := src.take(h.UserStateLen); err != nil {
			return nil, err
		}
		return src.message(), nil
	case UserMsg:
		if err := readValue(src, &budget, 0); err != nil {
			return nil, err
		}
		var h UserMsgHeader
		if _, err := h.DecodeBody(src.message()[1:]); err != nil {
			return nil, err
		}
		if h.UserMsgLen < 0 || h.UserMsgLen > opt.Limits.MaxUserMsgLen {
			return nil, fmt.Errorf("user message of %d bytes: %w", h.UserMsgLen, ErrOversized)
		}
		if _, err := src.take(h.UserMsgLen); err != nil {
			return nil, err
		}
		return src.message(), nil
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

// streamSource is where a stream message's bytes come from: a connection, whose bytes are
// copied into a buffer of the message's own as they arrive, or a stream whole in memory,
// whose message is the window of it that holds it. Both hand out the stream's bytes in
// order, from its first.
type streamSource interface {
	next() (byte, error)        // the next byte
	take(n int) ([]byte, error) // the next n bytes
	message() []byte            // every byte handed out so far
}

// readSource reads from a connection.
type readSource struct {
	br  *bufio.Reader
	msg []byte
}

func (s *readSource) next() (byte, error) {
	c, err := s.br.ReadByte()
	if err != nil {
		return 0, truncated(err)
	}
	s.msg = append(s.msg, c)
	return c, nil
}

func (s *readSource) take(n int) ([]byte, error) {
	start := len(s.msg)
	var err error
	if s.msg, err = readN(s.br, s.msg, n); err != nil {
		return nil, err
	}
	return s.msg[start:], nil
}

func (s *readSource) message() []byte { return s.msg }

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

// memSource reads a stream whole in memory, copying nothing.
type memSource struct {
	b   []byte
	pos int
}

func (s *memSource) next() (byte, error) {
	if s.pos == len(s.b) {
		return 0, truncated(io.ErrUnexpectedEOF)
	}
	s.pos++
	return s.b[s.pos-1], nil
}

func (s *memSource) take(n int) ([]byte, error) {
	if n < 0 || n > len(s.b)-s.pos {
		return nil, truncated(io.ErrUnexpectedEOF)
	}
	s.pos += n
	return s.b[s.pos-n : s.pos : s.pos], nil
}

func (s *memSource) message() []byte { return s.b[:s.pos:s.pos] }

// readValue reads the raw bytes of one msgpack value from src, spending at most *budget
// bytes.
func readValue(src streamSource, budget *int, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: nested too deeply", ErrMalformed)
	}
	c, err := src.next()
	if err != nil {
		return err
	}
	s, ok := shapeOf(c)
	if !ok {
		return fmt.Errorf("%w: msgpack byte 0x%02x in a stream", ErrMalformed, c)
	}
	if s.lenBytes > 0 {
		lb, err := src.take(s.lenBytes)
		if err != nil {
			return err
		}
		var n uint64
		for _, b := range lb {
			n = n<<8 | uint64(b)
		}
		s = s.withLength(n)
	}
	payload, items, lenBytes := s.payload, s.items, s.lenBytes
	if payload > uint64(*budget) || items > uint64(*budget) {
		return fmt.Errorf("stream value of %d bytes or %d items: %w", payload, items, ErrOversized)
	}
	*budget -= int(payload) + 1 + lenBytes
	if *budget < 0 {
		return fmt.Errorf("stream message: %w", ErrOversized)
	}
	if _, err := src.take(int(payload)); err != nil {
		return err
	}
	for range items {
		if err := readValue(src, budget, depth+1); err != nil {
			return err
		}
	}
	return nil
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

// CutStreamLabel is ReadStreamLabel for a stream whole in memory: it also returns the rest
// of b after the header, and the label is a window of b.
func CutStreamLabel(b []byte) (label []byte, had bool, rest []byte, err error) {
	switch {
	case len(b) == 0:
		return nil, false, nil, truncated(io.EOF)
	case b[0] != byte(HasLabelMsg):
		return nil, false, b, nil
	case len(b) == 1:
		return nil, true, nil, truncated(io.ErrUnexpectedEOF)
	case b[1] == 0:
		return nil, true, nil, fmt.Errorf("empty label: %w", ErrBadLabel)
	case len(b) < 2+int(b[1]):
		return nil, true, nil, truncated(io.ErrUnexpectedEOF)
	}
	n := 2 + int(b[1])
	return b[2:n:n], true, b[n:], nil
}
