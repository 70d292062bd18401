package swim

import (
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
	if len(c.members.list) != len(c.members.byName) {
		t.Fatalf("member list has %d entries, index %d", len(c.members.list), len(c.members.byName))
	}
	for _, m := range c.members.list {
		if c.members.byName[m.name] != m {
			t.Fatalf("member %q is not indexed", m.name)
		}
		if m.rawLen != 4 && m.rawLen != 16 {
			t.Fatalf("member %q has a %d-byte address", m.name, m.rawLen)
		}
	}
	if c.members.byName[c.self.name] != c.self || c.self.state != StateAlive {
		t.Fatalf("this member is missing from its own table or not alive")
	}
}
