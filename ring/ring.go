package ring

// What happens, in order: New normalises the Config and stores an empty snapshot. A change
// (Add, Remove, Batch, or an event) is queued as ops; whoever drains the queue (the caller
// of Add, Remove, Batch and Sync itself, or a goroutine started for events) applies every
// queued op to a copy of the current snapshot in one pass (ring_build.go) and swaps the
// copy in. Lookups load the current snapshot with one atomic read and never lock: a
// snapshot is never changed once stored.

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/cespare/xxhash/v2"
	"github.com/swim-go/swim"
)

// DefaultVirtualNodes is the number of points a member of weight 1 owns on the ring when
// Config.VirtualNodes is zero. Over 200 sets of 100 member names, the busiest member held at
// most 1.23 times the mean of 1,000,000 keys at 512 points; at 256 one set in 200 went over
// 1.25 (see the package documentation for the table, TestBalanceTable for the measurement).
const DefaultVirtualNodes = 512

// DefaultLoadFactor is Config.LoadFactor when it is zero: LookupBounded places no member
// above 1.25 times its share of the keys.
const DefaultLoadFactor = 1.25

// MaxWeight caps what Config.Weight may return: a member of weight w owns
// round(w*VirtualNodes) points, and a weight read from another member's metadata must not
// make the ring take unbounded memory.
const MaxWeight = 64

// Config says how a Ring places members. The zero Config is ready: 512 points a member,
// xxhash64, every member of weight 1, a load factor of 1.25 for LookupBounded.
type Config struct {
	// VirtualNodes is how many points on the ring a member of weight 1 owns. More points
	// spread the keys more evenly (max/mean keys per member falls roughly as
	// 1+2.5/sqrt(VirtualNodes)) and cost 12 to 16 bytes each in the snapshot, and a rebuild
	// hashes and sorts them. Default DefaultVirtualNodes (512); negative counts as zero.
	VirtualNodes int

	// Hash maps keys, and member names with a point number, onto the ring. Every member
	// that must agree on where a key lives must use the same Hash, so it must be stable
	// across processes and versions (hash/maphash is seeded per process: it will not do).
	// It must not change or keep its argument. Default xxhash64 (github.com/cespare/xxhash).
	Hash func([]byte) uint64

	// Weight, if set, scales a member's points: a member of weight w owns
	// round(w*VirtualNodes) points, at least one when w > 0, so it receives about w times
	// the keys of a member of weight 1. It is read when a member is added or updated, for
	// example from Node.Meta. A weight of zero, below zero or NaN keeps the member in
	// Members but gives it no points (no key maps to it: a way to drain a member); a weight
	// above MaxWeight counts as MaxWeight. Default: every member weighs 1. It must be a pure
	// function of the Node, or two rings with the same members disagree. It runs while the
	// ring applies a batch, so it must not change the ring (Add, Remove, Batch, Sync).
	Weight func(swim.Node) float64

	// LoadFactor is c in consistent hashing with bounded loads (Mirrokni, Thorup and
	// Zadimoghaddam, 2016), used only by LookupBounded: no member is given a key while it
	// already holds ceil(c * (m+1) * share) of the m keys placed so far, where share is its
	// fraction of the ring's points (1/n for n members of equal weight). Closer to 1 is
	// tighter balance and longer walks along the ring, and more keys move when members
	// change. Default DefaultLoadFactor (1.25); values below 1, and NaN, count as the
	// default.
	LoadFactor float64
}

