package wire

// LZW as memberlist's compress messages carry it (section 5.3): the variable-width LZW of GIF
// and TIFF, literals 8 bits wide, codes packed least significant bit first, starting 9 bits
// wide and growing to 12. Code 256 clears the dictionary and 257 ends the stream.
//
// memberlist uses Go's compress/lzw, and so did we; this coder gives the same bytes (greedy
// LZW has one output for one input: the same dictionary, the same points where the width
// grows, a clear first, a clear when the dictionary fills, then the end code). It exists
// because compress/lzw starts every stream by zeroing its whole state: 64 KiB for a writer,
// 20 KiB for a reader. A swim member compresses nearly every gossip packet, so for a packet
// of 1,400 bytes that zeroing was most of the cost, and in the simulator, which compresses
// the packets of thousands of members, most of a join's run time. Here a writer forgets only
// the dictionary entries its last stream made, and a reader needs no clearing at all: an
// entry is always written before it can be read.
//
// lzw_test.go holds this coder to compress/lzw, byte for byte, on random inputs and on the
// fuzzer's.

import (
	"errors"
	"slices"
	"sync"
)

const (
	lzwClear    = 256  // the code that empties the dictionary
	lzwEnd      = 257  // the code that ends the stream
	lzwMaxWidth = 12   // codes never grow wider
	lzwLast     = 4095 // the widest code, 1<<lzwMaxWidth - 1
	// lzwSlots is the size of the writer's hash table from (code, byte) to code: at most
	// 3,838 entries, so probes stay short.
	lzwSlots = 1 << 14
)

var (
	errLZWCode      = errors.New("lzw: code not in the dictionary")
	errLZWTruncated = errors.New("lzw: stream ends before its end code")
)

// lzwEncoder compresses one stream at a time; it is reused through lzwEncoders.
type lzwEncoder struct {
	// table maps a dictionary entry's key (the entry's prefix code << 8 | its last byte)
	// to its code, stored as key<<12 | code; 0 is an empty slot (no key is 0 with a code
	// of 258 or more).
	table [lzwSlots]uint32
	used  []uint16 // slots filled since the table was last emptied
	// recent holds, by prefix code, the entry found or made last with that prefix, as
	// (its last byte+1)<<12 | its code; 0 is none. A run of structured data follows the
	// same path through the dictionary again and again, and this small array (16 KiB, in
	// the nearest cache) answers most steps of it without the hash table.
	recent [lzwLast + 1]uint32
}

var lzwEncoders = sync.Pool{New: func() any { return new(lzwEncoder) }}

// appendLZW appends src, LZW-compressed, to dst.
func appendLZW(dst, src []byte) []byte {
	e := lzwEncoders.Get().(*lzwEncoder)
	defer lzwEncoders.Put(e)
	e.forget()
	w := lzwWriter{out: dst, width: 9}
	w.put(lzwClear)
	if len(src) == 0 {
		w.put(lzwEnd)
		return w.flush()
	}
	next := uint32(lzwEnd) // the code of the entry made last
	code := uint32(src[0])
bytes:
	for _, c := range src[1:] {
		if r := e.recent[code]; r>>12 == uint32(c)+1 {
			code = r & lzwLast // the match goes on with c
			continue
		}
		key := code<<8 | uint32(c)
		slot := (key * 0x9E3779B1) >> (32 - 14) & (lzwSlots - 1)
		for t := e.table[slot]; t != 0; t = e.table[slot] {
			if t>>12 == key {
				e.recent[code] = (uint32(c)+1)<<12 | t&lzwLast
				code = t & lzwLast // the match goes on with c
				continue bytes
			}
			slot = (slot + 1) & (lzwSlots - 1)
		}
		// The match ends before c: send it, make the entry for it and c, and start the
		// next match from c.
		w.put(code)
		prefix := code
		code = uint32(c)
		if next = w.grow(next); next == lzwEnd {
			e.forget() // the dictionary filled, and a clear was sent
			continue
		}
		e.table[slot] = key<<12 | next
		e.recent[prefix] = (uint32(c)+1)<<12 | next
		e.used = append(e.used, uint16(slot))
	}
	w.put(code)
	w.grow(next)
	w.put(lzwEnd)
	return w.flush()
}

// forget empties the dictionary.
func (e *lzwEncoder) forget() {
	for _, s := range e.used {
		e.recent[e.table[s]>>20] = 0
		e.table[s] = 0
	}
	e.used = e.used[:0]
}

