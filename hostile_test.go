package swim

// Hostile input against a live member on loopback: garbage, truncated and oversized
// datagrams, decompression bombs, streams that stall, push/pull headers claiming millions of
// members, and floods of well-formed joins under random names. After each, the member must
// still answer a ping within its probe timeout, its heap must stay bounded, and its member
// table must hold nothing malformed; the well-formed fakes must be cleared by ordinary failure
// detection.

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/swim-go/swim/internal/wire"
)

// victim is the member under attack, with an honest friend in its cluster.
type victim struct {
	t      *testing.T
	m      *Memberlist
	addr   netip.AddrPort
	friend *Memberlist
	udp    *net.UDPConn
	seq    uint32
	rng    *rand.Rand
}

func newVictim(t *testing.T, tune func(*Config)) *victim {
	cfg := DefaultLocalConfig()
	cfg.BindAddr = "127.0.0.1"
	cfg.BindPort = 0
	cfg.TCPTimeout = 5 * time.Second
	if tune != nil {
		tune(cfg)
	}
	cfg.Name = "victim"
	m, err := Create(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { m.Shutdown() })
	fcfg := *cfg
	fcfg.Name = "friend"
	friend, err := Create(&fcfg)
	require.NoError(t, err)
	t.Cleanup(func() { friend.Shutdown() })
	_, err = friend.Join([]string{m.LocalNode().Address()})
	require.NoError(t, err)
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	t.Cleanup(func() { udp.Close() })
	addr, err := netip.ParseAddrPort(m.LocalNode().Address())
	require.NoError(t, err)
	return &victim{t: t, m: m, addr: addr, friend: friend, udp: udp,
		rng: rand.New(rand.NewPCG(1, 2))}
}

// send writes one datagram to the victim.
func (v *victim) send(b []byte) {
	v.t.Helper()
	_, err := v.udp.WriteToUDPAddrPort(b, v.addr)
	require.NoError(v.t, err)
}

// pingBudget is how soon the victim must ack a ping: the LAN probe timeout, which is what a
// memberlist or swim peer with default settings would give it.
const pingBudget = 500 * time.Millisecond

// answersPing fails unless the victim acks a ping within pingBudget. Datagrams may be lost in
// a flood, so it tries a few times, each within the budget.
func (v *victim) answersPing() time.Duration {
	v.t.Helper()
	timeout := pingBudget
	buf := make([]byte, 65536)
	for range 5 {
		v.seq++
		start := time.Now()
		v.send((&wire.Ping{SeqNo: v.seq, Node: "victim"}).Append(nil))
		v.udp.SetReadDeadline(start.Add(timeout))
		for {
			n, err := v.udp.Read(buf)
			if err != nil {
				break
			}
			acked := false
			wire.Unpack(buf[:n], wire.DefaultLimits(), nil, func(msg []byte) {
				var ack wire.AckResp
				if len(msg) > 0 && wire.MessageType(msg[0]) == wire.AckRespMsg && ack.Decode(msg[1:]) == nil && ack.SeqNo == v.seq {
					acked = true
				}
			}, func(error) {})
			if acked {
				return time.Since(start)
			}
		}
	}
	v.t.Fatalf("the victim did not ack a ping within %v, five times", timeout)
	return 0
}

// heap is the live heap after a collection, in bytes.
func heap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// wellFormed fails if the victim's table holds anything a member could not have sent.
func (v *victim) wellFormed() {
	v.t.Helper()
	for _, n := range v.m.Members() {
		require.NotEmpty(v.t, n.Name)
		require.LessOrEqual(v.t, len(n.Name), 255)
		require.LessOrEqual(v.t, len(n.Meta), MetaMaxSize)
		require.True(v.t, (len(n.Addr) == 4 || len(n.Addr) == 16) && !n.Addr.IsUnspecified() && !n.Addr.IsMulticast(), "member %q at %v", n.Name, n.Addr)
	}
}

func (v *victim) names() []string {
	var out []string
	for _, n := range v.m.Members() {
		out = append(out, n.Name)
	}
	slices.Sort(out)
	return out
}

