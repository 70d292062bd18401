package swim

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"

	"github.com/swim-go/swim/internal/wire"
)

func unhexT(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

// TV-13 (wire-format.md section 12): AES-128, a fixed nonce, TV-1 as the plaintext.
const (
	tv1Ping     = "0085a44e6f6465a66e6f64652d62a55365714e6f01aa536f7572636541646472a47f000001aa536f757263654e6f6465a66e6f64652d61aa536f75726365506f7274cd1f0a"
	tv13Key     = "000102030405060708090a0b0c0d0e0f"
	tv13Nonce   = "a0a1a2a3a4a5a6a7a8a9aaab"
	tv13Body    = "a0a1a2a3a4a5a6a7a8a9aaabaa039cf511ed56ace417d1656b701533369f6d6782bd6ec0506212fe03e9ebda3edc45310e40bf020aac81a1e1b46db51a3a232d56acf747d159fbb88600541283457ecd61"
	tv13V1Label = "01" + tv13Body + "d454fe40c046465719b129d1141efbdf"
	tv13V1      = "01" + tv13Body + "e12f646f5d8235e2291d553116c1fda2"
	tv13V0      = "00" + tv13Body + "7d9ac9db1884b952224e8bb01f84295783c3427c2ba5381c430acc"
	tv13Stream  = "0a00000062" + "01" + tv13Body + "6f8263de1839fb68fad80acb52dd268c"
)

// fixedNonce makes encryption reproducible for the vectors.
func fixedNonce(t testing.TB) func([]byte) {
	n := unhexT(t, tv13Nonce)
	return func(b []byte) { copy(b, n) }
}

func tv13Security(t testing.TB, label string, vsn byte, keys ...[]byte) *security {
	k, err := NewKeyring(keys, keys[0])
	require.NoError(t, err)
	return &security{label: label, keys: k, verifyIncoming: true, verifyOutgoing: true,
		encryptionVsn: vsn, nonces: fixedNonce(t), lim: wire.DefaultLimits()}
}

func TestEncryptionVectors(t *testing.T) {
	key, ping := unhexT(t, tv13Key), unhexT(t, tv1Ping)
	cases := []struct {
		name, label, want string
		vsn               byte
	}{
		{"packet v1 label prod", "prod", "f40470726f64" + tv13V1Label, encryptionPlain},
		{"packet v1 no label", "", tv13V1, encryptionPlain},
		{"packet v0 no label", "", tv13V0, encryptionPadded},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sec := tv13Security(t, tc.label, tc.vsn, key)
			got := sec.sealPacket(nil, ping)
			require.Equal(t, tc.want, hex.EncodeToString(got))
			plain, err := sec.openPacket(got)
			require.NoError(t, err)
			require.Equal(t, ping, plain)
		})
	}
	t.Run("stream v1 label prod", func(t *testing.T) {
		sec := tv13Security(t, "prod", encryptionPlain, key)
		req := sec.sealStream(ping, true)
		require.Equal(t, "f40470726f64"+tv13Stream, hex.EncodeToString(req))
		require.Equal(t, tv13Stream, hex.EncodeToString(sec.sealStream(ping, false)))
		// The acceptor may get the label header and the message in pieces.
		got, err := sec.readRequest(iotest.OneByteReader(bytes.NewReader(req)))
		require.NoError(t, err)
		require.Equal(t, ping, got)
		got, err = sec.readReply(bytes.NewReader(unhexT(t, tv13Stream)))
		require.NoError(t, err)
		require.Equal(t, ping, got)
		got, err = sec.readRequestFrom(req)
		require.NoError(t, err)
		require.Equal(t, ping, got, "a stream whole in memory")
		got, err = sec.readReplyFrom(unhexT(t, tv13Stream))
		require.NoError(t, err)
		require.Equal(t, ping, got, "a stream whole in memory")
	})
	t.Run("every key is tried in order", func(t *testing.T) {
		wrong := bytes.Repeat([]byte{0x42}, 32)
		sec := tv13Security(t, "prod", encryptionPlain, wrong, key)
		plain, err := sec.openPacket(unhexT(t, "f40470726f64"+tv13V1Label))
		require.NoError(t, err)
		require.Equal(t, ping, plain)
	})
	t.Run("associated data is the label", func(t *testing.T) {
		sec := tv13Security(t, "", encryptionPlain, key)
		_, err := sec.keys.set().open(unhexT(t, tv13V1Label), nil)
		require.ErrorIs(t, err, errDecrypt)
	})
}

