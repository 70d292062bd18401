package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

var (
	lo4   = []byte{127, 0, 0, 1}
	ten2  = []byte{10, 0, 0, 2}
	vsn   = []byte{1, 5, 2, 0, 0, 0}
	tv1   = "0085a44e6f6465a66e6f64652d62a55365714e6f01aa536f7572636541646472a47f000001aa536f757263654e6f6465a66e6f64652d61aa536f75726365506f7274cd1f0a"
	tv6s  = "0383a446726f6da66e6f64652d61ab496e6361726e6174696f6e03a44e6f6465a66e6f64652d63"
	tv7pp = "0683a44a6f696ec2a54e6f64657301ac5573657253746174654c656e0287a441646472a47f000001ab496e6361726e6174696f6e01a44d657461c0a44e616d65a66e6f64652d61a4506f7274cd1f0aa5537461746500a356736ea60105020000005553"
)

// Section 12: every test vector, encoded byte for byte and decoded back.
func TestVectors(t *testing.T) {
	cases := []struct {
		name string
		hex  string
		enc  func() []byte
		dec  func([]byte) (any, error)
		want any
	}{
		{"TV-1 ping", tv1,
			func() []byte {
				return (&Ping{SeqNo: 1, Node: "node-b", SourceAddr: lo4, SourcePort: 7946, SourceNode: "node-a"}).Append(nil)
			},
			func(b []byte) (any, error) { var m Ping; return m, m.Decode(b) }, nil},
		{"TV-2 ping without source", "0082a44e6f6465a162a55365714e6f01",
			func() []byte { return (&Ping{SeqNo: 1, Node: "b"}).Append(nil) }, nil, nil},
		{"TV-3 alive", "0486a441646472a47f000001ab496e6361726e6174696f6e01a44d657461c0a44e6f6465a66e6f64652d61a4506f7274cd1f0aa356736ea6010502000000",
			func() []byte {
				return (&Alive{Incarnation: 1, Node: "node-a", Addr: lo4, Port: 7946, Vsn: vsn}).Append(nil)
			}, nil, nil},
		{"TV-3 alive inc 300 meta m", "0486a441646472a47f000001ab496e6361726e6174696f6ecd012ca44d657461a16da44e6f6465a66e6f64652d61a4506f7274cd1f0aa356736ea6010502000000",
			func() []byte {
				return (&Alive{Incarnation: 300, Node: "node-a", Addr: lo4, Port: 7946, Meta: []byte("m"), Vsn: vsn}).Append(nil)
			}, nil, nil},
		{"TV-3 alive empty meta", "0486a441646472a47f000001ab496e6361726e6174696f6e01a44d657461a0a44e6f6465a66e6f64652d61a4506f7274cd1f0aa356736ea6010502000000",
			func() []byte {
				return (&Alive{Incarnation: 1, Node: "node-a", Addr: lo4, Port: 7946, Meta: []byte{}, Vsn: vsn}).Append(nil)
			}, nil, nil},
		{"TV-4 indirect ping", "0188a44e61636bc3a44e6f6465a66e6f64652d63a4506f7274cd1f0aa55365714e6f07aa536f7572636541646472a47f000001aa536f757263654e6f6465a66e6f64652d61aa536f75726365506f7274cd1f0aa6546172676574a40a000002",
			func() []byte {
				return (&IndirectPingReq{SeqNo: 7, Target: ten2, Port: 7946, Node: "node-c", Nack: true, SourceAddr: lo4, SourcePort: 7946, SourceNode: "node-a"}).Append(nil)
			}, nil, nil},
		{"TV-5 ack", "0282a75061796c6f6164c0a55365714e6f01", func() []byte { return (&AckResp{SeqNo: 1}).Append(nil) }, nil, nil},
		{"TV-5 ack payload", "0282a75061796c6f6164a26869a55365714e6f01", func() []byte { return (&AckResp{SeqNo: 1, Payload: []byte("hi")}).Append(nil) }, nil, nil},
		{"TV-5 ack 777", "0282a75061796c6f6164c0a55365714e6fcd0309", func() []byte { return (&AckResp{SeqNo: 777}).Append(nil) }, nil, nil},
		{"TV-5 nack", "0b81a55365714e6f07", func() []byte { return (&NackResp{SeqNo: 7}).Append(nil) }, nil, nil},
		{"TV-6 suspect", tv6s, func() []byte { return (&Suspect{Incarnation: 3, Node: "node-c", From: "node-a"}).Append(nil) }, nil, nil},
		{"TV-6 dead", "0583a446726f6da66e6f64652d63ab496e6361726e6174696f6e03a44e6f6465a66e6f64652d63",
			func() []byte { return (&Dead{Incarnation: 3, Node: "node-c", From: "node-c"}).Append(nil) }, nil, nil},
		{"TV-6 err", "0d81a54572726f72a4626f6f6d", func() []byte { return (&ErrResp{Error: "boom"}).Append(nil) }, nil, nil},
		{"TV-7 header", "83a44a6f696ec3a54e6f64657301ac5573657253746174654c656e00",
			func() []byte { return (&PushPullHeader{Nodes: 1, Join: true}).AppendBody(nil) }, nil, nil},
		{"TV-7 header 200", "83a44a6f696ec2a54e6f646573d100c8ac5573657253746174654c656ed103e8",
			func() []byte { return (&PushPullHeader{Nodes: 200, UserStateLen: 1000}).AppendBody(nil) }, nil, nil},
		{"TV-7 header 40000", "83a44a6f696ec2a54e6f646573d200009c40ac5573657253746174654c656ed2004c4b40",
			func() []byte { return (&PushPullHeader{Nodes: 40000, UserStateLen: 5000000}).AppendBody(nil) }, nil, nil},
		{"TV-7 left state", "87a441646472a40a000002ab496e6361726e6174696f6e05a44d657461a178a44e616d65a66e6f64652d63a4506f7274cd1f0aa5537461746503a356736ea6010502000000",
			func() []byte {
				return (&PushNodeState{Name: "node-c", Addr: ten2, Port: 7946, Meta: []byte("x"), Incarnation: 5, State: 3, Vsn: vsn}).AppendBody(nil)
			}, nil, nil},
		{"TV-7 push/pull", tv7pp,
			func() []byte {
				return (&PushPull{Nodes: []PushNodeState{{Name: "node-a", Addr: lo4, Port: 7946, Incarnation: 1, Vsn: vsn}}, UserState: []byte("US")}).Append(nil)
			}, nil, nil},
		{"TV-8 stream user", "0881aa557365724d73674c656e0568656c6c6f", func() []byte { return AppendStreamUser(nil, []byte("hello")) }, nil, nil},
		{"TV-8 header 200", "81aa557365724d73674c656ed100c8", func() []byte { return (&UserMsgHeader{UserMsgLen: 200}).AppendBody(nil) }, nil, nil},
		{"TV-10 compound", "070200450027" + tv1 + tv6s,
			func() []byte {
				return AppendCompound(nil, [][]byte{(&Ping{SeqNo: 1, Node: "node-b", SourceAddr: lo4, SourcePort: 7946, SourceNode: "node-a"}).Append(nil),
					(&Suspect{Incarnation: 3, Node: "node-c", From: "node-a"}).Append(nil)})
			}, nil, nil},
		{"TV-11 compress", "0982a4416c676f00a3427566da004100011422e5e40d9932a6dc182cd3424ca92965e2140ca06aca9b3a72c6940942868c1c527f0000a06811a3c68207132e6c11a6e2c58c65a0bc9143a7d907050101",
			func() []byte { return AppendCompress(nil, unhex(t, tv1)) }, nil, nil},
		{"TV-12 crc", "0c86148b66" + tv1, func() []byte { return AppendCRC(nil, unhex(t, tv1)) }, nil, nil},
		{"TV-12 label+crc", "f40470726f640c86148b66" + tv1, func() []byte { return AppendCRC(AppendLabel(nil, "prod"), unhex(t, tv1)) }, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.hex, hex.EncodeToString(c.enc()))
		})
	}
}

