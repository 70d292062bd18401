package interop

// A larger mixed cluster with metadata updates, periodic push/pull in each direction, and the
// packet-level details that only show on the wire: nacks from relays of either library, and
// CRCs in both directions.

import (
	"fmt"
	"io"
	"log"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/stretchr/testify/require"

	"github.com/swim-go/swim"
	"github.com/swim-go/swim/internal/wire"
)

// stateDelegate serves metadata that can change and push/pull user state, and records every
// remote state it is given.
type stateDelegate struct {
	mlDelegate
	state  string
	merges sync.Map   // "<remote state>/<join>" -> *atomic.Int64
	events metaEvents // memberlist members only
}

func (d *stateDelegate) LocalState(bool) []byte { return []byte(d.state) }
func (d *stateDelegate) MergeRemoteState(b []byte, join bool) {
	v, _ := d.merges.LoadOrStore(fmt.Sprintf("%s/%v", b, join), new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}
func (d *stateDelegate) setMeta(m string) {
	d.mu.Lock()
	d.meta = []byte(m)
	d.mu.Unlock()
}

// merged counts remote states from members whose state starts with prefix, with that join flag.
func (d *stateDelegate) merged(prefix string, join bool) int64 {
	var n int64
	d.merges.Range(func(k, v any) bool {
		if strings.HasPrefix(k.(string), prefix) && strings.HasSuffix(k.(string), fmt.Sprintf("/%v", join)) {
			n += v.(*atomic.Int64).Load()
		}
		return true
	})
	return n
}

// metaEvents records the metadata of each member a memberlist member holds alive. memberlist
// updates the nodes Members() returns in place, so reading Meta from them races; its events
// run under its own lock, so copying there is safe.
type metaEvents struct {
	mu   sync.Mutex
	meta map[string]string
}

func (e *metaEvents) NotifyJoin(n *memberlist.Node)   { e.set(n.Name, string(n.Meta), true) }
func (e *metaEvents) NotifyUpdate(n *memberlist.Node) { e.set(n.Name, string(n.Meta), true) }
func (e *metaEvents) NotifyLeave(n *memberlist.Node)  { e.set(n.Name, "", false) }
func (e *metaEvents) set(name, meta string, alive bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.meta == nil {
		e.meta = map[string]string{}
	}
	if alive {
		e.meta[name] = meta
	} else {
		delete(e.meta, name)
	}
}

func (e *metaEvents) snapshot() map[string]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]string{}
	for k, v := range e.meta {
		out[k] = v
	}
	return out
}

// startML starts a memberlist member on loopback whose state and metadata name it.
func startML(t *testing.T, name string, tune func(*memberlist.Config)) (*memberlist.Memberlist, *stateDelegate) {
	t.Helper()
	d := &stateDelegate{mlDelegate: mlDelegate{meta: []byte("meta-" + name)}, state: name}
	c := memberlist.DefaultLocalConfig()
	c.Events = &d.events
	c.Name = name
	c.BindAddr = "127.0.0.1"
	c.BindPort = 0
	c.LogOutput = io.Discard
	c.Delegate = d
	if tune != nil {
		tune(c)
	}
	m, err := memberlist.Create(c)
	require.NoError(t, err)
	t.Cleanup(func() { m.Shutdown() })
	return m, d
}

// startSwim does the same for swim.
func startSwim(t *testing.T, name string, tune func(*swim.Config)) (*swim.Memberlist, *stateDelegate) {
	t.Helper()
	d := &stateDelegate{mlDelegate: mlDelegate{meta: []byte("meta-" + name)}, state: name}
	c := swim.DefaultLocalConfig()
	c.Name = name
	c.BindAddr = "127.0.0.1"
	c.BindPort = 0
	c.Delegate = d
	if tune != nil {
		tune(c)
	}
	m, err := swim.Create(c)
	require.NoError(t, err)
	t.Cleanup(func() { m.Shutdown() })
	return m, d
}