func TestOpenPacketRefuses(t *testing.T) {
	key := unhexT(t, tv13Key)
	ping := unhexT(t, tv1Ping)
	enc := tv13Security(t, "", encryptionPlain, key)
	cases := []struct {
		name   string
		sec    *security
		in     []byte
		reason DropReason
	}{
		{"unlabelled at a labelled member", &security{label: "prod"}, ping, DropBadLabel},
		{"labelled at an unlabelled member", &security{}, wire.AppendLabel(nil, "prod"), DropBadLabel},
		{"another label", &security{label: "prod"}, append(wire.AppendLabel(nil, "test"), ping...), DropBadLabel},
		{"empty label header", &security{}, []byte{0xf4, 0}, DropBadLabel},
		{"label longer than the packet", &security{label: "prod"}, []byte{0xf4, 9, 'p'}, DropTruncated},
		{"label while skipping the check", &security{label: "prod", skipLabelCheck: true}, append(wire.AppendLabel(nil, "prod"), ping...), DropBadLabel},
		{"plaintext at an encrypting member", enc, ping, DropDecryptFailed},
		{"wrong key", tv13Security(t, "", encryptionPlain, bytes.Repeat([]byte{1}, 16)), unhexT(t, tv13V1), DropDecryptFailed},
		{"encryption version 2", enc, append([]byte{2}, unhexT(t, tv13V1)[1:]...), DropDecryptFailed},
		{"shorter than a tag", enc, unhexT(t, tv13V1)[:28], DropTruncated},
		{"tampered", enc, func() []byte { b := unhexT(t, tv13V1); b[40] ^= 1; return b }(), DropDecryptFailed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.sec.openPacket(tc.in)
			require.Error(t, err)
			require.Equal(t, tc.reason, dropReasonOf(err), "%v", err)
		})
	}
	t.Run("skip check takes the configured label", func(t *testing.T) {
		sec := tv13Security(t, "prod", encryptionPlain, key)
		sec.skipLabelCheck = true
		plain, err := sec.openPacket(unhexT(t, tv13V1Label))
		require.NoError(t, err)
		require.Equal(t, ping, plain)
	})
	t.Run("plaintext accepted while not verifying incoming", func(t *testing.T) {
		sec := tv13Security(t, "", encryptionPlain, key)
		sec.verifyIncoming = false
		plain, err := sec.openPacket(ping)
		require.NoError(t, err)
		require.Equal(t, ping, plain)
	})
}

