package wire

// The msgpack subset memberlist uses (section 2). Encoding reproduces go-msgpack v2.1.5 with a
// zero MsgpackHandle: maps with keys in ascending byte order, the old-spec "raw" family for
// both strings and byte slices, unsigned families for unsigned fields and signed families for
// signed ones. Decoding accepts any key order, skips unknown keys, and takes str or bin (or
// nil) for bytes and any integer family for integers.

import (
	"encoding/binary"
	"fmt"
	"math"
)

func appendMapHeader(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x80|byte(n))
	case n < 1<<16:
		return binary.BigEndian.AppendUint16(append(b, 0xde), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, 0xdf), uint32(n))
}

func appendRawHeader(b []byte, n int) []byte {
	switch {
	case n < 32:
		return append(b, 0xa0|byte(n))
	case n < 1<<16:
		return binary.BigEndian.AppendUint16(append(b, 0xda), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(n))
}

func appendString(b []byte, s string) []byte { return append(appendRawHeader(b, len(s)), s...) }

// appendBytes encodes a byte slice: nil as msgpack nil, otherwise as a raw string.
func appendBytes(b, v []byte) []byte {
	if v == nil {
		return append(b, 0xc0)
	}
	return append(appendRawHeader(b, len(v)), v...)
}

func appendUint(b []byte, v uint64) []byte {
	switch {
	case v < 128:
		return append(b, byte(v))
	case v < 1<<8:
		return append(b, 0xcc, byte(v))
	case v < 1<<16:
		return binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(v))
	case v < 1<<32:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xcf), v)
}

func appendInt(b []byte, v int64) []byte {
	switch {
	case v >= 0 && v < 128:
		return append(b, byte(v))
	case v < 0 && v >= -32:
		return append(b, byte(v))
	case v >= math.MinInt8 && v <= math.MaxInt8:
		return append(b, 0xd0, byte(v))
	case v >= math.MinInt16 && v <= math.MaxInt16:
		return binary.BigEndian.AppendUint16(append(b, 0xd1), uint16(v))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(v))
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 0xc3)
	}
	return append(b, 0xc2)
}

// maxDepth bounds nesting when skipping unknown values.
const maxDepth = 32

// decoder reads msgpack values from a byte slice; every read checks the bytes remaining.
type decoder struct {
	b   []byte
	off int
}

func (d *decoder) need(n int) error {
	if n < 0 || len(d.b)-d.off < n {
		return ErrTruncated
	}
	return nil
}

func (d *decoder) byte() (byte, error) {
	if err := d.need(1); err != nil {
		return 0, err
	}
	c := d.b[d.off]
	d.off++
	return c, nil
}

func (d *decoder) uintN(n int) (uint64, error) {
	if err := d.need(n); err != nil {
		return 0, err
	}
	var v uint64
	for _, c := range d.b[d.off : d.off+n] {
		v = v<<8 | uint64(c)
	}
	d.off += n
	return v, nil
}

// mapLen reads a map header.
func (d *decoder) mapLen() (int, error) {
	c, err := d.byte()
	if err != nil {
		return 0, err
	}
	var n uint64
	switch {
	case c&0xf0 == 0x80:
		return int(c & 0x0f), nil
	case c == 0xde:
		n, err = d.uintN(2)
	case c == 0xdf:
		n, err = d.uintN(4)
	default:
		return 0, fmt.Errorf("%w: expected a map, found 0x%02x", ErrMalformed, c)
	}
	if err != nil {
		return 0, err
	}
	// Each entry takes at least two bytes: a count larger than that is a lie.
	if n > uint64(len(d.b)-d.off)/2 {
		return 0, ErrTruncated
	}
	return int(n), nil
}