// lzwWriter packs codes, least significant bit first.
type lzwWriter struct {
	out   []byte
	bits  uint64 // pending bits
	nBits uint
	width uint // bits per code now
}

func (w *lzwWriter) put(code uint32) {
	w.bits |= uint64(code) << w.nBits
	w.nBits += w.width
	if w.nBits >= 32 {
		w.out = append(w.out, byte(w.bits), byte(w.bits>>8), byte(w.bits>>16), byte(w.bits>>24))
		w.bits >>= 32
		w.nBits -= 32
	}
}

// grow follows a code just sent: the decoder, on reading it, makes the next dictionary
// entry, and widens its codes when that entry's code no longer fits. It returns the new
// entry's code, or, when the dictionary is full, sends a clear code, goes back to 9 bits and
// returns lzwEnd: no entry is to be made, and the next one will be the first again.
func (w *lzwWriter) grow(last uint32) uint32 {
	next := last + 1
	if next == 1<<w.width && w.width < lzwMaxWidth {
		w.width++
	}
	if next < lzwLast {
		return next
	}
	w.put(lzwClear)
	w.width = 9
	return lzwEnd
}

// flush writes out the pending bits, the last byte padded with zeros.
func (w *lzwWriter) flush() []byte {
	for ; w.nBits > 0; w.nBits -= min(w.nBits, 8) {
		w.out = append(w.out, byte(w.bits))
		w.bits >>= 8
	}
	return w.out
}

// lzwDecoder expands one stream at a time; it is reused through lzwDecoders. Every entry's
// bytes have already been written out once, in one piece (an entry is the expansion of one
// code and the first byte of the next), so an entry is kept as where in the output that
// piece starts and how long it is, and expanding it is a copy.
type lzwDecoder struct {
	at     [lzwLast + 1]int32
	length [lzwLast + 1]uint16
}

var lzwDecoders = sync.Pool{New: func() any { return new(lzwDecoder) }}

// expandLZW appends the expansion of the LZW stream src to dst. It refuses to append more
// than limit bytes (errLimit) and refuses a stream with a code outside the dictionary or
// without an end code. Bytes after the end code are ignored.
func expandLZW(dst, src []byte, limit int) ([]byte, error) {
	d := lzwDecoders.Get().(*lzwDecoder)
	defer lzwDecoders.Put(d)
	var (
		bits  uint64
		nBits uint
		width uint   = 9
		next  uint32 = lzwEnd // the code of the next entry, once a code has been read
		prev         = -1     // where the last code's expansion starts, while an entry is due
		start        = len(dst)
	)
	for {
		for nBits < width {
			if len(src) == 0 {
				return dst, errLZWTruncated
			}
			bits |= uint64(src[0]) << nBits
			nBits += 8
			src = src[1:]
		}
		code := uint32(bits) & (1<<width - 1)
		bits >>= width
		nBits -= width
		switch {
		case code == lzwClear:
			width, next, prev = 9, lzwEnd, -1
			continue
		case code == lzwEnd:
			return dst, nil
		case code > next || code == next && prev < 0:
			return dst, errLZWCode
		}
		here := len(dst)
		if prev >= 0 {
			// The entry the sender made on sending the last code: its expansion and the
			// first byte of this code's, which follows it in the output.
			d.at[next] = int32(prev)
			d.length[next] = uint16(here-prev) + 1
		}
		n := 1
		if code > lzwEnd {
			n = int(d.length[code])
		}
		if here-start+n > limit {
			return dst, errLimit
		}
		switch {
		case code < lzwClear:
			dst = append(dst, byte(code))
		case code == next:
			// The entry just made: it ends with its own first byte, which this very copy
			// writes, so it is copied a byte at a time.
			dst = slices.Grow(dst, n)[:here+n]
			for i, from := here, int(d.at[code]); i < here+n; i, from = i+1, from+1 {
				dst[i] = dst[from]
			}
		default:
			from := int(d.at[code])
			dst = append(dst, dst[from:from+n]...)
		}
		prev = here
		if next <= lzwLast {
			next++
			if next == 1<<width && width < lzwMaxWidth {
				width++
			}
		}
		if next > lzwLast {
			// The dictionary is full: no more entries until a clear, and every code
			// is one of its entries.
			prev = -1
		}
	}
}

// errLimit is returned by expandLZW for a stream that expands past its limit.
var errLimit = errors.New("lzw: expands past the limit")