// Ring is a consistent hash ring over swim members. Its lookups read an immutable
// snapshot through one atomic load and take no lock, so they are safe from any goroutine,
// allocate nothing, and never wait for a rebuild. Changes are serialised and applied in
// batches; see Add, Batch and NotifyJoin. Every method may be called from any goroutine,
// swim's event callbacks included: the ring calls nothing of the caller's but Config.Hash
// and Config.Weight. There is nothing to shut down. The zero Ring is not usable: call New.
type Ring struct {
	virtualNodes int
	hash         func([]byte) uint64
	defaultHash  bool
	weight       func(swim.Node) float64
	loadFactor   float64

	snap atomic.Pointer[snapshot]

	// buildMu is held while a batch is applied: it serialises rebuilds and guards index
	// and free, which say which slot of the snapshot each member occupies.
	buildMu sync.Mutex
	index   map[string]uint32
	free    []uint32
	builds  atomic.Uint64 // batches applied, for tests of coalescing

	// pendMu guards the queue of changes not yet applied, and whether a goroutine is
	// draining it for events.
	pendMu   sync.Mutex
	pending  []op
	draining bool
}

// New returns an empty ring placing members as cfg says.
func New(cfg Config) *Ring {
	r := &Ring{
		virtualNodes: cfg.VirtualNodes,
		hash:         cfg.Hash,
		weight:       cfg.Weight,
		loadFactor:   cfg.LoadFactor,
		index:        make(map[string]uint32),
	}
	if r.virtualNodes <= 0 {
		r.virtualNodes = DefaultVirtualNodes
	}
	if r.hash == nil {
		r.hash, r.defaultHash = xxhash.Sum64, true
	}
	if !(r.loadFactor >= 1) {
		r.loadFactor = DefaultLoadFactor
	}
	r.snap.Store(&snapshot{checksum: r.hash(nil)})
	return r
}

// snapshot is one immutable state of the ring.
type snapshot struct {
	points []point // ascending; equal points ordered by their owners' names

	// jump[b] is the index of the first point whose top bits (point>>shift) are >= b, for
	// b in [0, 1<<bits]: a key's top bits name a bucket holding one or two points on
	// average, and the search only looks inside it.
	jump  []uint32
	shift uint

	slots    []slot   // members by slot number; a slot is reused after its member leaves
	sorted   []uint32 // slots of the members, ordered by name
	holders  int      // members owning at least one point
	checksum uint64
}

// point is a point on the ring with its owner, in 12 bytes, so a lookup reads both from one
// cache line: with the owners in an array of their own, a lookup at 1,000 members (6 MB of
// points, out of cache) took about 12% longer.
type point struct {
	hi, lo uint32 // the point's hash, high and low halves
	owner  uint32 // the slot of the member owning it
}

func newPoint(h uint64, owner uint32) point { return point{uint32(h >> 32), uint32(h), owner} }

// hash returns the point's position on the ring.
func (p point) hash() uint64 { return uint64(p.hi)<<32 | uint64(p.lo) }

// slot is one member of a snapshot.
type slot struct {
	node   swim.Node
	points int // how many points it owns (0 for weight zero)
	used   bool
}

// Lookup returns the member owning key: the owner of the first point at or after key's
// hash, going round the ring. It returns false when no member owns a point (the ring is
// empty, or every member weighs zero). It takes no lock and allocates nothing.
func (r *Ring) Lookup(key string) (swim.Node, bool) {
	s := r.snap.Load()
	if len(s.points) == 0 {
		return swim.Node{}, false
	}
	return s.slots[s.points[s.search(r.hashKey(key))].owner].node, true
}

// LookupN returns up to n distinct members for key, in ring order from key's point: the
// first is Lookup's answer, and LookupN(key, k) is a prefix of LookupN(key, k+1), so the
// list suits primary-and-replicas placement. It returns fewer than n when fewer members own
// points, and nil when n <= 0 or none does. It takes no lock; it allocates the result.
func (r *Ring) LookupN(key string, n int) []swim.Node {
	s := r.snap.Load()
	n = min(n, s.holders)
	if n <= 0 {
		return nil
	}
	out := make([]swim.Node, 0, n)
	var seen []uint64 // a bit per slot, for long lists; short ones scan chosen
	var chosen [16]uint32
	if n > len(chosen) {
		seen = make([]uint64, (len(s.slots)+63)/64)
	}
	for i := s.search(r.hashKey(key)); len(out) < n; i++ {
		if i == len(s.points) {
			i = 0
		}
		o := s.points[i].owner
		if seen != nil {
			if seen[o/64]&(1<<(o%64)) != 0 {
				continue
			}
			seen[o/64] |= 1 << (o % 64)
		} else {
			if slices.Contains(chosen[:len(out)], o) {
				continue
			}
			chosen[len(out)] = o
		}
		out = append(out, s.slots[o].node)
	}
	return out
}

