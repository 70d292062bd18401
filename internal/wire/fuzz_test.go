package wire

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

func seeds(f *testing.F) {
	for _, h := range []string{tv1, tv6s, tv7pp, "0282a75061796c6f6164a26869a55365714e6f01", "0b81a55365714e6f07",
		"0486a441646472a47f000001ab496e6361726e6174696f6e01a44d657461c0a44e6f6465a66e6f64652d61a4506f7274cd1f0aa356736ea6010502000000",
		"0881aa557365724d73674c656e0568656c6c6f", "0c86148b66" + tv1, "070200450027" + tv1 + tv6s} {
		b, _ := hex.DecodeString(h)
		f.Add(b)
		f.Add(b[1:])
	}
	f.Add(AppendCompress(nil, []byte(tv1)))
}

// each decoder must return, without panicking, on any input; what decodes must re-encode to
// something that decodes to the same value.
func FuzzDecodeMessages(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Ping
		if p.Decode(b) == nil {
			var q Ping
			if err := q.Decode(p.Append(nil)[1:]); err != nil {
				t.Fatalf("re-decoding a ping: %v", err)
			}
		}
		var ip IndirectPingReq
		_ = ip.Decode(b)
		var a AckResp
		_ = a.Decode(b)
		var n NackResp
		_ = n.Decode(b)
		var s Suspect
		if s.Decode(b) == nil {
			var s2 Suspect
			if err := s2.Decode(s.Append(nil)[1:]); err != nil || s2 != s {
				t.Fatalf("suspect round trip: %v %+v %+v", err, s, s2)
			}
		}
		var al Alive
		_ = al.Decode(b)
		var d Dead
		_ = d.Decode(b)
		var e ErrResp
		_ = e.Decode(b)
	})
}

func FuzzDecodePushPull(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		pp, err := decodePushPull(b, DefaultLimits())
		want, wantErr := decodeEachNodeState(b, DefaultLimits())
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("DecodeStates says %v, node state by node state %v", err, wantErr)
		}
		if err == nil {
			require.Equal(t, want, pp, "the same as decoding node state by node state")
			if _, err := decodePushPull(pp.Append(nil)[1:], DefaultLimits()); err != nil {
				t.Fatalf("re-decoding a push/pull: %v", err)
			}
		}
		_, _ = DecodeStreamUser(b, DefaultLimits())
	})
}

// decodePushPull decodes a push/pull body into a PushPull of its own: DecodeStates, every
// entry copied out.
func decodePushPull(body []byte, lim Limits) (*PushPull, error) {
	ps, err := DecodeStates(body, lim)
	if err != nil {
		return nil, err
	}
	p := &PushPull{Join: ps.Join, Nodes: make([]PushNodeState, ps.Len()), UserState: ps.UserState}
	for i := range p.Nodes {
		p.Nodes[i] = ps.Node(i)
	}
	return p, nil
}

// decodeEachNodeState decodes a push/pull body the plain way: the header, then each entry
// with PushNodeState.DecodeBody, then the user state. DecodeStates must agree with it.
func decodeEachNodeState(body []byte, lim Limits) (*PushPull, error) {
	var h PushPullHeader
	off, err := h.DecodeBody(body)
	if err != nil {
		return nil, err
	}
	if err := checkPushPullHeader(&h, lim); err != nil {
		return nil, err
	}
	if h.Nodes > (len(body)-off)/minNodeStateSize {
		return nil, ErrTruncated
	}
	p := &PushPull{Join: h.Join, Nodes: make([]PushNodeState, h.Nodes)}
	for i := range p.Nodes {
		n, err := p.Nodes[i].DecodeBody(body[off:])
		if err != nil {
			return nil, err
		}
		off += n
	}
	if len(body)-off < h.UserStateLen {
		return nil, ErrTruncated
	}
	if h.UserStateLen > 0 {
		p.UserState = body[off : off+h.UserStateLen]
	}
	return p, nil
}

func FuzzUnpack(f *testing.F) {
	seeds(f)
	lim := DefaultLimits()
	lim.MaxPacketDecompressed = 1 << 16
	f.Fuzz(func(t *testing.T, b []byte) {
		Unpack(b, lim, nil, func(m []byte) {
			if len(m) == 0 {
				t.Fatal("Unpack delivered an empty message")
			}
		}, func(error) {})
		_, _ = SplitCompound(b, nil)
		_, _ = Decompress(b, 1<<16)
		if len(b) > 0 && b[0] == byte(HasCrcMsg) {
			_, _ = CheckCRC(b)
		}
		_, _, _ = StripLabel(b)
	})
}

func FuzzReadStreamMessage(f *testing.F) {
	seeds(f)
	lim := DefaultLimits()
	lim.MaxDecompressed = 1 << 20
	f.Fuzz(func(t *testing.T, b []byte) {
		msg, err := ReadStreamMessage(bytes.NewReader(b), StreamOptions{Limits: lim})
		if err == nil && len(msg) == 0 {
			t.Fatal("an empty message without an error")
		}
		// A stream whole in memory reads the same, without copying.
		inMem, memErr := StreamMessageOf(b, StreamOptions{Limits: lim})
		if !bytes.Equal(msg, inMem) || (err == nil) != (memErr == nil) {
			t.Fatalf("from a reader: %x, %v; in memory: %x, %v", msg, err, inMem, memErr)
		}
		for _, kind := range []error{ErrTruncated, ErrOversized, ErrMalformed, ErrUnknownType} {
			if errors.Is(err, kind) != errors.Is(memErr, kind) {
				t.Fatalf("from a reader: %v; in memory: %v", err, memErr)
			}
		}
	})
}

// CutStreamLabel reads what ReadStreamLabel reads, and leaves the rest.
func FuzzStreamLabel(f *testing.F) {
	f.Add([]byte{byte(HasLabelMsg), 3, 'a', 'b', 'c', 1, 2})
	f.Add([]byte{byte(HasLabelMsg), 0})
	f.Add([]byte{byte(HasLabelMsg), 9, 'a'})
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		br := bufio.NewReader(bytes.NewReader(b))
		label, had, err := ReadStreamLabel(br)
		cut, cutHad, rest, cutErr := CutStreamLabel(b)
		if !bytes.Equal(label, cut) || had != cutHad || (err == nil) != (cutErr == nil) ||
			errors.Is(err, ErrBadLabel) != errors.Is(cutErr, ErrBadLabel) || errors.Is(err, ErrTruncated) != errors.Is(cutErr, ErrTruncated) {
			t.Fatalf("from a reader: %q %v %v; in memory: %q %v %v", label, had, err, cut, cutHad, cutErr)
		}
		if err == nil {
			left, _ := io.ReadAll(br)
			if !bytes.Equal(left, rest) {
				t.Fatalf("left %x from a reader, %x in memory", left, rest)
			}
		}
	})
}