// swimMeta returns the metadata a swim member holds for each alive member, by name.
func swimMeta(m *swim.Memberlist) map[string]string {
	out := map[string]string{}
	for _, n := range m.Members() {
		if n.State == swim.StateAlive {
			out[n.Name] = string(n.Meta)
		}
	}
	return out
}

// Five swim and five memberlist members form one cluster in which every member holds every
// other's metadata; an update on each side reaches every member of both.
func TestFiveAndFiveWithMetadataUpdates(t *testing.T) {
	var (
		mls  []*memberlist.Memberlist
		mlDs []*stateDelegate
		sws  []*swim.Memberlist
		swDs []*stateDelegate
	)
	want := map[string]string{}
	for i := range 5 {
		m, d := startML(t, fmt.Sprintf("ml-%d", i), nil)
		mls, mlDs = append(mls, m), append(mlDs, d)
		s, sd := startSwim(t, fmt.Sprintf("sw-%d", i), nil)
		sws, swDs = append(sws, s), append(swDs, sd)
		want[fmt.Sprintf("ml-%d", i)] = fmt.Sprintf("meta-ml-%d", i)
		want[fmt.Sprintf("sw-%d", i)] = fmt.Sprintf("meta-sw-%d", i)
	}
	// Half of each side joins through the other library, half through its own.
	for i := 1; i < 5; i++ {
		seedML, seedSwim := mls[0].LocalNode().Address(), sws[0].LocalNode().Address()
		if i%2 == 0 {
			seedML, seedSwim = seedSwim, seedML
		}
		_, err := sws[i].Join([]string{seedML})
		require.NoError(t, err)
		_, err = mls[i].Join([]string{seedSwim})
		require.NoError(t, err)
	}
	_, err := sws[0].Join([]string{mls[0].LocalNode().Address()})
	require.NoError(t, err)
	agreed := func() bool {
		for _, d := range mlDs {
			if !mapsEqual(d.events.snapshot(), want) {
				return false
			}
		}
		for _, s := range sws {
			if !mapsEqual(swimMeta(s), want) {
				return false
			}
		}
		return true
	}
	// memberlist members that miss a gossiped alive wait for their periodic push/pull
	// (15 s with the Local timings); allow for two.
	eventually(t, 40*time.Second, agreed, "all ten hold all ten with their metadata")

	swDs[2].setMeta("meta-sw-2-v2")
	require.NoError(t, sws[2].UpdateNode(5*time.Second))
	mlDs[3].setMeta("meta-ml-3-v2")
	require.NoError(t, mls[3].UpdateNode(5*time.Second))
	want["sw-2"], want["ml-3"] = "meta-sw-2-v2", "meta-ml-3-v2"
	eventually(t, 40*time.Second, agreed, "both updates reach every member of both libraries")
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// relay forwards what a transport delivers to the library, showing each item to see first.
type relay[T any] struct {
	out  chan T
	done chan struct{}
	once sync.Once
}

func startRelay[T any](in <-chan T, see func(T)) *relay[T] {
	r := &relay[T]{out: make(chan T, 1024), done: make(chan struct{})}
	go func() {
		for {
			select {
			case v := <-in:
				see(v)
				select {
				case r.out <- v:
				case <-r.done:
					return
				}
			case <-r.done:
				return
			}
		}
	}()
	return r
}

func (r *relay[T]) stop() { r.once.Do(func() { close(r.done) }) }

// streamCounter is swim's default transport, counting the streams it accepts.
type streamCounter struct {
	*swim.NetTransport
	accepted atomic.Int64
	r        *relay[net.Conn]
}

func newStreamCounter(t *testing.T) *streamCounter {
	nt, err := swim.NewNetTransport("127.0.0.1", 0, 1024, nil)
	require.NoError(t, err)
	s := &streamCounter{NetTransport: nt}
	s.r = startRelay(nt.StreamCh(), func(net.Conn) { s.accepted.Add(1) })
	return s
}

func (s *streamCounter) StreamCh() <-chan net.Conn { return s.r.out }
func (s *streamCounter) Shutdown() error {
	s.r.stop()
	return s.NetTransport.Shutdown()
}

// Periodic push/pull works in each direction: memberlist's against a swim member (which
// opens no push/pull of its own in that half) and swim's against a memberlist member (which
// then has periodic push/pull switched off). Each side merges the other's user state with
// join=false, again and again.
func TestPeriodicPushPullBothWays(t *testing.T) {
	t.Run("memberlist initiates", func(t *testing.T) {
		tr := newStreamCounter(t)
		sw, swD := startSwim(t, "sw-0", func(c *swim.Config) {
			c.Transport = tr
			c.PushPullInterval = 0
		})
		fast := func(c *memberlist.Config) { c.PushPullInterval = time.Second }
		ml0, ml0D := startML(t, "ml-0", fast)
		ml1, ml1D := startML(t, "ml-1", fast)
		for _, m := range []*memberlist.Memberlist{ml0, ml1} {
			_, err := m.Join([]string{sw.LocalNode().Address()})
			require.NoError(t, err)
		}
		eventually(t, 10*time.Second, func() bool { return sw.NumMembers() == 3 }, "three members")
		streams, merges := tr.accepted.Load(), swD.merged("ml-", false)
		// Every accepted stream here is memberlist's: swim opens none to itself.
		eventually(t, 20*time.Second, func() bool {
			return tr.accepted.Load() >= streams+3 && swD.merged("ml-", false) >= merges+3
		}, "swim serves memberlist's periodic push/pulls and merges their state")
		// Each memberlist member picks its push/pull partner at random, the other one as
		// often as swim: wait for either to have merged swim's reply.
		eventually(t, 20*time.Second, func() bool {
			return ml0D.merged("sw-0", false)+ml1D.merged("sw-0", false) > 0
		}, "memberlist merges swim's reply")
	})
	t.Run("swim initiates", func(t *testing.T) {
		ml, mlD := startML(t, "ml-0", func(c *memberlist.Config) { c.PushPullInterval = 0 })
		fast := func(c *swim.Config) { c.PushPullInterval = time.Second }
		sw0, sw0D := startSwim(t, "sw-0", fast)
		sw1, _ := startSwim(t, "sw-1", fast)
		for _, s := range []*swim.Memberlist{sw0, sw1} {
			_, err := s.Join([]string{ml.LocalNode().Address()})
			require.NoError(t, err)
		}
		eventually(t, 10*time.Second, func() bool { return ml.NumMembers() == 3 }, "three members")
		// With its own timer off, every push/pull memberlist merges after the joins is one
		// a swim member started; the follow-ups after a join end once nothing changes, so a
		// steady stream of them is the periodic schedule.
		time.Sleep(2 * time.Second)
		merges := mlD.merged("sw-", false)
		eventually(t, 20*time.Second, func() bool { return mlD.merged("sw-", false) >= merges+3 },
			"memberlist serves swim's periodic push/pulls and merges their state")
		require.NotZero(t, sw0D.merged("ml-0", false), "swim merges memberlist's reply")
	})
}

// packetTap is memberlist's default transport, passing every received datagram to a
// function first.
type packetTap struct {
	*memberlist.NetTransport
	r *relay[*memberlist.Packet]
}

func newPacketTap(t *testing.T, see func([]byte)) *packetTap {
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
		BindAddrs: []string{"127.0.0.1"}, BindPort: 0, Logger: log.New(io.Discard, "", 0)})
	require.NoError(t, err)
	return &packetTap{NetTransport: nt, r: startRelay(nt.PacketCh(), func(p *memberlist.Packet) { see(p.Buf) })}
}