// raw reads a str, bin or nil value and returns a sub-slice of the input (nil for nil). An
// array of small integers is accepted too, as go-msgpack does.
func (d *decoder) raw() ([]byte, bool, error) {
	c, err := d.byte()
	if err != nil {
		return nil, false, err
	}
	var n uint64
	switch {
	case c == 0xc0:
		return nil, true, nil
	case c&0xe0 == 0xa0:
		n = uint64(c & 0x1f)
	case c == 0xd9 || c == 0xc4:
		n, err = d.uintN(1)
	case c == 0xda || c == 0xc5:
		n, err = d.uintN(2)
	case c == 0xdb || c == 0xc6:
		n, err = d.uintN(4)
	case c&0xf0 == 0x90 || c == 0xdc || c == 0xdd:
		d.off--
		v, err := d.byteArray()
		return v, false, err
	default:
		return nil, false, fmt.Errorf("%w: expected bytes, found 0x%02x", ErrMalformed, c)
	}
	if err != nil {
		return nil, false, err
	}
	if n > uint64(len(d.b)-d.off) {
		return nil, false, ErrTruncated
	}
	v := d.b[d.off : d.off+int(n) : d.off+int(n)]
	d.off += int(n)
	return v, false, nil
}

// byteArray reads a msgpack array of integers 0..255 as bytes.
func (d *decoder) byteArray() ([]byte, error) {
	c, _ := d.byte()
	var n uint64
	var err error
	switch {
	case c&0xf0 == 0x90:
		n = uint64(c & 0x0f)
	case c == 0xdc:
		n, err = d.uintN(2)
	default:
		n, err = d.uintN(4)
	}
	if err != nil {
		return nil, err
	}
	if n > uint64(len(d.b)-d.off) {
		return nil, ErrTruncated
	}
	out := make([]byte, 0, n)
	for range n {
		v, err := d.uint(255)
		if err != nil {
			return nil, err
		}
		out = append(out, byte(v))
	}
	return out, nil
}

// bytes reads a byte-slice field as a copy.
func (d *decoder) bytes() ([]byte, error) {
	v, isNil, err := d.raw()
	if err != nil || isNil {
		return nil, err
	}
	return append(make([]byte, 0, len(v)), v...), nil
}

func (d *decoder) string() (string, error) {
	v, _, err := d.raw()
	return string(v), err
}

// integer reads any integer family as a signed or unsigned 64-bit value.
func (d *decoder) integer() (u uint64, neg bool, err error) {
	c, err := d.byte()
	if err != nil {
		return 0, false, err
	}
	switch {
	case c < 0x80:
		return uint64(c), false, nil
	case c >= 0xe0:
		return uint64(int64(int8(c))), true, nil
	case c == 0xcc, c == 0xcd, c == 0xce, c == 0xcf:
		u, err = d.uintN(1 << (c - 0xcc))
		return u, false, err
	case c == 0xd0, c == 0xd1, c == 0xd2, c == 0xd3:
		n := 1 << (c - 0xd0)
		u, err = d.uintN(n)
		if err != nil {
			return 0, false, err
		}
		shift := 64 - 8*n
		v := int64(u<<shift) >> shift
		return uint64(v), v < 0, nil
	}
	return 0, false, fmt.Errorf("%w: expected an integer, found 0x%02x", ErrMalformed, c)
}

// uint reads an unsigned field no larger than limit.
func (d *decoder) uint(limit uint64) (uint64, error) {
	u, neg, err := d.integer()
	if err != nil {
		return 0, err
	}
	if neg || u > limit {
		return 0, fmt.Errorf("%w: integer out of range", ErrMalformed)
	}
	return u, nil
}

// int reads a signed field that fits in an int32 (every int field memberlist sends).
func (d *decoder) int() (int, error) {
	u, _, err := d.integer()
	if err != nil {
		return 0, err
	}
	v := int64(u)
	if v < math.MinInt32 || v > math.MaxInt32 {
		return 0, fmt.Errorf("%w: integer out of range", ErrMalformed)
	}
	return int(v), nil
}

