// Package wire is the memberlist-compatible codec: every message of hashicorp/memberlist's
// protocol (v0.7.0, protocol versions 1 to 5), encoded byte for byte as memberlist encodes it
// and decoded as leniently as memberlist decodes it, plus the packet wrappers (compound,
// compress, CRC, label) and stream framing. The specification is shared/wire-format.md; the
// section numbers in comments refer to it.
//
// The msgpack subset is written by hand: encoding appends to a caller's buffer without
// allocating, and decoding checks every length against the bytes actually present before it
// allocates, so no input can make it allocate more than the input's size (or a configured
// limit, for decompression and streams). It is cross-checked against go-msgpack, the codec
// memberlist uses, in the tests.
package wire