func (p *packetTap) PacketCh() <-chan *memberlist.Packet { return p.r.out }
func (p *packetTap) Shutdown() error {
	p.r.stop()
	return p.NetTransport.Shutdown()
}

// swimTap is the same for swim.
type swimTap struct {
	*swim.NetTransport
	r *relay[*swim.Packet]
}

func newSwimTap(t *testing.T, see func([]byte)) *swimTap {
	nt, err := swim.NewNetTransport("127.0.0.1", 0, 1024, nil)
	require.NoError(t, err)
	return &swimTap{NetTransport: nt, r: startRelay(nt.PacketCh(), func(p *swim.Packet) { see(p.Buf) })}
}

func (p *swimTap) PacketCh() <-chan *swim.Packet { return p.r.out }
func (p *swimTap) Shutdown() error {
	p.r.stop()
	return p.NetTransport.Shutdown()
}

// wireCounts counts, in received datagrams, those with a CRC and the nacks inside.
type wireCounts struct {
	crc, nacks, packets atomic.Int64
}

func (w *wireCounts) see(b []byte) {
	w.packets.Add(1)
	if len(b) > 0 && wire.MessageType(b[0]) == wire.HasCrcMsg {
		w.crc.Add(1)
	}
	wire.Unpack(b, wire.DefaultLimits(), nil, func(msg []byte) {
		if len(msg) > 0 && wire.MessageType(msg[0]) == wire.NackRespMsg {
			w.nacks.Add(1)
		}
	}, func(error) {})
}

