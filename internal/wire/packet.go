package wire

// Packet wrappers (section 5): compound messages, LZW compression, the CRC header and the
// label header, and Unpack, which walks a received datagram down to its messages.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
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
	err := eachCompoundPart(body, func(p []byte) { parts = append(parts, p) })
	return parts, err
}

// eachCompoundPart calls fn with each part of a compound body (after the type byte), in
// order, each capped at its own length, until the data ends partway through a part
// (ErrTruncated). A count whose length table does not fit is refused before any part.
func eachCompoundPart(body []byte, fn func(part []byte)) error {
	if len(body) < 1 {
		return fmt.Errorf("compound count: %w", ErrTruncated)
	}
	n := int(body[0])
	if len(body) < 1+2*n {
		return fmt.Errorf("compound of %d parts: %w", n, ErrTruncated)
	}
	off := 1 + 2*n
	for i := range n {
		l := int(binary.BigEndian.Uint16(body[1+2*i:]))
		if off+l > len(body) {
			return fmt.Errorf("compound part %d of %d: %w", i, n, ErrTruncated)
		}
		fn(body[off : off+l : off+l])
		off += l
	}
	return nil
}

// AppendCompress wraps msg in a compress message (section 5.3): LZW, LSB order, width 8.
func AppendCompress(b, msg []byte) []byte {
	b = appendMapHeader(append(b, byte(CompressMsg)), 2)
	b = appendUint(appendString(b, "Algo"), 0)
	// The LZW bytes are written after room for the longest raw header, then moved back to
	// sit right after the header their length needs: no scratch buffer.
	b = appendString(b, "Buf")
	head := len(b)
	b = appendLZW(append(b, 0, 0, 0, 0, 0), msg)
	n := len(b) - head - 5
	var hb [5]byte
	hdr := appendRawHeader(hb[:0], n)
	copy(b[head:], hdr)
	copy(b[head+len(hdr):], b[head+5:])
	return b[:head+len(hdr)+n]
}

// Compress returns msg in a compress message, in a buffer of its own no longer than it must
// be: the compressing is done in a scratch buffer shared by all callers, so that a large
// message (a push/pull of thousands of members) costs one allocation of its compressed size
// rather than the several of an output grown as it is written.
func Compress(msg []byte) []byte {
	scratch := compressScratch.Get().(*[]byte)
	z := AppendCompress((*scratch)[:0], msg)
	out := slices.Clone(z)
	if cap(z) <= maxCompressScratch {
		*scratch = z
		compressScratch.Put(scratch)
	}
	return out
}

// maxCompressScratch bounds the scratch buffers Compress keeps for later calls.
const maxCompressScratch = 4 << 20

var compressScratch = sync.Pool{New: func() any { return new([]byte) }}

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
	// Most of what is compressed here shrinks two to four times; starting at that size saves
	// growing up to it.
	out, err := expandLZW(make([]byte, 0, min(4*len(buf)+64, limit)), buf, limit)
	switch {
	case errors.Is(err, errLimit):
		return nil, fmt.Errorf("decompresses past %d bytes: %w", limit, ErrOversized)
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrUnknownCompression, err)
	}
	return out, nil
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
// of a truncated compound are still delivered. decompress, if set, stands in for Decompress
// (the simulator remembers what its members compressed).
func Unpack(buf []byte, lim Limits, decompress func(body []byte, limit int) ([]byte, error), fn func(msg []byte), errf func(error)) {
	if decompress == nil {
		decompress = Decompress
	}
	if len(buf) >= 5 && buf[0] == byte(HasCrcMsg) {
		inner, err := CheckCRC(buf)
		if err != nil {
			errf(err)
			return
		}
		buf = inner
	}
	unpack(buf, lim, decompress, 0, fn, errf)
}

func unpack(buf []byte, lim Limits, decompress func([]byte, int) ([]byte, error), depth int, fn func([]byte), errf func(error)) {
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
		// Each part is handled as it is found, with no list of them: a join's packets hold
		// dozens of alives.
		if err := eachCompoundPart(buf[1:], func(p []byte) { unpack(p, lim, decompress, depth+1, fn, errf) }); err != nil {
			errf(err)
		}
	case CompressMsg:
		if depth >= lim.MaxCompoundDepth {
			errf(fmt.Errorf("compress nested too deeply: %w", ErrMalformed))
			return
		}
		out, err := decompress(buf[1:], lim.MaxPacketDecompressed)
		if err != nil {
			errf(err)
			return
		}
		unpack(out, lim, decompress, depth+1, fn, errf)
	default:
		fn(buf)
	}
}