func (v *victim) dropped() uint64 {
	var total uint64
	for _, n := range v.m.Drops() {
		total += n
	}
	return total
}

// eventuallyReal polls cond on the wall clock until limit.
func eventuallyReal(t *testing.T, limit time.Duration, cond func() bool, reason string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", reason, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Garbage, truncated, oversized and decompression-bomb datagrams are dropped and counted.
func TestHostileDatagrams(t *testing.T) {
	if testing.Short() {
		t.Skip("real sockets")
	}
	v := newVictim(t, nil)
	eventuallyReal(t, 10*time.Second, func() bool { return len(v.names()) == 2 }, "the friend joins")
	base := heap()
	sent := 0
	burst := func(b []byte) {
		v.send(b)
		sent++
		if sent%200 == 0 {
			time.Sleep(time.Millisecond) // let the victim read; the socket buffer is finite
		}
	}
	for range 5000 { // random garbage of every size
		b := make([]byte, 1+v.rng.IntN(1400))
		for i := range b {
			b[i] = byte(v.rng.Uint32())
		}
		burst(b)
	}
	alive := (&wire.Alive{Incarnation: 9, Node: "intruder", Addr: []byte{127, 0, 0, 9}, Port: 9, Vsn: []byte{1, 5, 2, 0, 0, 0}}).Append(nil)
	for i := 1; i < len(alive); i++ { // every truncation of a valid message
		burst(alive[:i])
	}
	for _, typ := range []byte{0, 1, 2, 3, 4, 5, 7, 9, 11, 12, 244} { // type byte and nothing, or junk
		burst([]byte{typ})
		burst(append([]byte{typ}, bytes.Repeat([]byte{0xff}, 64)...))
	}
	big := make([]byte, 65000) // oversized: the largest datagram loopback carries
	for range 50 {
		burst(big)
	}
	// A compound claiming 255 parts of 65,535 bytes each, with none of them there.
	burst(append([]byte{7, 255}, bytes.Repeat([]byte{0xff}, 510)...))
	// A decompression bomb: 64 KB of LZW that expands far past the 1 MiB limit.
	bomb := wire.AppendCompress(nil, make([]byte, 8<<20))
	require.Less(t, len(bomb), 65000, "the bomb fits in a datagram")
	for range 20 {
		burst(bomb)
	}
	// Garbage that is malformed in ways a decoder might trust: alive with no address, a
	// multicast address, an oversized name or metadata.
	for _, a := range []wire.Alive{
		{Incarnation: 1, Node: "no-addr", Port: 1},
		{Incarnation: 1, Node: "multicast", Addr: []byte{224, 0, 0, 1}, Port: 1},
		{Incarnation: 1, Node: "zero", Addr: []byte{0, 0, 0, 0}, Port: 1},
		{Incarnation: 1, Node: strings.Repeat("n", 300), Addr: []byte{127, 0, 0, 9}, Port: 1},
		{Incarnation: 1, Node: "fat-meta", Addr: []byte{127, 0, 0, 9}, Port: 1, Meta: make([]byte, 600)},
		{Incarnation: 1, Node: "", Addr: []byte{127, 0, 0, 9}, Port: 1},
	} {
		burst(a.Append(nil))
	}

	// Wait for the victim to work through its backlog: the count stops moving.
	prev := uint64(0)
	eventuallyReal(t, 20*time.Second, func() bool {
		time.Sleep(100 * time.Millisecond)
		n := v.dropped()
		done := n >= uint64(sent)/2 && n == prev
		prev = n
		return done
	}, "the victim reads and drops the flood")
	rtt := v.answersPing()
	grown := int64(heap()) - int64(base)
	t.Logf("measured: %d hostile datagrams sent, %d drops counted %v; ping answered in %v; heap grew by %d KB",
		sent, v.dropped(), v.m.Drops(), rtt, grown/1024)
	require.Less(t, grown, int64(16<<20), "heap stays bounded")
	require.Equal(t, []string{"friend", "victim"}, v.names(), "nothing got into the table")
	v.wellFormed()
	drops := v.m.Drops()
	for _, r := range []DropReason{DropMalformed, DropTruncated, DropOversized, DropUnknownType} {
		require.NotZero(t, drops[r], "counted as %s", r)
	}
}

// Streams that send a header and stall hold a slot only until TCPTimeout; beyond
// MaxConcurrentStreams they are refused at once. Push/pull headers claiming millions of
// members cost nothing: over the limit they are refused, under it nothing is allocated
// ahead of the bytes that arrive.
func TestHostileStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("real sockets")
	}
	v := newVictim(t, func(c *Config) { c.MaxConcurrentStreams = 64 })
	eventuallyReal(t, 10*time.Second, func() bool { return len(v.names()) == 2 }, "the friend joins")
	base := heap()

	dial := func(prefix []byte) net.Conn {
		c, err := net.Dial("tcp", v.addr.String())
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		_, err = c.Write(prefix)
		require.NoError(t, err)
		return c
	}
	header := func(nodes, userState int) []byte {
		return (&wire.PushPullHeader{Join: true, Nodes: nodes, UserStateLen: userState}).AppendBody([]byte{byte(wire.PushPullMsg)})
	}
	// Over the limit: refused as soon as the header is read, without a reply.
	huge := dial(header(5_000_000, 0))
	huge.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, err := huge.Read(make([]byte, 1))
	require.Zero(t, n)
	require.ErrorIs(t, err, io.EOF, "closed without a reply")

	// Stalled: a label header cut short, a lone type byte, an encrypted frame promising 20 MiB,
	// and push/pull headers claiming a million members and 20 MiB of user state.
	var stalled []net.Conn
	prefixes := [][]byte{{0xf4, 200, 'x'}, {byte(wire.PushPullMsg)}, {byte(wire.EncryptMsg), 0x01, 0x40, 0, 0},
		header(1_000_000, 20<<20), append(header(1_000_000, 0), 0x87)}
	for i := range 100 {
		stalled = append(stalled, dial(prefixes[i%len(prefixes)]))
	}
	eventuallyReal(t, 5*time.Second, func() bool { return v.m.Drops()[DropStreamLimit] > 0 }, "streams beyond the limit are refused")
	rtt := v.answersPing()
	held := int64(heap()) - int64(base)
	t.Logf("measured: 100 stalled streams (limit 64) held; ping answered in %v; heap grew by %d KB", rtt, held/1024)
	require.Less(t, held, int64(16<<20), "stalled streams cost no more than their buffers")

	// Every stalled stream is closed by TCPTimeout, and the slots are free again.
	for _, c := range stalled {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := io.Copy(io.Discard, c)
		if err != nil { // a reset also means the victim closed it (with our bytes unread)
			require.ErrorIs(t, err, syscall.ECONNRESET, "closed by the victim, not by our deadline")
		}
	}
	cfg := DefaultLocalConfig()
	cfg.Name, cfg.BindAddr, cfg.BindPort = "late", "127.0.0.1", 0
	late, err := Create(cfg)
	require.NoError(t, err)
	defer late.Shutdown()
	_, err = late.Join([]string{v.addr.String()})
	require.NoError(t, err, "a real member joins once the stalled streams are gone")
	v.answersPing()
	v.wellFormed()
	t.Logf("drops: %v", v.m.Drops())
	require.NotZero(t, v.m.Drops()[DropOversized], "the 5,000,000-member header was counted")
}

