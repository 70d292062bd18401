package wire

// go-msgpack v2 is the codec memberlist encodes with. These tests hold ours to it: for random
// values our encoding is go-msgpack's byte for byte, and what go-msgpack encodes we decode.

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/stretchr/testify/require"
)

// memberlist's own struct shapes, field names and omitempty tags.
type mlPing struct {
	SeqNo      uint32
	Node       string
	SourceAddr []byte `codec:",omitempty"`
	SourcePort uint16 `codec:",omitempty"`
	SourceNode string `codec:",omitempty"`
}

type mlAlive struct {
	Incarnation uint32
	Node        string
	Addr        []byte
	Port        uint16
	Meta        []byte
	Vsn         []uint8
}

type mlPushNodeState struct {
	Name        string
	Addr        []byte
	Port        uint16
	Meta        []byte
	Incarnation uint32
	State       int
	Vsn         []uint8
}

func mlEncode(t *testing.T, v any) []byte {
	var b bytes.Buffer
	require.NoError(t, codec.NewEncoder(&b, &codec.MsgpackHandle{}).Encode(v))
	return b.Bytes()
}

func randBytes(r *rand.Rand, max int) []byte {
	if r.IntN(4) == 0 {
		return nil
	}
	b := make([]byte, r.IntN(max))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func randString(r *rand.Rand) string { return string(randBytes(r, 300)) }

func TestCrossCheckGoMsgpack(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		p := Ping{SeqNo: r.Uint32() >> r.IntN(32), Node: randString(r), SourceAddr: randBytes(r, 17), SourcePort: uint16(r.Uint32() >> r.IntN(32)), SourceNode: randString(r)}
		ml := mlPing(p)
		require.Equal(t, mlEncode(t, &ml), p.Append(nil)[1:])
		var back Ping
		require.NoError(t, back.Decode(mlEncode(t, &ml)))
		if len(back.SourceAddr) == 0 {
			back.SourceAddr = p.SourceAddr
		}
		require.Equal(t, p, back)

		a := Alive{Incarnation: r.Uint32() >> r.IntN(32), Node: randString(r), Addr: randBytes(r, 17), Port: uint16(r.Uint32()), Meta: randBytes(r, 600), Vsn: randBytes(r, 7)}
		mla := mlAlive(a)
		require.Equal(t, mlEncode(t, &mla), a.Append(nil)[1:])

		s := PushNodeState{Name: randString(r), Addr: randBytes(r, 17), Port: uint16(r.Uint32()), Meta: randBytes(r, 600),
			Incarnation: r.Uint32() >> r.IntN(32), State: int(r.Int32()) >> r.IntN(32), Vsn: randBytes(r, 7)}
		if r.IntN(2) == 0 {
			s.State = -s.State
		}
		mls := mlPushNodeState(s)
		enc := mlEncode(t, &mls)
		require.Equal(t, enc, s.AppendBody(nil))
		var sb PushNodeState
		n, err := sb.DecodeBody(enc)
		require.NoError(t, err)
		require.Equal(t, len(enc), n)
		require.Equal(t, s, sb)
	}
}

// Decoding is lenient as go-msgpack's is: unknown keys skipped, any order, str8 and bin.
func TestDecodeLenient(t *testing.T) {
	type extra struct {
		Zzz         []int
		Node        string
		Aaa         map[string]float64
		Incarnation uint64
		From        string
	}
	b := mlEncode(t, &extra{Zzz: []int{1, -2, 300}, Node: "n", Aaa: map[string]float64{"x": 1.5}, Incarnation: 7, From: "f"})
	var s Suspect
	require.NoError(t, s.Decode(b))
	require.Equal(t, Suspect{Incarnation: 7, Node: "n", From: "f"}, s)

	str8 := []byte{0x82, 0xa4, 'N', 'o', 'd', 'e', 0xd9, 1, 'x', 0xa5, 'S', 'e', 'q', 'N', 'o', 0xd2, 0, 0, 0, 5}
	var p Ping
	require.NoError(t, p.Decode(str8))
	require.Equal(t, Ping{Node: "x", SeqNo: 5}, p)
	neg := []byte{0x81, 0xa5, 'S', 'e', 'q', 'N', 'o', 0xff}
	require.ErrorIs(t, p.Decode(neg), ErrMalformed, "a negative value into an unsigned field")
}
