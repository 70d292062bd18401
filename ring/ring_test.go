package ring

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/swim-go/swim"
)

// Karger et al. 1997, "balance": every member receives about its share of the keys. With
// the default VirtualNodes, no member of 100 holds more than 1.25 times the mean.
func TestBalanceDefaultVirtualNodes(t *testing.T) {
	for _, prefix := range []string{"node", "10.1.2.3:7946", "worker"} {
		r := New(Config{})
		r.Add(members(prefix, 100)...)
		got := maxOverMean(loadsOf(r, 1_000_000))
		t.Logf("%s-000..099: max/mean keys per member %.3f", prefix, got)
		assert.LessOrEqualf(t, got, 1.25, "members named %s-NNN: the busiest of 100 holds at most 1.25x the mean", prefix)
	}
}

// Karger et al. 1997, "monotonicity": when a member joins, keys move only to it, and about
// its share of them.
func TestAddOneMovesOnlyToNewcomer(t *testing.T) {
	const keys = 300_000
	r := New(Config{})
	r.Add(members("node", 100)...)
	before := owners(r, keys)
	newcomer := swim.Node{Name: "newcomer", Addr: net.IPv4(10, 9, 9, 9), Port: 7946}
	r.Add(newcomer)
	after := owners(r, keys)

	moved := 0
	for i := range before {
		if before[i] != after[i] {
			moved++
			require.Equalf(t, "newcomer", after[i], "key %d moved from %s: every key that moves goes to the newcomer", i, before[i])
		}
	}
	ideal := float64(keys) / 101
	t.Logf("adding 1 member to 100 moved %d of %d keys (%.2fx the ideal %0.f)", moved, keys, float64(moved)/ideal, ideal)
	assert.LessOrEqual(t, float64(moved), 1.3*ideal, "the newcomer takes at most 1.3x its ideal share 1/101")
	assert.Greater(t, moved, 0, "the newcomer takes some keys")
}

// And when a member leaves, only its keys move.
func TestRemoveOneMovesOnlyItsKeys(t *testing.T) {
	const keys = 300_000
	r := New(Config{})
	r.Add(members("node", 100)...)
	before := owners(r, keys)
	r.Remove("node-042")
	after := owners(r, keys)

	moved := 0
	for i := range before {
		if before[i] == "node-042" {
			moved++
			require.NotEqualf(t, "node-042", after[i], "key %d: the departed member owns nothing", i)
			continue
		}
		require.Equalf(t, before[i], after[i], "key %d was not node-042's and stays with %s", i, before[i])
	}
	t.Logf("removing 1 member of 100 moved %d of %d keys (%.2fx the ideal %.0f)", moved, keys, float64(moved)/(keys/100.0), keys/100.0)
}

// Two members that learn of the same members in different orders must agree on every key,
// or they route one key to two owners.
func TestOrderIndependence(t *testing.T) {
	nodes := members("node", 100)
	a, b := New(Config{}), New(Config{})
	a.Add(nodes...)
	shuffled := slices.Clone(nodes)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for _, n := range shuffled {
		b.Add(n) // one at a time: a different history of rebuilds too
	}
	requireSameLookups(t, a, b, 100_000, "rings with the same members added in different orders agree on every key")
	assert.Equal(t, a.Checksum(), b.Checksum(), "and on the checksum")
	assert.Equal(t, names(a.Members()), names(b.Members()), "and list the same members")
}

// A ring changed by any history of batches answers as a ring built at once from its final
// members: the incremental merge loses and invents no point.
func TestIncrementalEqualsFresh(t *testing.T) {
	const seed = 7
	rng := rand.New(rand.NewPCG(seed, seed))
	weight := func(n swim.Node) float64 {
		w, _ := strconv.ParseFloat(string(n.Meta), 64)
		return w
	}
	cfg := Config{VirtualNodes: 8, Weight: weight}
	r := New(cfg)
	current := map[string]swim.Node{}
	for round := range 200 {
		r.Batch(func(b *Batch) {
			for range 1 + rng.IntN(5) {
				name := "m" + strconv.Itoa(rng.IntN(30))
				if rng.IntN(3) == 0 {
					b.Remove(name)
					delete(current, name)
					continue
				}
				n := swim.Node{Name: name, Meta: []byte(strconv.Itoa(rng.IntN(4)))} // weights 0..3
				b.Add(n)
				current[name] = n
			}
		})
		fresh := New(cfg)
		for _, n := range current {
			fresh.Add(n)
		}
		require.Equalf(t, fresh.Checksum(), r.Checksum(), "seed %d round %d: checksum as a fresh ring's", seed, round)
		require.Equalf(t, pointsByName(fresh), pointsByName(r), "seed %d round %d: the same points, with the same owners, as a fresh ring", seed, round)
		requireSameLookups(t, fresh, r, 2_000, "after every batch, lookups as on a fresh ring of the same members")
	}
}