func TestStreamSecurityErrors(t *testing.T) {
	key := unhexT(t, tv13Key)
	ping := unhexT(t, tv1Ping)
	plainSec := &security{lim: wire.DefaultLimits()}
	encSec := tv13Security(t, "", encryptionPlain, key)
	for _, tc := range []struct {
		name   string
		sec    *security
		in     []byte
		reason DropReason
	}{
		{"encrypted at a plaintext member", plainSec, encSec.sealStream(ping, true), DropEncryption},
		{"plaintext at an encrypting member", encSec, ping, DropEncryption},
		{"wrong key", tv13Security(t, "", encryptionPlain, bytes.Repeat([]byte{1}, 32)), encSec.sealStream(ping, true), DropDecryptFailed},
		{"label mismatch", &security{label: "a", lim: wire.DefaultLimits()}, append(wire.AppendLabel(nil, "b"), ping...), DropBadLabel},
		{"stalled label header", plainSec, []byte{0xf4, 4, 'p'}, DropTruncated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.sec.readRequest(bytes.NewReader(tc.in))
			require.Error(t, err)
			require.Equal(t, tc.reason, dropReasonOf(err), "%v", err)
			_, err = tc.sec.readRequestFrom(tc.in)
			require.Error(t, err)
			require.Equal(t, tc.reason, dropReasonOf(err), "in memory: %v", err)
		})
	}
	t.Run("the acceptor answers encryption trouble with an error response", func(t *testing.T) {
		c := testCore(t, nil)
		_, err := c.sec.readRequest(bytes.NewReader(encSec.sealStream(ping, true)))
		reply := c.handleStreamError(testEpoch, netip.MustParseAddrPort("10.0.0.9:7946"), err)
		msg, err := c.sec.readReply(bytes.NewReader(reply))
		require.NoError(t, err)
		require.Equal(t, byte(wire.ErrMsg), msg[0])
		var e wire.ErrResp
		require.NoError(t, e.Decode(msg[1:]))
		require.Contains(t, e.Error, "not configured")
		require.EqualValues(t, 1, c.drops.counts[DropEncryption])
	})
}

func TestKeyring(t *testing.T) {
	k1, k2, k3 := bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 24), bytes.Repeat([]byte{3}, 32)
	_, err := NewKeyring([][]byte{k1}, nil)
	require.ErrorIs(t, err, ErrInvalidKey)
	_, err = NewKeyring(nil, []byte("short"))
	require.ErrorIs(t, err, ErrInvalidKey)

	k, err := NewKeyring([][]byte{k1, k2}, k2)
	require.NoError(t, err)
	require.Equal(t, k2, k.PrimaryKey())
	require.Equal(t, [][]byte{k2, k1}, k.Keys())

	require.NoError(t, k.AddKey(k3))
	require.NoError(t, k.AddKey(k3), "adding an installed key does nothing")
	require.Len(t, k.Keys(), 3)
	require.ErrorIs(t, k.UseKey(bytes.Repeat([]byte{9}, 16)), ErrKeyNotInstalled)
	require.NoError(t, k.UseKey(k3))
	require.Equal(t, k3, k.PrimaryKey())
	require.ErrorIs(t, k.RemoveKey(k3), ErrRemovePrimaryKey)
	require.NoError(t, k.RemoveKey(k2))
	require.NoError(t, k.RemoveKey(k2), "removing a missing key does nothing")
	require.Equal(t, [][]byte{k3, k1}, k.Keys())

	// Callers get copies: changing them changes nothing.
	k.Keys()[0][0] = 0xff
	k.PrimaryKey()[0] = 0xff
	require.Equal(t, k3, k.PrimaryKey())

	var empty Keyring
	require.False(t, empty.enabled())
	require.Nil(t, empty.PrimaryKey())
	require.NoError(t, empty.AddKey(k1))
	require.Equal(t, k1, empty.PrimaryKey(), "the first key added to an empty keyring is the primary")
	require.ErrorIs(t, empty.AddKey([]byte("0123456789")), ErrInvalidKey)
}

func TestParseCIDRs(t *testing.T) {
	got, err := ParseCIDRs([]string{"10.1.2.3/8", "fd00::/8", "nonsense", "1.2.3.4/33"})
	require.Error(t, err)
	require.True(t, errors.Is(err, ErrInvalidConfig))
	require.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}, got)
	allow := cidrs(got)
	require.True(t, allow.allowed(netip.MustParseAddr("10.9.9.9")))
	require.True(t, allow.allowed(netip.MustParseAddr("::ffff:10.9.9.9")), "IPv4-mapped addresses count as IPv4")
	require.False(t, allow.allowed(netip.MustParseAddr("192.168.1.1")))
	require.True(t, cidrs(nil).allowed(netip.MustParseAddr("192.168.1.1")), "no list allows everyone")
}
