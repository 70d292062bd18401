package wire

// Packet wrappers (section 5): compound messages, LZW compression, the CRC header and the
// label header, and Unpack, which walks a received datagram down to its messages.

import (
	"bytes"
	"compress/lzw"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"sync"
)

// AppendCompound encodes parts as one compound message (section 5.2). The caller keeps to at
// most 255 parts of less than 64 KiB each.
func AppendCompound(b []byte, parts [][]byte) []byte {
	b = append(b, byte(CompoundMsg), byte(len(parts)))
	for _, p := range parts {
		b = binary.BigEndian.AppendUint16(b, uint16(len(p)))
	}
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// SplitCompound appends to parts the sub-slices of a compound body (after the type byte). If
// the data ends partway through the parts, the complete ones are returned with ErrTruncated.
func SplitCompound(body []byte, parts [][]byte) ([][]byte, error) {
	if len(body) < 1 {
		return parts, fmt.Errorf("compound count: %w", ErrTruncated)
	}
	n := int(body[0])
	if len(body) < 1+2*n {
		return parts, fmt.Errorf("compound of %d parts: %w", n, ErrTruncated)
	}
	off := 1 + 2*n
	for i := range n {
		l := int(binary.BigEndian.Uint16(body[1+2*i:]))
		if off+l > len(body) {
			return parts, fmt.Errorf("compound part %d of %d: %w", i, n, ErrTruncated)
		}
		parts = append(parts, body[off:off+l:off+l])
		off += l
	}
	return parts, nil
}

// LZW coders are reused: a new writer allocates a 64 KiB table and a new reader 20 KiB, far
// more than the packet most of them code, and at thousands of packets a second that was
// what kept the garbage collector busy.
var (
	lzwWriters = sync.Pool{New: func() any { return new(lzwWriter) }}
	lzwReaders sync.Pool // of *lzw.Reader
)

// lzwWriter is an LZW writer with the buffer it writes to.
type lzwWriter struct {
	w   *lzw.Writer
	out flushBuffer
}

// flushBuffer is a bytes.Buffer with the Flush that compress/lzw looks for: given one, it
// writes straight into it instead of allocating a bufio.Writer on every Reset.
type flushBuffer struct{ bytes.Buffer }

func (*flushBuffer) Flush() error { return nil }

// maxPooledBuffer is the largest buffer kept for reuse; a rare large stream's is let go.
const maxPooledBuffer = 1 << 20

// AppendCompress wraps msg in a compress message (section 5.3): LZW, LSB order, width 8.
func AppendCompress(b, msg []byte) []byte {
	z := lzwWriters.Get().(*lzwWriter)
	z.out.Reset()
	if z.w == nil {
		z.w = lzw.NewWriter(&z.out, lzw.LSB, 8).(*lzw.Writer)
	} else {
		z.w.Reset(&z.out, lzw.LSB, 8)
	}
	z.w.Write(msg)
	z.w.Close()
	b = appendMapHeader(append(b, byte(CompressMsg)), 2)
	b = appendUint(appendString(b, "Algo"), 0)
	b = appendBytes(appendString(b, "Buf"), z.out.Bytes())
	if z.out.Cap() <= maxPooledBuffer {
		lzwWriters.Put(z)
	}
	return b
}

// Decompress undoes a compress message body (after the type byte), refusing to produce more
// than limit bytes.
func Decompress(body []byte, limit int) ([]byte, error) {
	var algo uint64
	var buf []byte
	d := decoder{b: body}
	err := d.fields(func(k []byte) (bool, error) {
		var err error
		switch string(k) {
		case "Algo":
			algo, err = d.uint(255)
		case "Buf":
			buf, _, err = d.raw()
		default:
			return false, nil
		}
		return true, err
	})
	if err != nil {
		return nil, fmt.Errorf("compress header: %w", err)
	}
	if algo != 0 {
		return nil, fmt.Errorf("algorithm %d: %w", algo, ErrUnknownCompression)
	}
	var r *lzw.Reader
	if pooled, ok := lzwReaders.Get().(*lzw.Reader); ok {
		r = pooled
		r.Reset(bytes.NewReader(buf), lzw.LSB, 8)
	} else {
		r = lzw.NewReader(bytes.NewReader(buf), lzw.LSB, 8).(*lzw.Reader)
	}
	defer func() {
		r.Close()
		lzwReaders.Put(r)
	}()
	// Most of what is compressed here shrinks two to four times; starting at that size saves
	// doubling up to it.
	out := bytes.NewBuffer(make([]byte, 0, min(4*len(buf)+64, limit+1)))
	n, err := io.Copy(out, io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnknownCompression, err)
	}
	if n > int64(limit) {
		return nil, fmt.Errorf("decompresses past %d bytes: %w", limit, ErrOversized)
	}
	return out.Bytes(), nil
}