func (d *decoder) bool() (bool, error) {
	if err := d.need(1); err != nil {
		return false, err
	}
	switch d.b[d.off] {
	case 0xc2:
		d.off++
		return false, nil
	case 0xc3:
		d.off++
		return true, nil
	}
	v, err := d.uint(1)
	return v == 1, err
}

// shape says how a msgpack value continues after its first byte: payload bytes that follow
// at once, nested items (a map's entries count twice), or a big-endian length of lenBytes bytes
// that counts payload bytes or items, as lenCounts says.
type shape struct {
	payload, items uint64
	lenBytes       int
	lenCounts      byte // 'b' bytes, 'a' array items, 'm' map entries
}

// shapeOf classifies a msgpack first byte; ok is false for bytes that start no value
// (0xc1). Ext values keep their type byte in the payload.
func shapeOf(c byte) (s shape, ok bool) {
	switch {
	case c < 0x80 || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
	case c&0xf0 == 0x80:
		s.items = 2 * uint64(c&0x0f)
	case c&0xf0 == 0x90:
		s.items = uint64(c & 0x0f)
	case c&0xe0 == 0xa0:
		s.payload = uint64(c & 0x1f)
	case c == 0xc4 || c == 0xd9:
		s.lenBytes, s.lenCounts = 1, 'b'
	case c == 0xc5 || c == 0xda:
		s.lenBytes, s.lenCounts = 2, 'b'
	case c == 0xc6 || c == 0xdb:
		s.lenBytes, s.lenCounts = 4, 'b'
	case c == 0xc7 || c == 0xc8 || c == 0xc9:
		s.lenBytes, s.lenCounts, s.payload = 1<<(c-0xc7), 'b', 1
	case c == 0xca:
		s.payload = 4
	case c == 0xcb:
		s.payload = 8
	case c >= 0xcc && c <= 0xcf:
		s.payload = 1 << (c - 0xcc)
	case c >= 0xd0 && c <= 0xd3:
		s.payload = 1 << (c - 0xd0)
	case c >= 0xd4 && c <= 0xd8:
		s.payload = 1 + 1<<(c-0xd4)
	case c == 0xdc:
		s.lenBytes, s.lenCounts = 2, 'a'
	case c == 0xdd:
		s.lenBytes, s.lenCounts = 4, 'a'
	case c == 0xde:
		s.lenBytes, s.lenCounts = 2, 'm'
	case c == 0xdf:
		s.lenBytes, s.lenCounts = 4, 'm'
	default:
		return s, false
	}
	return s, true
}

// withLength completes a shape with the length read for it.
func (s shape) withLength(n uint64) shape {
	switch s.lenCounts {
	case 'b':
		s.payload += n
	case 'a':
		s.items = n
	case 'm':
		s.items = 2 * n
	}
	return s
}

// skip passes over one value of any type.
func (d *decoder) skip(depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: nested too deeply", ErrMalformed)
	}
	c, err := d.byte()
	if err != nil {
		return err
	}
	s, ok := shapeOf(c)
	if !ok {
		return fmt.Errorf("%w: unknown msgpack byte 0x%02x", ErrMalformed, c)
	}
	if s.lenBytes > 0 {
		n, err := d.uintN(s.lenBytes)
		if err != nil {
			return err
		}
		s = s.withLength(n)
	}
	if s.payload > uint64(len(d.b)-d.off) || s.items > uint64(len(d.b)-d.off) {
		return ErrTruncated
	}
	d.off += int(s.payload)
	for range s.items {
		if err := d.skip(depth + 1); err != nil {
			return err
		}
	}
	return nil
}

// fields walks a map, calling field for each key; field returns false for keys it does not
// know, which are then skipped.
func (d *decoder) fields(field func(key []byte) (bool, error)) error {
	n, err := d.mapLen()
	if err != nil {
		return err
	}
	for range n {
		k, _, err := d.raw()
		if err != nil {
			return err
		}
		known, err := field(k)
		if err != nil {
			return err
		}
		if !known {
			if err := d.skip(0); err != nil {
				return err
			}
		}
	}
	return nil
}