// Points that collide (here a hash with 64 values) are ordered by owner name, so even
// then the order members came in does not matter; it also drives the search through
// crowded buckets.
func TestOrderIndependenceWithCollidingPoints(t *testing.T) {
	weak := func(b []byte) uint64 {
		var h uint64 = 14695981039346656037
		for _, c := range b {
			h = (h ^ uint64(c)) * 1099511628211
		}
		return (h % 64) << 58
	}
	nodes := members("node", 20)
	a, b := New(Config{Hash: weak, VirtualNodes: 16}), New(Config{Hash: weak, VirtualNodes: 16})
	a.Add(nodes...)
	for i := len(nodes) - 1; i >= 0; i-- {
		b.Add(nodes[i])
	}
	requireSameLookups(t, a, b, 10_000, "colliding points are ordered by name, whatever the order of adds")
	for i := range 1000 {
		k := "key-" + strconv.Itoa(i)
		h := weak([]byte(k))
		s := a.snap.Load()
		want, _ := slices.BinarySearchFunc(s.points, h, func(p point, h uint64) int { return cmp.Compare(p.hash(), h) })
		if want == len(s.points) {
			want = 0
		}
		require.Equalf(t, want, s.search(h), "key %d: the jump table finds the first point at or after the hash", i)
	}
}

func TestLookupN(t *testing.T) {
	r := New(Config{})
	r.Add(members("node", 50)...)
	for i := range 1000 {
		k := "key-" + strconv.Itoa(i)
		all := r.LookupN(k, 50)
		require.Lenf(t, all, 50, "key %s: LookupN(50) of 50 members lists them all", k)
		assert.ElementsMatch(t, names(members("node", 50)), names(all), "each member once")
		first, _ := r.Lookup(k)
		require.Equal(t, first.Name, all[0].Name, "LookupN's first is Lookup's answer")
		for _, n := range []int{1, 3, 16, 17, 40} {
			require.Equalf(t, names(all[:n]), names(r.LookupN(k, n)), "key %s: LookupN(%d) is a prefix of the longer list", k, n)
		}
	}
	assert.Len(t, r.LookupN("k", 500), 50, "n beyond the members gives every member")
	assert.Nil(t, r.LookupN("k", 0), "n of zero gives nothing")
	assert.Nil(t, r.LookupN("k", -1), "negative n gives nothing")
}

func TestEmptyRing(t *testing.T) {
	r := New(Config{})
	_, ok := r.Lookup("k")
	assert.False(t, ok, "an empty ring owns no key")
	assert.Nil(t, r.LookupN("k", 3), "nor lists any member")
	_, ok = r.LookupBounded("k", &Loads{})
	assert.False(t, ok, "nor places any key")
	assert.Empty(t, r.Members())
	assert.Zero(t, r.Len())
	r.Add(members("node", 3)...)
	r.Remove("node-000", "node-001", "node-002", "unknown")
	_, ok = r.Lookup("k")
	assert.False(t, ok, "removing every member empties the ring")
	assert.Equal(t, New(Config{}).Checksum(), r.Checksum(), "an emptied ring's checksum is the empty ring's")
}

func TestMembersSortedByName(t *testing.T) {
	r := New(Config{})
	r.Add(swim.Node{Name: "c"}, swim.Node{Name: "a"}, swim.Node{Name: "b"})
	assert.Equal(t, []string{"a", "b", "c"}, names(r.Members()))
	assert.Equal(t, 3, r.Len())
	got := r.Members()
	got[0].Name = "changed"
	assert.Equal(t, "a", r.Members()[0].Name, "Members returns a copy the caller may change")
}

