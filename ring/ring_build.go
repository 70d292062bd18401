package ring

// How a batch is applied, in order: every queued op updates a copy of the slot table and
// marks the slots whose points change (a member added, removed, or given a new weight);
// then one pass over the old sorted points drops the marked slots' points and merges in the
// marked slots' new ones, sorted; the jump table, the name order and the checksum are
// rebuilt from the result, and the new snapshot is swapped in. A batch of changes to k
// members costs O(P + k*V log(k*V)) for P points on the ring and V points a member, however
// many ops it holds: that is why changes are batched. A batch that only changes addresses
// or metadata keeps the old points and jump table.

import (
	"cmp"
	"encoding/binary"
	"math/bits"
	"slices"
	"strings"

	"github.com/swim-go/swim"
)

// op is one queued change: put a member (add or replace), or remove one by name.
type op struct {
	remove bool
	name   string    // for remove
	node   swim.Node // for put
}

// Batch collects changes applied together by Ring.Batch.
type Batch struct {
	ops []op
}

// Add queues nodes to be added, or to replace the members of the same names.
func (b *Batch) Add(nodes ...swim.Node) {
	for _, n := range nodes {
		b.ops = append(b.ops, op{node: n})
	}
}

// Remove queues the members of these names to be removed; unknown names are ignored.
func (b *Batch) Remove(names ...string) {
	for _, name := range names {
		b.ops = append(b.ops, op{remove: true, name: name})
	}
}

// Add adds nodes to the ring, or replaces the members of the same names (their Node, and
// their points if their weight changed), in one rebuild however many there are. The change
// is visible to every Lookup that starts after Add returns. Changes queued by events and
// not yet applied are applied first, in order.
func (r *Ring) Add(nodes ...swim.Node) {
	r.Batch(func(b *Batch) { b.Add(nodes...) })
}

// Remove removes the members of these names, in one rebuild however many there are;
// unknown names are ignored. Like Add, it is visible when it returns.
func (r *Ring) Remove(names ...string) {
	r.Batch(func(b *Batch) { b.Remove(names...) })
}

// Batch calls f to collect changes, then applies them in the order f made them, in one
// rebuild, before it returns. f runs without any lock held: lookups in f see the ring as
// it was, and f may call any Ring method (a nested Add applies at once, before f's batch).
func (r *Ring) Batch(f func(b *Batch)) {
	var b Batch
	f(&b)
	r.submit(b.ops, true)
}

// submit queues ops. With wait, it applies everything queued before returning; otherwise it
// makes sure a goroutine is draining the queue (see NotifyJoin).
func (r *Ring) submit(ops []op, wait bool) {
	r.pendMu.Lock()
	r.pending = append(r.pending, ops...)
	start := !wait && !r.draining
	if start {
		r.draining = true
	}
	r.pendMu.Unlock()
	switch {
	case wait:
		r.flush()
	case start:
		go r.drain()
	}
}

// drain applies queued changes until the queue is empty. Changes that arrive while a batch
// is being applied wait, and go together into the next one: a burst of events costs a few
// rebuilds, not one each.
func (r *Ring) drain() {
	for {
		r.flush()
		r.pendMu.Lock()
		if len(r.pending) == 0 {
			r.draining = false
			r.pendMu.Unlock()
			return
		}
		r.pendMu.Unlock()
	}
}

// flush applies everything queued, in one batch. The queue is taken after buildMu is held,
// so a flush waiting for another to finish picks up all that arrived meanwhile.
func (r *Ring) flush() {
	r.buildMu.Lock()
	defer r.buildMu.Unlock()
	r.pendMu.Lock()
	ops := r.pending
	r.pending = nil
	r.pendMu.Unlock()
	if len(ops) > 0 {
		r.apply(ops)
	}
}

// apply builds the snapshot that results from ops and stores it. buildMu is held.
func (r *Ring) apply(ops []op) {
	old := r.snap.Load()
	next := &snapshot{slots: slices.Clone(old.slots)}
	dirty, renamed := r.applyOps(next, ops)
	r.builds.Add(1)

	if len(dirty) == 0 {
		next.points, next.jump, next.shift = old.points, old.jump, old.shift
	} else {
		r.mergePoints(old, next, dirty)
		next.jump, next.shift = buildJump(next.points)
	}
	if renamed || len(dirty) > 0 {
		next.sorted = sortedSlots(next.slots)
		next.checksum = r.checksum(next)
	} else {
		next.sorted, next.checksum = old.sorted, old.checksum
	}
	for _, s := range next.slots {
		if s.points > 0 {
			next.holders++
		}
	}
	r.snap.Store(next)
}

