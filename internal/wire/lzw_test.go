package wire

// Our LZW coder against Go's compress/lzw, which memberlist uses: the same compressed bytes
// for every input, and the same verdict and output for every stream, valid or not.

import (
	"bytes"
	"compress/lzw"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func stdlibCompress(t testing.TB, src []byte) []byte {
	var b bytes.Buffer
	w := lzw.NewWriter(&b, lzw.LSB, 8)
	_, err := w.Write(src)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return b.Bytes()
}

func stdlibExpand(src []byte, limit int) ([]byte, error) {
	r := lzw.NewReader(bytes.NewReader(src), lzw.LSB, 8)
	defer r.Close()
	out, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err == nil && len(out) > limit {
		err = errLimit
	}
	return out, err
}

// checkLZW holds both directions to compress/lzw for src, and the decoder for src read as a
// compressed stream. It reports whether the stream was accepted.
func checkLZW(t *testing.T, src []byte, limit int) (accepted bool) {
	t.Helper()
	want := stdlibCompress(t, src)
	got := appendLZW([]byte("prefix"), src)
	require.Equal(t, want, got[len("prefix"):], "compressing %d bytes gives compress/lzw's bytes", len(src))
	back, err := expandLZW([]byte("x"), want, len(src))
	require.NoError(t, err, "expanding what compress/lzw made")
	require.Equal(t, string(src), string(back[1:]), "expanding gives back the input")

	stdOut, stdErr := stdlibExpand(src, limit)
	ourOut, ourErr := expandLZW(nil, src, limit)
	require.Equal(t, stdErr != nil, ourErr != nil, "the input as a stream: compress/lzw says %v, we say %v", stdErr, ourErr)
	if stdErr == nil {
		require.Equal(t, string(stdOut), string(ourOut), "the input as a stream expands alike")
	}
	return ourErr == nil
}

func TestLZWMatchesCompressLZW(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	inputs := [][]byte{nil, {0}, []byte("a"), []byte("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), []byte("abababababababababab")}
	for _, n := range []int{2, 100, 1400, 5000, 70000, 300000} {
		for _, alphabet := range []int{1, 2, 4, 26, 256} {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(r.IntN(alphabet))
			}
			inputs = append(inputs, b)
		}
		// Text-like: repeated runs of recent bytes, as push/pull states and gossip are.
		b := make([]byte, 0, n)
		for len(b) < n {
			if len(b) > 16 && r.IntN(3) > 0 {
				from := r.IntN(len(b) - 8)
				b = append(b, b[from:from+1+r.IntN(min(len(b)-from, 40))]...)
			} else {
				b = append(b, byte(r.IntN(256)))
			}
		}
		inputs = append(inputs, b[:n])
	}
	for _, in := range inputs {
		checkLZW(t, in, 1<<20)
	}
}

// Streams compress/lzw refuses, and streams that only an encoder other than Go's makes, are
// judged alike too.
func TestLZWDecoderMatchesOnOddStreams(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	valid := stdlibCompress(t, []byte("the quick brown fox jumps over the lazy dog, the quick brown fox"))
	verdicts := map[bool]int{}
	for i := 0; i < 5000; i++ {
		b := bytes.Clone(valid)
		switch i % 4 {
		case 0: // a flipped bit
			b[r.IntN(len(b))] ^= 1 << r.IntN(8)
		case 1: // cut short
			b = b[:r.IntN(len(b))]
		case 2: // random bytes after a clear code
			b = append([]byte{0x00, 0x01}, randBytes(r, 200)...)
		case 3: // a tight limit
			out, err := expandLZW(nil, b, i%70)
			stdOut, stdErr := stdlibExpand(b, i%70)
			require.Equal(t, stdErr != nil, err != nil, "a limit of %d", i%70)
			if err == nil {
				require.Equal(t, string(stdOut), string(out))
			}
			continue
		}
		verdicts[checkLZW(t, b, 1<<20)]++
	}
	require.Greater(t, verdicts[true], 100, "some damaged streams still expand")
	require.Greater(t, verdicts[false], 1000, "most damaged streams are refused")
	// A dictionary that fills without a clear (Go's encoder clears first; others need not):
	// 9 to 12-bit codes, each a literal, until and past the 4,096th code.
	var w bitWriter
	w.put(lzwClear, 9)
	width, next := uint(9), uint32(lzwEnd)
	for i := 0; i < 5000; i++ {
		w.put(uint32(r.IntN(256)), width)
		if next <= lzwLast {
			next++
			if next == 1<<width && width < lzwMaxWidth {
				width++
			}
		}
	}
	w.put(4095, width) // valid once the dictionary is full
	w.put(lzwEnd, width)
	full := w.bytes()
	checkLZW(t, full, 1<<20)
	_, err := expandLZW(nil, full, 1<<20)
	require.NoError(t, err, "a full dictionary's last entry may be sent")
}

type bitWriter struct {
	out   []byte
	bits  uint64
	nBits uint
}

func (w *bitWriter) put(code uint32, width uint) {
	w.bits |= uint64(code) << w.nBits
	w.nBits += width
	for w.nBits >= 8 {
		w.out = append(w.out, byte(w.bits))
		w.bits >>= 8
		w.nBits -= 8
	}
}

func (w *bitWriter) bytes() []byte {
	if w.nBits > 0 {
		return append(w.out, byte(w.bits))
	}
	return w.out
}

// FuzzLZW holds the coder to compress/lzw on the fuzzer's inputs, as data to compress and as
// a stream to expand.
func FuzzLZW(f *testing.F) {
	f.Add([]byte(nil))
	f.Add([]byte("abababababababababababab"))
	f.Add(stdlibCompress(f, []byte("the quick brown fox jumps over the lazy dog, the quick brown fox")))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkLZW(t, b, 1<<16)
	})
}