func TestChecksum(t *testing.T) {
	ring := func(nodes ...swim.Node) uint64 {
		r := New(Config{})
		r.Add(nodes...)
		return r.Checksum()
	}
	ab := ring(swim.Node{Name: "a"}, swim.Node{Name: "b"})
	assert.Equal(t, ab, ring(swim.Node{Name: "b"}, swim.Node{Name: "a"}), "the same names in another order: equal")
	assert.NotEqual(t, ab, ring(swim.Node{Name: "a"}), "a member fewer: different")
	assert.NotEqual(t, ab, ring(swim.Node{Name: "a"}, swim.Node{Name: "c"}), "another member: different")
	assert.NotEqual(t, ring(swim.Node{Name: "ab"}, swim.Node{Name: "c"}), ring(swim.Node{Name: "a"}, swim.Node{Name: "bc"}),
		"names that concatenate alike: different")
	assert.Equal(t, ab, ring(swim.Node{Name: "a", Addr: net.IPv4(1, 2, 3, 4), Port: 1, Meta: []byte("x")}, swim.Node{Name: "b"}),
		"addresses and metadata do not place keys, and are left out")

	heavy := New(Config{Weight: func(n swim.Node) float64 { return float64(len(n.Meta)) }})
	heavy.Add(swim.Node{Name: "a", Meta: []byte("1")}, swim.Node{Name: "b", Meta: []byte("1")})
	assert.Equal(t, ab, heavy.Checksum(), "weight 1 everywhere: as the unweighted ring")
	heavy.Add(swim.Node{Name: "a", Meta: []byte("22")})
	assert.NotEqual(t, ab, heavy.Checksum(), "a member of another weight owns other keys: different")
}

func TestWeights(t *testing.T) {
	weight := func(n swim.Node) float64 {
		w, _ := strconv.ParseFloat(string(n.Meta), 64)
		return w
	}
	r := New(Config{Weight: weight})
	nodes := members("node", 10)
	for i := range nodes {
		nodes[i].Meta = []byte("1")
	}
	nodes[0].Meta = []byte("2")
	nodes[1].Meta = []byte("0")
	nodes[2].Meta = []byte("NaN")
	nodes[3].Meta = []byte("-1")
	nodes[4].Meta = []byte("1e300")
	r.Add(nodes...)

	s := r.snap.Load()
	assert.Equal(t, 2*DefaultVirtualNodes, s.slots[r.index["node-000"]].points, "weight 2: twice the points")
	assert.Equal(t, MaxWeight*DefaultVirtualNodes, s.slots[r.index["node-004"]].points, "an absurd weight is capped at MaxWeight")
	loads := loadsOf(r, 200_000)
	for _, name := range []string{"node-001", "node-002", "node-003"} {
		assert.Zerof(t, loads[name], "%s weighs zero or less (or NaN): no keys", name)
	}
	assert.Equal(t, 10, r.Len(), "weight-zero members are still members")
	assert.Len(t, r.LookupN("k", 10), 7, "LookupN lists only members that own points")
	ratio := float64(loads["node-000"]) / float64(loads["node-005"])
	assert.InDelta(t, 2, ratio, 0.5, "weight 2 receives about twice the keys of weight 1")

	tiny := New(Config{Weight: func(swim.Node) float64 { return 1e-9 }})
	tiny.Add(swim.Node{Name: "a"})
	_, ok := tiny.Lookup("k")
	assert.True(t, ok, "a tiny positive weight still owns a point")
}

// Mirrokni, Thorup and Zadimoghaddam 2016, section 3: with capacity ceil(c*m/n), "no bin
// receives more than ceil(c*m/n) balls".
func TestLookupBoundedCapsLoad(t *testing.T) {
	for _, c := range []float64{1, 1.1, 1.25, 2} {
		r := New(Config{VirtualNodes: 64, LoadFactor: c})
		r.Add(members("node", 37)...)
		var loads Loads
		for i := range 50_000 {
			n, ok := r.LookupBounded("key-"+strconv.Itoa(i), &loads)
			require.True(t, ok)
			loads.Add(n.Name, 1)
			m := loads.Total()
			bound := int(math.Ceil(c * float64(m) / 37))
			require.LessOrEqualf(t, loads.Load(n.Name), bound, "c=%v after %d keys: %s holds at most ceil(c*m/n)", c, m, n.Name)
		}
	}
}