// Decoding the vectors gives the values back (section 2.2).
func TestDecodeVectors(t *testing.T) {
	var p Ping
	require.NoError(t, p.Decode(unhex(t, tv1)[1:]))
	require.Equal(t, Ping{SeqNo: 1, Node: "node-b", SourceAddr: lo4, SourcePort: 7946, SourceNode: "node-a"}, p)

	pp, err := decodePushPull(unhex(t, tv7pp)[1:], DefaultLimits())
	require.NoError(t, err)
	require.Equal(t, &PushPull{Nodes: []PushNodeState{{Name: "node-a", Addr: lo4, Port: 7946, Incarnation: 1, Vsn: vsn}}, UserState: []byte("US")}, pp)

	var got [][]byte
	Unpack(unhex(t, "0c86148b66"+tv1), DefaultLimits(), nil, func(m []byte) { got = append(got, append([]byte(nil), m...)) }, func(err error) { t.Fatal(err) })
	require.Equal(t, [][]byte{unhex(t, tv1)}, got)

	out, err := Decompress(unhex(t, "0982a4416c676f00a3427566b70005083a05254c1e366fc29001566a4a99384ede080808")[1:], 1<<20)
	require.NoError(t, err)
	require.Equal(t, "0282a75061796c6f6164c0a55365714e6f02", hex.EncodeToString(out), "TV-14 live ack")

	errMsg, err := Decompress(unhex(t, "0982a4416c676f00a3427566da0044001b042a55448e9c3772b401d021a74c9b3774ca809843274c441069e68028e3668c9c3c7022920111c6cd488e1e41d249f3c60d468d6e208218d3d24c9a33751a920908")[1:], 1<<20)
	require.NoError(t, err)
	var e ErrResp
	require.NoError(t, e.Decode(errMsg[1:]))
	require.Equal(t, "remote state is encrypted and encryption is not configured", e.Error)

	var parts [][]byte
	Unpack(unhex(t, "07020012004a0282a75061796c6f6164c0a55365714e6f010486a441646472a47f000001ab496e6361726e6174696f6e01a44d657461a87265616c6d657461a44e6f6465aa7265616c2d706c61696ea4506f7274cd9849a356736ea6010502000000"),
		DefaultLimits(), nil, func(m []byte) { parts = append(parts, append([]byte(nil), m...)) }, func(err error) { t.Fatal(err) })
	require.Len(t, parts, 2)
	var a Alive
	require.NoError(t, a.Decode(parts[1][1:]))
	require.Equal(t, "real-plain", a.Node)
	require.Equal(t, "realmeta", string(a.Meta))
	require.Equal(t, uint16(38985), a.Port)
}

