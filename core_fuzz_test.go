package swim

import (
	"bytes"
	"slices"
	"testing"

	"github.com/swim-go/swim/internal/wire"
)

// FuzzCorePacket feeds arbitrary datagrams to a core that knows a few members and checks,
// after each, that it did not panic, that its member table is consistent, and that no
// incarnation went down.
func FuzzCorePacket(f *testing.F) {
	f.Add(aliveMsg("a", 1, "meta"))
	f.Add((&wire.Suspect{Incarnation: 1, Node: "self", From: "a"}).Append(nil))
	f.Add((&wire.Dead{Incarnation: 2, Node: "a", From: "a"}).Append(nil))
	f.Add((&wire.Ping{SeqNo: 1, Node: "self"}).Append(nil))
	f.Add((&wire.IndirectPingReq{SeqNo: 1, Target: []byte{10, 0, 0, 3}, Port: 7946, Node: "b", Nack: true}).Append(nil))
	f.Add(wire.AppendCompound(nil, [][]byte{aliveMsg("b", 3, ""), (&wire.AckResp{SeqNo: 9}).Append(nil)}))
	f.Add(wire.AppendCRC(nil, aliveMsg("c", 1, "")))
	f.Add([]byte{0x07, 0xff, 0x00})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		c := testCore(t, nil)
		feed(c, aliveMsg("a", 2, ""))
		feed(c, aliveMsg("b", 2, ""))
		before := map[string]uint32{}
		for _, m := range c.members.list {
			before[m.name] = m.incarnation
		}
		c.handlePacket(c.now, peerAddr, pkt)
		c.advance(c.now.Add(c.cfg.ProbeInterval))
		checkTable(t, c)
		for _, m := range c.members.list {
			if inc, ok := before[m.name]; ok && m.incarnation < inc {
				t.Fatalf("incarnation of %s went down from %d to %d", m.name, inc, m.incarnation)
			}
		}
	})
}

// FuzzCoreStream feeds arbitrary stream requests to a core.
func FuzzCoreStream(f *testing.F) {
	pp := wire.PushPull{Nodes: []wire.PushNodeState{{Name: "a", Addr: []byte{10, 0, 0, 2}, Port: 7946, Incarnation: 1, Vsn: []byte{1, 5, 2, 0, 0, 0}}}}
	f.Add(pp.Append(nil))
	f.Add(wire.AppendStreamUser(nil, []byte("hello")))
	f.Add((&wire.Ping{SeqNo: 3, Node: "self"}).Append(nil))
	f.Fuzz(func(t *testing.T, msg []byte) {
		c := testCore(t, nil)
		c.handleStreamRequest(c.now, peerAddr, msg)
		checkTable(t, c)
	})
}

// checkTable fails unless the list and the index agree, this member is in the table and alive,
// and every entry has a valid address.
func checkTable(t *testing.T, c *core) {
	t.Helper()
	indexed := 0
	for _, p := range c.members.index.slots {
		if p != 0 {
			indexed++
		}
	}
	if len(c.members.list) != indexed {
		t.Fatalf("member list has %d entries, index %d", len(c.members.list), indexed)
	}
	var counts [StateLeft + 1]int
	for _, m := range c.members.list {
		counts[m.st]++
		if c.members.get(m.name) != m || !m.listed {
			t.Fatalf("member %q is not indexed", m.name)
		}
		if m.rawLen != 4 && m.rawLen != 16 {
			t.Fatalf("member %q has a %d-byte address", m.name, m.rawLen)
		}
	}
	if counts != c.members.counts {
		t.Fatalf("members by state: %v counted, %v kept", counts, c.members.counts)
	}
	for _, join := range []bool{false, true} {
		if c.tableSum(join) != c.fingerprint(join) {
			t.Fatalf("the kept fingerprint (join %v) is not the table's", join)
		}
	}
	if fresh, kept := c.versionCounts(); !slices.Equal(fresh, kept) {
		t.Fatalf("counts by protocol versions: %v counted, %v kept", fresh, kept)
	}
	if c.members.get(c.self.name) != c.self || c.self.state() != StateAlive {
		t.Fatalf("this member is missing from its own table or not alive")
	}
}