// AppendCRC wraps buf in a CRC header (section 5.4).
func AppendCRC(b, buf []byte) []byte {
	b = append(b, byte(HasCrcMsg))
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(buf))
	return append(b, buf...)
}

// CheckCRC verifies a CRC-wrapped buffer (starting with type 12) and returns what it protects.
func CheckCRC(buf []byte) ([]byte, error) {
	if len(buf) < 5 {
		return nil, fmt.Errorf("crc header: %w", ErrTruncated)
	}
	if binary.BigEndian.Uint32(buf[1:5]) != crc32.ChecksumIEEE(buf[5:]) {
		return nil, ErrCRCMismatch
	}
	return buf[5:], nil
}

// AppendLabel prefixes a label header (section 5.5); an empty label adds nothing.
func AppendLabel(b []byte, label string) []byte {
	if label == "" {
		return b
	}
	return append(append(b, byte(HasLabelMsg), byte(len(label))), label...)
}

// StripLabel removes a label header if there is one.
func StripLabel(buf []byte) (label, rest []byte, err error) {
	if len(buf) == 0 || buf[0] != byte(HasLabelMsg) {
		return nil, buf, nil
	}
	if len(buf) < 2 {
		return nil, nil, fmt.Errorf("label length: %w", ErrTruncated)
	}
	n := int(buf[1])
	if n == 0 {
		return nil, nil, fmt.Errorf("empty label: %w", ErrBadLabel)
	}
	if len(buf) < 2+n {
		return nil, nil, fmt.Errorf("label: %w", ErrTruncated)
	}
	return buf[2 : 2+n], buf[2+n:], nil
}

// Unpack walks a datagram whose label and encryption are already removed: the CRC at the top
// level, then compound and compress messages recursively. It calls fn for every message it
// finds (the slice is valid only during the call) and errf for every problem; complete parts
// of a truncated compound are still delivered.
func Unpack(buf []byte, lim Limits, fn func(msg []byte), errf func(error)) {
	if len(buf) >= 5 && buf[0] == byte(HasCrcMsg) {
		inner, err := CheckCRC(buf)
		if err != nil {
			errf(err)
			return
		}
		buf = inner
	}
	unpack(buf, lim, 0, fn, errf)
}

func unpack(buf []byte, lim Limits, depth int, fn func([]byte), errf func(error)) {
	if len(buf) == 0 {
		errf(fmt.Errorf("empty message: %w", ErrTruncated))
		return
	}
	switch MessageType(buf[0]) {
	case CompoundMsg:
		if depth >= lim.MaxCompoundDepth {
			errf(fmt.Errorf("compound nested too deeply: %w", ErrMalformed))
			return
		}
		var stack [16][]byte
		parts, err := SplitCompound(buf[1:], stack[:0])
		for _, p := range parts {
			unpack(p, lim, depth+1, fn, errf)
		}
		if err != nil {
			errf(err)
		}
	case CompressMsg:
		if depth >= lim.MaxCompoundDepth {
			errf(fmt.Errorf("compress nested too deeply: %w", ErrMalformed))
			return
		}
		out, err := Decompress(buf[1:], lim.MaxPacketDecompressed)
		if err != nil {
			errf(err)
			return
		}
		unpack(out, lim, depth+1, fn, errf)
	default:
		fn(buf)
	}
}