// Streams: each form read one value at a time from a reader that hands out one byte per Read.
func TestReadStreamMessage(t *testing.T) {
	opt := StreamOptions{Limits: DefaultLimits()}
	for _, msg := range [][]byte{
		unhex(t, tv7pp), unhex(t, tv1), AppendStreamUser(nil, []byte("hello")), (&AckResp{SeqNo: 2}).Append(nil),
	} {
		got, err := ReadStreamMessage(iotest.OneByteReader(bytes.NewReader(append(msg, 0xff, 0xff))), opt)
		require.NoError(t, err)
		require.Equal(t, msg, got, "exactly one message is read")
		z := AppendCompress(nil, msg)
		got, err = ReadStreamMessage(iotest.OneByteReader(bytes.NewReader(z)), opt)
		require.NoError(t, err)
		require.Equal(t, msg, got, "compressed form")
		_, err = ReadStreamMessage(bytes.NewReader(msg[:len(msg)-1]), opt)
		require.ErrorIs(t, err, ErrTruncated)
		whole := append(slices.Clone(msg), 0xff, 0xff)
		got, err = StreamMessageOf(whole, opt)
		require.NoError(t, err)
		require.Equal(t, msg, got, "in memory: exactly one message is read")
		require.Same(t, &whole[0], &got[0], "in memory: the message is a window of the stream")
		require.Equal(t, len(got), cap(got), "in memory: appending to the message cannot write over the stream")
		got, err = StreamMessageOf(z, opt)
		require.NoError(t, err)
		require.Equal(t, msg, got, "in memory: compressed form")
		_, err = StreamMessageOf(msg[:len(msg)-1], opt)
		require.ErrorIs(t, err, ErrTruncated)
	}
	for _, read := range []func([]byte, StreamOptions) ([]byte, error){
		func(b []byte, opt StreamOptions) ([]byte, error) { return ReadStreamMessage(bytes.NewReader(b), opt) },
		StreamMessageOf,
	} {
		_, err := read([]byte{10, 0, 0, 0, 4, 1, 2, 3, 4}, opt)
		require.ErrorIs(t, err, ErrEncryptionNotConfigured)
		_, err = read(unhex(t, tv1), StreamOptions{Limits: DefaultLimits(), RequireEncryption: true})
		require.ErrorIs(t, err, ErrNotEncrypted)
		_, err = read([]byte{5}, opt)
		require.ErrorIs(t, err, ErrUnknownType)
		_, err = read(nil, opt)
		require.ErrorIs(t, err, ErrTruncated)
	}
}