func BenchmarkLZW(b *testing.B) {
	msg := benchGossip()
	z := stdlibCompress(b, msg)
	b.Run("compress", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		var out []byte
		for b.Loop() {
			out = appendLZW(out[:0], msg)
		}
	})
	b.Run("compress/lzw", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		var buf bytes.Buffer
		w := lzw.NewWriter(&buf, lzw.LSB, 8).(*lzw.Writer)
		for b.Loop() {
			buf.Reset()
			w.Reset(&buf, lzw.LSB, 8)
			w.Write(msg)
			w.Close()
		}
	})
	b.Run("expand", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		var out []byte
		for b.Loop() {
			out, _ = expandLZW(out[:0], z, 1<<20)
		}
	})
	b.Run("compress/lzw-expand", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		r := lzw.NewReader(bytes.NewReader(z), lzw.LSB, 8).(*lzw.Reader)
		var out bytes.Buffer
		for b.Loop() {
			out.Reset()
			r.Reset(bytes.NewReader(z), lzw.LSB, 8)
			out.ReadFrom(r)
		}
	})
}

// benchGossip is a full packet of gossip: a compound of alive messages, as a join sends.
func benchGossip() []byte {
	var parts [][]byte
	size := 2
	for i := 0; size < 1300; i++ {
		a := &Alive{Incarnation: uint32(i), Node: "node-" + string(rune('a'+i%26)) + "-0" + string(rune('0'+i%10)),
			Addr: []byte{10, 0, byte(i >> 8), byte(i)}, Port: 7946, Vsn: []byte{1, 5, 2, 0, 0, 0}}
		p := a.Append(nil)
		parts = append(parts, p)
		size += len(p) + 2
	}
	return AppendCompound(nil, parts)
}

// BenchmarkLZWPushPull compresses and expands a push/pull of 2,000 members, as a join at
// that size exchanges thousands of.
func BenchmarkLZWPushPull(b *testing.B) {
	pp := PushPull{}
	for i := range 2000 {
		pp.Nodes = append(pp.Nodes, PushNodeState{Name: fmt.Sprintf("node-%d", i), Addr: []byte{10, 0, byte(i >> 8), byte(i)},
			Port: 7946, Incarnation: uint32(i % 7), State: i % 3, Vsn: []byte{1, 5, 5, 0, 0, 0}})
	}
	msg := pp.Append(nil)
	z := appendLZW(nil, msg)
	b.Run("compress", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		var out []byte
		for b.Loop() {
			out = appendLZW(out[:0], msg)
		}
	})
	b.Run("expand", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		var out []byte
		for b.Loop() {
			out, _ = expandLZW(out[:0], z, 1<<24)
		}
	})
}