// FuzzDecrypt checks that decrypting arbitrary bytes never panics, and that whatever is
// encrypted, in either version, decrypts to itself.
func FuzzDecrypt(f *testing.F) {
	f.Add([]byte{1}, []byte("ping"), []byte("prod"))
	f.Add(append([]byte{0}, make([]byte, 44)...), []byte{}, []byte{})
	f.Add(append([]byte{1}, make([]byte, 28)...), make([]byte, 16), []byte{})
	keys, err := NewKeyring([][]byte{make([]byte, 16)}, make([]byte, 32))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, blob, plain, aad []byte) {
		set := keys.set()
		if _, err := set.open(blob, aad); err == nil {
			t.Fatalf("arbitrary bytes decrypted: %x", blob)
		}
		for _, vsn := range []byte{encryptionPadded, encryptionPlain} {
			sealed := set.seal(nil, vsn, plain, aad, func(b []byte) { clear(b) })
			if len(sealed) != encryptedLen(vsn, len(plain)) {
				t.Fatalf("version %d: %d bytes sealed to %d, want %d", vsn, len(plain), len(sealed), encryptedLen(vsn, len(plain)))
			}
			got, err := set.open(sealed, aad)
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("version %d: round trip gave %x, %v", vsn, got, err)
			}
		}
	})
}

// FuzzOpenStream feeds arbitrary bytes to an encrypting, labelled member as the start of an
// accepted stream, and to the reply path: no panic, and nothing but a properly framed
// message ever gets through.
func FuzzOpenStream(f *testing.F) {
	sec := fuzzSecurity(f)
	ping := (&wire.Ping{SeqNo: 3, Node: "self"}).Append(nil)
	f.Add(sec.sealStream(ping, true))
	f.Add(sec.sealStream(wire.AppendStreamUser(nil, []byte("hi")), false))
	f.Add(append(wire.AppendLabel(nil, "prod"), ping...))
	f.Add([]byte{0xf4, 4, 'p', 'r', 'o', 'd', 0x0a, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		if msg, err := sec.readRequest(bytes.NewReader(in)); err == nil && len(msg) == 0 {
			t.Fatal("an empty request was accepted")
		}
		if msg, err := sec.readReply(bytes.NewReader(in)); err == nil && len(msg) == 0 {
			t.Fatal("an empty reply was accepted")
		}
		// The simulator reads streams whole in memory: the same messages, the same refusals.
		req, reqErr := sec.readRequest(bytes.NewReader(in))
		memReq, memReqErr := sec.readRequestFrom(in)
		rep, repErr := sec.readReply(bytes.NewReader(in))
		memRep, memRepErr := sec.readReplyFrom(in)
		if !bytes.Equal(req, memReq) || dropReasonOf(reqErr) != dropReasonOf(memReqErr) || (reqErr == nil) != (memReqErr == nil) ||
			!bytes.Equal(rep, memRep) || dropReasonOf(repErr) != dropReasonOf(memRepErr) || (repErr == nil) != (memRepErr == nil) {
			t.Fatalf("request %x %v, in memory %x %v; reply %x %v, in memory %x %v", req, reqErr, memReq, memReqErr, rep, repErr, memRep, memRepErr)
		}
	})
}

// FuzzCoreEncryptedPacket feeds arbitrary datagrams to an encrypting, labelled core: no
// panic, the table stays consistent, and nothing unauthenticated changes it.
func FuzzCoreEncryptedPacket(f *testing.F) {
	sec := fuzzSecurity(f)
	f.Add(sec.sealPacket(nil, aliveMsg("a", 1, "meta")))
	f.Add(sec.sealPacket(nil, wire.AppendCRC(nil, aliveMsg("b", 1, ""))))
	f.Add(append(wire.AppendLabel(nil, "prod"), aliveMsg("c", 1, "")...))
	f.Add(aliveMsg("d", 1, ""))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		cfg := DefaultLANConfig()
		cfg.Label = "prod"
		cfg.Keyring = sec.keys
		c := testCore(t, cfg)
		c.handlePacket(c.now, peerAddr, pkt)
		checkTable(t, c)
		for _, m := range c.members.list {
			if m != c.self && m.name != "a" && m.name != "b" {
				t.Fatalf("unauthenticated member %q was admitted", m.name)
			}
		}
	})
}

// fuzzSecurity is a labelled, encrypting member's settings with a fixed key.
func fuzzSecurity(f *testing.F) *security {
	keys, err := NewKeyring(nil, bytes.Repeat([]byte{7}, 16))
	if err != nil {
		f.Fatal(err)
	}
	return &security{label: "prod", keys: keys, verifyIncoming: true, verifyOutgoing: true,
		encryptionVsn: encryptionPlain, nonces: func(b []byte) { clear(b) }, lim: wire.DefaultLimits()}
}