// Hostile sizes are refused before anything is allocated for them.
func TestHostileSizes(t *testing.T) {
	opt := StreamOptions{Limits: DefaultLimits()}
	huge := (&PushPullHeader{Nodes: 1 << 30}).AppendBody([]byte{6})
	allocs := testing.AllocsPerRun(10, func() {
		_, err := ReadStreamMessage(bytes.NewReader(huge), opt)
		if !errors.Is(err, ErrOversized) {
			t.Fatalf("push/pull with 2^30 nodes: %v", err)
		}
	})
	require.Less(t, allocs, 20.0)

	str32 := []byte{0, 0x81, 0xa4, 'N', 'o', 'd', 'e', 0xdb, 0xff, 0xff, 0xff, 0xff}
	_, err := ReadStreamMessage(bytes.NewReader(str32), opt)
	require.ErrorIs(t, err, ErrOversized, "a 4 GiB string in a stream")
	var p Ping
	require.ErrorIs(t, p.Decode(str32[1:]), ErrTruncated, "a 4 GiB string in a packet")

	small := DefaultLimits()
	small.MaxPacketDecompressed = 100
	_, err = Decompress(AppendCompress(nil, make([]byte, 1000))[1:], small.MaxPacketDecompressed)
	require.ErrorIs(t, err, ErrOversized)

	_, err = DecodeStates((&PushPullHeader{Nodes: 1000}).AppendBody(nil), DefaultLimits())
	require.ErrorIs(t, err, ErrTruncated, "a count the bytes cannot hold")
}

func TestLabel(t *testing.T) {
	l, rest, err := StripLabel(unhex(t, "f40470726f64"+tv1))
	require.NoError(t, err)
	require.Equal(t, "prod", string(l))
	require.Equal(t, unhex(t, tv1), rest)
	_, _, err = StripLabel([]byte{0xf4, 0})
	require.ErrorIs(t, err, ErrBadLabel)
	_, _, err = StripLabel([]byte{0xf4, 9, 'a'})
	require.ErrorIs(t, err, ErrTruncated)
}

func TestCompoundTruncated(t *testing.T) {
	c := AppendCompound(nil, [][]byte{unhex(t, tv1), unhex(t, tv6s)})
	var got int
	var errs []error
	Unpack(c[:len(c)-3], DefaultLimits(), nil, func([]byte) { got++ }, func(err error) { errs = append(errs, err) })
	require.Equal(t, 1, got, "the complete part is still delivered")
	require.Len(t, errs, 1)
	require.ErrorIs(t, errs[0], ErrTruncated)
	bad := append(AppendCRC(nil, unhex(t, tv1)), 0)
	Unpack(bad, DefaultLimits(), nil, func([]byte) { t.Fatal("a packet failing its CRC delivered a message") }, func(err error) { require.ErrorIs(t, err, ErrCRCMismatch) })
}

// Compress gives what AppendCompress gives, in a buffer of its own, with scratch reused
// between calls.
func TestCompress(t *testing.T) {
	big := (&PushPull{Nodes: make([]PushNodeState, 3000)}).Append(nil)
	for _, msg := range [][]byte{unhex(t, tv7pp), big, unhex(t, tv1), big[:200]} {
		z := Compress(msg)
		require.Equal(t, AppendCompress(nil, msg), z)
		require.LessOrEqual(t, cap(z), len(z)+len(z)/8+64, "no room left over from the scratch buffer")
	}
	a, b := Compress(big), Compress(big)
	require.NotSame(t, &a[0], &b[0], "each call gets a buffer of its own")
}