// applyOps applies ops, in order, to next's slots and to the name index. It returns the
// slots whose points change, once each, and whether the set of names changed.
func (r *Ring) applyOps(next *snapshot, ops []op) (dirty []uint32, renamed bool) {
	isDirty := make(map[uint32]bool)
	mark := func(s uint32) {
		if !isDirty[s] {
			isDirty[s] = true
			dirty = append(dirty, s)
		}
	}
	for _, o := range ops {
		if o.remove {
			s, ok := r.index[o.name]
			if !ok {
				continue
			}
			delete(r.index, o.name)
			next.slots[s] = slot{}
			r.free = append(r.free, s)
			mark(s)
			renamed = true
			continue
		}
		p := r.pointsFor(o.node)
		s, ok := r.index[o.node.Name]
		if !ok {
			s = r.allocSlot(next)
			r.index[o.node.Name] = s
			renamed = true
		}
		if !ok || next.slots[s].points != p {
			mark(s)
		}
		next.slots[s] = slot{node: o.node, points: p, used: true}
	}
	return dirty, renamed
}

// allocSlot returns a free slot of next, reusing one a departed member left.
func (r *Ring) allocSlot(next *snapshot) uint32 {
	if n := len(r.free); n > 0 {
		s := r.free[n-1]
		r.free = r.free[:n-1]
		return s
	}
	next.slots = append(next.slots, slot{})
	return uint32(len(next.slots) - 1)
}

// mergePoints fills next.points: old's points minus those of dirty slots, merged with the
// dirty slots' points as next has them. Equal points are ordered by their owners' names, so
// the result depends only on the members, not on the order they came.
func (r *Ring) mergePoints(old, next *snapshot, dirty []uint32) {
	var fresh []point
	var buf []byte
	for _, s := range dirty {
		sl := next.slots[s]
		if !sl.used {
			continue
		}
		buf = append(buf[:0], sl.node.Name...)
		buf = append(buf, 0, 0, 0, 0)
		for j := range sl.points {
			binary.LittleEndian.PutUint32(buf[len(buf)-4:], uint32(j))
			fresh = append(fresh, newPoint(r.hash(buf), s))
		}
	}
	less := func(a, b point) int {
		if c := cmp.Compare(a.hash(), b.hash()); c != 0 {
			return c
		}
		return strings.Compare(next.slots[a.owner].node.Name, next.slots[b.owner].node.Name)
	}
	slices.SortFunc(fresh, less)

	// A map lookup per old point is too slow for big rings: mark dirty slots in a slice.
	drop := make([]bool, len(old.slots))
	for _, s := range dirty {
		if int(s) < len(drop) {
			drop[s] = true
		}
	}
	total := len(fresh)
	for _, p := range old.points {
		if !drop[p.owner] {
			total++
		}
	}
	next.points = make([]point, 0, total)
	i := 0
	for _, p := range old.points {
		if drop[p.owner] {
			continue
		}
		// Most old points are not near a fresh one: compare hashes inline, names only on
		// a tie.
		for i < len(fresh) && fresh[i].hash() <= p.hash() && (fresh[i].hash() < p.hash() || less(fresh[i], p) < 0) {
			next.points = append(next.points, fresh[i])
			i++
		}
		next.points = append(next.points, p)
	}
	next.points = append(next.points, fresh[i:]...)
}

// buildJump returns the jump table over points and the shift that takes a hash to its
// bucket. It has 2^b buckets for the largest 2^b <= len(points), so one or two points a
// bucket on average, and 2 to 4 bytes a point; a small ring (up to smallRing points) gets
// four times as many, a quarter of a point a bucket, so that a lookup rarely steps through
// a bucket: at 10 members a lookup took 37.3 ns with one to two points a bucket, 24.9 ns
// with a quarter (ring/bench, same run). The table is then at most 256 KiB.
func buildJump(points []point) ([]uint32, uint) {
	if len(points) == 0 {
		return nil, 0
	}
	b := uint(bits.Len(uint(len(points)))) - 1
	if len(points) <= smallRing {
		b += 2
	}
	shift := 64 - b // 64 when b is 0: every hash then shifts to bucket 0
	jump := make([]uint32, 1<<b+1)
	filled := 0 // buckets before it have their first point
	for j, p := range points {
		for bucket := int(p.hash() >> shift); filled <= bucket; filled++ {
			jump[filled] = uint32(j)
		}
	}
	for ; filled < len(jump); filled++ {
		jump[filled] = uint32(len(points))
	}
	return jump, shift
}

// smallRing is the most points a ring may have for buildJump to give it four buckets a point.
const smallRing = 1 << 14

// sortedSlots returns the used slots, ordered by their members' names.
func sortedSlots(slots []slot) []uint32 {
	var out []uint32
	for s, sl := range slots {
		if sl.used {
			out = append(out, uint32(s))
		}
	}
	slices.SortFunc(out, func(a, b uint32) int { return strings.Compare(slots[a].node.Name, slots[b].node.Name) })
	return out
}

// checksum hashes the members in name order, each as its name's length, its name and its
// point count (the length keeps "ab"+"c" apart from "a"+"bc").
func (r *Ring) checksum(s *snapshot) uint64 {
	var buf []byte
	for _, o := range s.sorted {
		sl := s.slots[o]
		buf = binary.AppendUvarint(buf, uint64(len(sl.node.Name)))
		buf = append(buf, sl.node.Name...)
		buf = binary.AppendUvarint(buf, uint64(sl.points))
	}
	return r.hash(buf)
}