// When a member dies, each library's prober asks the other library's member to ping it
// indirectly, and gets a nack back when that fails; packets between the two carry CRCs both
// ways (both advertise protocol 5), and neither rejects the other's.
func TestNacksAndCRCAcrossLibraries(t *testing.T) {
	var atSwim, atML wireCounts
	swT := newSwimTap(t, atSwim.see)
	// A longer suspicion keeps the victim probed, and nacked, a few more times before it is
	// declared dead, so that a busy machine cannot squeeze every probe of one side out.
	sw, _ := startSwim(t, "sw-0", func(c *swim.Config) { c.Transport = swT; c.SuspicionMult = 6 })
	mlT := newPacketTap(t, atML.see)
	ml, _ := startML(t, "ml-0", func(c *memberlist.Config) { c.Transport = mlT; c.SuspicionMult = 6 })
	victim, _ := startSwim(t, "victim", nil)
	_, err := ml.Join([]string{sw.LocalNode().Address()})
	require.NoError(t, err)
	_, err = victim.Join([]string{sw.LocalNode().Address()})
	require.NoError(t, err)
	eventually(t, 10*time.Second, func() bool { return ml.NumMembers() == 3 && sw.NumMembers() == 3 }, "three members")
	eventually(t, 10*time.Second, func() bool { return atSwim.crc.Load() > 0 && atML.crc.Load() > 0 },
		"CRC-wrapped packets arrive both ways")

	require.NoError(t, victim.Shutdown())
	// The only possible relay for each prober is the other library's member.
	deadline := time.Now().Add(40 * time.Second)
	for atSwim.nacks.Load() == 0 || atML.nacks.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("within 40 s: %d nacks from the memberlist relay reached swim, %d from the swim relay reached memberlist",
				atSwim.nacks.Load(), atML.nacks.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	eventually(t, 60*time.Second, func() bool {
		return !slices.Contains(mlNames(ml), "victim") && !slices.Contains(swimNames(sw), "victim")
	}, "both declare the victim dead")
	require.Zero(t, sw.Drops()[swim.DropCRCMismatch], "swim accepted every CRC memberlist sent")
	require.Equal(t, []string{"ml-0", "sw-0"}, mlNames(ml), "memberlist kept swim alive throughout")
	t.Logf("datagrams at swim %d (CRC %d, nacks %d), at memberlist %d (CRC %d, nacks %d)",
		atSwim.packets.Load(), atSwim.crc.Load(), atSwim.nacks.Load(), atML.packets.Load(), atML.crc.Load(), atML.nacks.Load())
}