// Members returns the members on the ring, ordered by name, weight-zero members included.
// The slice is the caller's.
func (r *Ring) Members() []swim.Node {
	s := r.snap.Load()
	out := make([]swim.Node, len(s.sorted))
	for i, o := range s.sorted {
		out[i] = s.slots[o].node
	}
	return out
}

// Len returns how many members are on the ring, weight-zero members included.
func (r *Ring) Len() int { return len(r.snap.Load().sorted) }

// Checksum summarises who owns what: two rings built with the same Config have the same
// checksum exactly when they hold the same member names with the same number of points
// each (the same weights; up to the 2^-64 chance of a collision), and then they answer
// every lookup with the same member. Addresses, metadata and states are left out on
// purpose: keys are placed by name, so a member that moves to another address keeps its
// keys and both rings still agree. It is Hash over the names in order, each with its length
// and point count, so it does not depend on the order members were added; compare it
// between members (for example in push/pull state) to see whether their rings agree. The
// empty ring's checksum is Hash of nothing.
func (r *Ring) Checksum() uint64 { return r.snap.Load().checksum }

// hashKey hashes key without copying it: the default hash reads the string directly, and
// a Config.Hash sees the string's bytes, which it must not change or keep.
func (r *Ring) hashKey(key string) uint64 {
	if r.defaultHash {
		return xxhash.Sum64String(key)
	}
	return r.hash(unsafe.Slice(unsafe.StringData(key), len(key)))
}

// search returns the index of the first point at or after h, wrapping to 0 past the last.
// The jump table narrows it to h's bucket, which holds one or two points on average; it is
// small enough to inline into the lookups.
func (s *snapshot) search(h uint64) int {
	b := h >> s.shift
	lo, hi := int(s.jump[b]), int(s.jump[b+1])
	if hi-lo > 8 {
		lo = s.searchCrowded(h, lo, hi)
	}
	for lo < hi && s.points[lo].hash() < h {
		lo++
	}
	if lo == len(s.points) {
		return 0
	}
	return lo
}

// searchCrowded narrows a crowded bucket, points[lo:hi], by halves to at most 8 points, and
// returns where they start. Buckets are crowded only by chance or by a weak Config.Hash. It
// is kept out of line so that search stays small enough to inline.
//
//go:noinline
func (s *snapshot) searchCrowded(h uint64, lo, hi int) int {
	for hi-lo > 8 {
		mid := int(uint(lo+hi) >> 1)
		if s.points[mid].hash() < h {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// pointsFor returns how many points a member owns: its weight times VirtualNodes.
func (r *Ring) pointsFor(n swim.Node) int {
	w := 1.0
	if r.weight != nil {
		w = r.weight(n)
	}
	if !(w > 0) { // zero, negative, NaN
		return 0
	}
	w = min(w, MaxWeight)
	return max(1, int(math.Round(w*float64(r.virtualNodes))))
}

// bytes is the memory the snapshot's own arrays take (not the Nodes' Addr and Meta, which
// the snapshot shares with the caller).
func (s *snapshot) bytes() int {
	return int(unsafe.Sizeof(point{}))*cap(s.points) + 4*cap(s.jump) +
		int(unsafe.Sizeof(slot{}))*cap(s.slots) + 4*cap(s.sorted) + int(unsafe.Sizeof(*s))
}
