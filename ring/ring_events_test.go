package ring

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/swim-go/swim"
)

func TestNotifyJoinAdds(t *testing.T) {
	r := New(Config{})
	r.NotifyJoin(swim.Node{Name: "a"})
	r.NotifyJoin(swim.Node{Name: "b", State: swim.StateSuspect})
	r.Sync()
	assert.Equal(t, []string{"a", "b"}, names(r.Members()), "joins are on the ring once applied")
}

func TestNotifyLeaveRemoves(t *testing.T) {
	for _, leave := range []swim.Node{
		{Name: "x", State: swim.StateDead},
		{Name: "x", State: swim.StateLeft},
		{Name: "x", State: swim.StateAlive, HeldOut: true},
	} {
		r := New(Config{})
		r.Add(swim.Node{Name: "a"}, swim.Node{Name: "x"})
		r.NotifyLeave(leave)
		r.Sync()
		assert.Equalf(t, []string{"a"}, names(r.Members()), "a member %s (held out: %v) leaves the ring", leave.State, leave.HeldOut)
		r.NotifyJoin(swim.Node{Name: "x"})
		r.Sync()
		assert.Equal(t, []string{"a", "x"}, names(r.Members()), "and comes back with its NotifyJoin")
	}
}

func TestNotifyUpdateReplacesNodeKeepsKeys(t *testing.T) {
	r := New(Config{})
	nodes := members("node", 20)
	r.Add(nodes...)
	before, sum := owners(r, 10_000), r.Checksum()
	moved := nodes[3]
	moved.Addr, moved.Meta = net.IPv4(192, 168, 0, 3), []byte("v2")
	r.NotifyUpdate(moved)
	r.Sync()
	assert.Equal(t, before, owners(r, 10_000), "a new address or metadata moves no key")
	assert.Equal(t, sum, r.Checksum(), "nor changes the checksum")
	for _, n := range r.Members() {
		if n.Name == moved.Name {
			assert.Equal(t, moved.Addr, n.Addr, "the ring hands out the new address")
			assert.Equal(t, moved.Meta, n.Meta, "and the new metadata")
		}
	}
	r.NotifyUpdate(swim.Node{Name: "stranger"})
	r.Sync()
	assert.Equal(t, 21, r.Len(), "an update of a member the ring does not hold adds it")
}

func TestNotifyUpdateReweighs(t *testing.T) {
	r := New(Config{Weight: func(n swim.Node) float64 { return float64(len(n.Meta)) }})
	r.Add(swim.Node{Name: "a", Meta: []byte("x")}, swim.Node{Name: "b", Meta: []byte("x")})
	r.NotifyUpdate(swim.Node{Name: "a"}) // metadata says weight 0: drain it
	r.Sync()
	assert.Zero(t, loadsOf(r, 10_000)["a"], "a member reweighed to zero loses its keys")
}

// A burst of events is applied in one rebuild when it arrives while a rebuild runs: here
// the test holds the rebuild lock, as a rebuild in progress would, while 100 joins arrive.
func TestEventBurstCoalesces(t *testing.T) {
	r := New(Config{})
	r.buildMu.Lock()
	for _, n := range members("node", 100) {
		r.NotifyJoin(n)
	}
	_, ok := r.Lookup("k")
	assert.False(t, ok, "queued events are not yet visible")
	r.buildMu.Unlock()
	r.Sync()
	assert.Equal(t, 100, r.Len(), "after Sync every queued join is on the ring")
	assert.EqualValues(t, 1, r.builds.Load(), "100 joins queued during one rebuild cost one rebuild")
}

func TestAddManyRebuildsOnce(t *testing.T) {
	r := New(Config{})
	r.Add(members("node", 100)...)
	r.Remove(names(members("node", 50))...)
	r.Batch(func(b *Batch) {
		b.Add(swim.Node{Name: "x"}, swim.Node{Name: "y"})
		b.Remove("y", "node-099")
	})
	assert.EqualValues(t, 3, r.builds.Load(), "one rebuild per Add, Remove and Batch, however many members each names")
	assert.Equal(t, 50, r.Len(), "the batch applied in order: y added then removed")
	require.Contains(t, names(r.Members()), "x")
}

func TestAddVisibleOnReturnAfterQueuedEvents(t *testing.T) {
	r := New(Config{})
	r.buildMu.Lock()
	r.NotifyJoin(swim.Node{Name: "x"}) // queued; the drainer waits on the lock
	r.buildMu.Unlock()
	r.Remove("x")
	r.Add(swim.Node{Name: "y"})
	assert.Equal(t, []string{"y"}, names(r.Members()), "Add and Remove apply queued events first, in order, and are visible on return")
	r.Sync()
	assert.Equal(t, []string{"y"}, names(r.Members()), "the event is not applied twice")
}

func TestBatchMayCallRing(t *testing.T) {
	r := New(Config{})
	r.Add(swim.Node{Name: "a"})
	r.Batch(func(b *Batch) {
		n, _ := r.Lookup("k") // sees the ring as it was
		b.Remove(n.Name)
		r.Add(swim.Node{Name: "nested"}) // applies at once; no deadlock
		b.Add(swim.Node{Name: "b"})
	})
	assert.Equal(t, []string{"b", "nested"}, names(r.Members()))
}