func TestLookupBoundedWithWeights(t *testing.T) {
	r := New(Config{Weight: func(n swim.Node) float64 { return float64(len(n.Meta)) }})
	r.Add(swim.Node{Name: "big", Meta: []byte("xx")}, swim.Node{Name: "a", Meta: []byte("x")}, swim.Node{Name: "b", Meta: []byte("x")})
	var loads Loads
	for i := range 40_000 {
		n, _ := r.LookupBounded("key-"+strconv.Itoa(i), &loads)
		loads.Add(n.Name, 1)
	}
	assert.LessOrEqual(t, loads.Load("big"), int(math.Ceil(1.25*40_000/2)), "half the points: at most 1.25 x half the keys")
	assert.LessOrEqual(t, loads.Load("a"), int(math.Ceil(1.25*40_000/4)), "a quarter of the points: at most 1.25 x a quarter")
}

func TestLookupBoundedFollowsLookupWhileUnderBound(t *testing.T) {
	r := New(Config{})
	r.Add(members("node", 10)...)
	var loads Loads
	for i := range 100 {
		k := "key-" + strconv.Itoa(i)
		want, _ := r.Lookup(k)
		got, _ := r.LookupBounded(k, &loads)
		require.Equal(t, want.Name, got.Name, "with no loads recorded, every member is under its bound: the plain owner")
	}
}

func TestLoads(t *testing.T) {
	var l Loads
	l.Add("a", 3)
	l.Add("b", 2)
	l.Add("a", -5)
	assert.Zero(t, l.Load("a"), "a count does not go below zero")
	assert.Equal(t, 2, l.Total(), "and the total follows what was actually removed")
}

func TestLookupAllocatesNothing(t *testing.T) {
	for name, cfg := range map[string]Config{
		"default hash": {},
		"custom hash":  {Hash: func(b []byte) uint64 { return uint64(len(b)) * 0x9e3779b97f4a7c15 }},
	} {
		r := New(cfg)
		r.Add(members("node", 100)...)
		var loads Loads
		loads.Add("node-001", 1)
		keys := []string{"a", "key-1", "a rather longer key of forty-odd bytes...."}
		i := 0
		allocs := testing.AllocsPerRun(1000, func() {
			r.Lookup(keys[i%len(keys)])
			r.LookupBounded(keys[i%len(keys)], &loads)
			i++
		})
		assert.Zerof(t, allocs, "%s: Lookup and LookupBounded allocate nothing", name)
	}
}

// Lookups run from any goroutine while members come and go; under -race this checks that
// they share nothing with the writer but the atomic snapshot.
func TestConcurrentLookupsDuringChanges(t *testing.T) {
	r := New(Config{VirtualNodes: 32})
	anchors := members("anchor", 5) // always on the ring: every lookup finds an owner
	r.Add(anchors...)
	churn := members("churn", 50)

	var stop atomic.Bool
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				k := "key-" + strconv.Itoa(g*1_000_000+i)
				n, ok := r.Lookup(k)
				if !ok || n.Name == "" {
					t.Errorf("lookup of %s during changes found no owner", k)
					return
				}
				if got := r.LookupN(k, 3); len(got) != 3 {
					t.Errorf("LookupN(%s, 3) during changes gave %d members", k, len(got))
					return
				}
				_ = r.Members()
				_ = r.Checksum()
			}
		})
	}
	for round := range 100 {
		switch round % 4 {
		case 0:
			r.Add(churn[:25]...)
		case 1:
			for _, n := range churn[25:] {
				r.NotifyJoin(n) // through the event goroutine
			}
		case 2:
			r.Remove(names(churn[:25])...)
		case 3:
			for _, n := range churn[25:] {
				r.NotifyLeave(n)
			}
		}
	}
	r.Sync()
	stop.Store(true)
	wg.Wait()
	assert.Equal(t, names(anchors), names(r.Members()), "after the churn, only the anchors remain")
}

// pointsByName lists the ring's points in order as hash@owner.
func pointsByName(r *Ring) []string {
	s := r.snap.Load()
	out := make([]string, len(s.points))
	for i, p := range s.points {
		out[i] = fmt.Sprintf("%x@%s", p.hash(), s.slots[p.owner].node.Name)
	}
	return out
}