// Decoding a push/pull allocates per message, not per entry; an entry copied out holds its
// byte strings in one allocation, each capped at its own length: a caller appending to one
// cannot write over the next.
func TestDecodeStatesAllocations(t *testing.T) {
	pp := PushPull{}
	for i := range 1000 {
		pp.Nodes = append(pp.Nodes, PushNodeState{Name: fmt.Sprintf("node-%d", i), Addr: []byte{10, 0, byte(i >> 8), byte(i)},
			Port: 7946, Meta: []byte("m"), Vsn: []byte{1, 5, 5, 0, 0, 0}})
	}
	body := pp.Append(nil)[1:]
	ps, err := DecodeStates(body, DefaultLimits())
	require.NoError(t, err)
	n := ps.Node(0)
	require.Equal(t, pp.Nodes[0], n)
	_ = append(n.Addr, 0xee)
	_ = append(n.Meta, 0xee)
	require.Equal(t, pp.Nodes[0], n, "an append to one byte string left the next alone")
	allocs := testing.AllocsPerRun(5, func() {
		if _, err := DecodeStates(body, DefaultLimits()); err != nil {
			t.Fatal(err)
		}
	})
	require.LessOrEqual(t, allocs, 3.0, "the message and its entries, nothing per entry")
}

// A decoded push/pull reads its entries in place: a byte string sent as an array of integers
// is read the same as one sent as bytes, a nil stays nil and an empty one empty, and what
// Node copies out is the caller's to change.
func TestPushStatesReadInPlace(t *testing.T) {
	a := PushNodeState{Name: "a", Addr: []byte{10, 0, 0, 1}, Port: 7946, Incarnation: 3, State: 2, Vsn: []byte{1, 5, 5, 0, 0, 0}}
	b := PushNodeState{Name: "b", Addr: []byte{10, 0, 0, 2}, Port: 7947, Meta: []byte{}, Incarnation: 1 << 31, Vsn: []byte{1, 5, 4, 0, 0, 0}}
	body := (&PushPull{Nodes: []PushNodeState{a, b}, UserState: []byte("us")}).Append(nil)[1:]
	// b's versions as memberlist's older encoders wrote them: an array of six integers.
	vsn := appendBytes(nil, b.Vsn)
	at := bytes.LastIndex(body, vsn)
	require.Positive(t, at)
	body = slices.Concat(body[:at], []byte{0x96, 1, 5, 4, 0, 0, 0}, body[at+len(vsn):])

	ps, err := DecodeStates(body, DefaultLimits())
	require.NoError(t, err)
	require.Equal(t, 2, ps.Len())
	require.Equal(t, []byte("us"), ps.UserState)
	for i, want := range []PushNodeState{a, b} {
		require.Equal(t, want.Name, ps.Name(i))
		require.Equal(t, want.State, ps.State(i))
		require.Equal(t, want.Incarnation, ps.Incarnation(i))
		require.Equal(t, want.Vsn, ps.Vsn(i))
		require.Equal(t, want, ps.Node(i))
	}
	require.Nil(t, ps.Node(0).Meta)
	require.NotNil(t, ps.Node(1).Meta)

	n := ps.Node(0)
	n.Addr[0], n.Vsn[0] = 99, 99
	_ = append(n.Addr, 0xee, 0xee)
	require.Equal(t, a, ps.Node(0), "writing to a copied-out entry leaves the message alone")
	require.Equal(t, b, ps.Node(1))
}

// AppendNodeState gives what AppendBody gives.
func TestAppendNodeState(t *testing.T) {
	for _, s := range []PushNodeState{
		{Name: "node-1", Addr: []byte{10, 0, 0, 1}, Port: 7946, Incarnation: 3, State: 1, Vsn: []byte{1, 5, 5, 0, 0, 0}},
		{Name: strings.Repeat("n", 300), Addr: make([]byte, 16), Port: 1, Meta: make([]byte, 512), Incarnation: 1 << 31, State: 3},
		{},
	} {
		parts := s.PartsOf()
		for _, inc := range []uint32{0, 1, 127, 128, 70000, s.Incarnation} {
			for _, st := range []int{0, 1, 2, 3, s.State} {
				s.Incarnation, s.State = inc, st
				require.Equal(t, s.AppendBody([]byte{9}), AppendNodeState([]byte{9}, &parts, inc, st))
			}
		}
	}
}