// A flood of well-formed joins under random names, by stream and by packet, cannot be told
// from real members without encryption or CIDRsAllowed; it costs bounded memory, the victim
// keeps answering, and failure detection clears every fake.
func TestHostileJoinFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("real sockets")
	}
	v := newVictim(t, func(c *Config) {
		// Fast rounds, and the default AwarenessMaxMultiplier: fakes picked as relays never
		// nack, and must not be held against the victim.
		c.ProbeInterval = 200 * time.Millisecond
		c.ProbeTimeout = 40 * time.Millisecond
		c.SuspicionMult = 1
		c.SuspicionMaxTimeoutMult = 2
		c.GossipToTheDeadTime = time.Second
		c.ReconnectInterval = 0
	})
	eventuallyReal(t, 10*time.Second, func() bool { return len(v.names()) == 2 }, "the friend joins")
	base := heap()
	const byStream, byPacket = 20, 80
	fake := func(i int) wire.PushNodeState {
		// Addresses in 127.0.0.0/8 that nobody listens on: probes to them go unanswered.
		return wire.PushNodeState{Name: fmt.Sprintf("fake-%d-%x", i, v.rng.Uint64()), Addr: []byte{127, 77, byte(i >> 8), byte(i)},
			Port: 1 + uint16(v.rng.IntN(60000)), Meta: make([]byte, v.rng.IntN(MetaMaxSize+1)), Incarnation: 1, State: int(StateAlive), Vsn: []byte{1, 5, 2, 0, 0, 0}}
	}
	for i := range byStream {
		pp := wire.PushPull{Join: true, Nodes: []wire.PushNodeState{fake(i)}}
		c, err := net.Dial("tcp", v.addr.String())
		require.NoError(t, err)
		_, err = c.Write(pp.Append(nil))
		require.NoError(t, err)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		reply, err := wire.ReadStreamMessage(c, wire.StreamOptions{Limits: wire.DefaultLimits()})
		c.Close()
		require.NoError(t, err)
		require.Equal(t, byte(wire.PushPullMsg), reply[0], "the victim answers a join as it would a real one")
	}
	for i := byStream; i < byStream+byPacket; i++ {
		f := fake(i)
		v.send((&wire.Alive{Incarnation: f.Incarnation, Node: f.Name, Addr: f.Addr, Port: f.Port, Meta: f.Meta, Vsn: f.Vsn}).Append(nil))
		if i%50 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	fakes := func() int {
		n := 0
		for _, name := range v.names() {
			if strings.HasPrefix(name, "fake-") {
				n++
			}
		}
		return n
	}
	eventuallyReal(t, 10*time.Second, func() bool { return fakes() > (byStream+byPacket)/2 }, "the fakes are admitted")
	admitted := fakes()
	rtt := v.answersPing()
	grown := int64(heap()) - int64(base)
	t.Logf("measured: %d fake joins, %d admitted at the peak, %d bytes of heap each; ping answered in %v",
		byStream+byPacket, admitted, grown/int64(admitted), rtt)
	require.Less(t, grown, int64(admitted)*16<<10, "at most 16 KB of heap per fake member")
	v.wellFormed()

	// Two members probing a few fakes a second between them, each fake then suspected,
	// declared dead and reaped: within a minute every fake is gone.
	start := time.Now()
	peak := 0
	eventuallyReal(t, 90*time.Second, func() bool {
		peak = max(peak, v.m.HealthScore())
		return fakes() == 0
	}, "every fake is cleared")
	t.Logf("measured: every fake cleared %v after the flood; the victim's health score peaked at %d", time.Since(start).Round(time.Second), peak)
	require.LessOrEqual(t, peak, 1, "silent fake relays are not held against the victim")
	v.answersPing()
	require.Contains(t, v.names(), "friend")
}

// A member can be reached by a real peer through everything above: the helpers themselves
// work on a quiet member.
func TestHostileHelpersOnQuietMember(t *testing.T) {
	if testing.Short() {
		t.Skip("real sockets")
	}
	v := newVictim(t, nil)
	eventuallyReal(t, 10*time.Second, func() bool { return len(v.names()) == 2 }, "the friend joins")
	require.Less(t, v.answersPing(), pingBudget)
	before := v.dropped()
	v.send([]byte{0xee})
	eventuallyReal(t, 5*time.Second, func() bool { return v.dropped() == before+1 }, "one drop counted")
	require.Equal(t, uint64(1), v.m.Drops()[DropUnknownType])
}
