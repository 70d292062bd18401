package ring

// Consistent hashing with bounded loads (Mirrokni, Thorup and Zadimoghaddam, "Consistent
// Hashing with Bounded Loads", 2016, section 3): "a ball is hashed to a point on the ring
// and moves clockwise until it finds a bin that is not full", a bin being full when it
// holds ceil(c * m / n) balls, for m balls and n bins. Where a key lands then depends on
// which keys were placed before it, so it cannot be the stateless Lookup: LookupBounded
// takes the loads from its caller, which owns them and records each placement.

import (
	"math"

	"github.com/swim-go/swim"
)

// Loads counts the keys a caller has placed on each member, for LookupBounded. The zero
// Loads is empty and ready. It is not safe for concurrent use.
type Loads struct {
	byName map[string]int
	total  int
}

// Add records delta more keys on the member of that name (a negative delta, keys taken
// away); a member's count does not go below zero.
func (l *Loads) Add(name string, delta int) {
	if l.byName == nil {
		l.byName = make(map[string]int)
	}
	n := max(0, l.byName[name]+delta)
	l.total += n - l.byName[name]
	if n == 0 {
		delete(l.byName, name)
	} else {
		l.byName[name] = n
	}
}

// Load returns how many keys are recorded on the member of that name.
func (l *Loads) Load(name string) int { return l.byName[name] }

// Total returns how many keys are recorded on all members.
func (l *Loads) Total() int { return l.total }

// LookupBounded returns the member a new key should go to under bounded loads: the first
// member in ring order from key's point that holds fewer than
//
//	ceil(c * (loads.Total()+1) * points / P)
//
// keys, where c is Config.LoadFactor, points is how many of the ring's P points the member
// owns (so the bound is ceil(c*(m+1)/n) for n members of equal weight and m keys placed),
// and a member's keys are loads.Load(name). The caller records the placement with
// loads.Add(node.Name, 1) before the next call; then no member ever holds more than
// ceil(c*m*points/P) of the m keys. Such a member always exists, because the bounds add up
// to more than the keys placed, so the walk ends.
//
// The bound holds while membership stands still. After a change the shares change: a
// member may then be above its new bound (it gets no new keys until it is below it), and
// the keys of a member that left are still in loads. To restore the bound, place the keys
// again into a fresh Loads; most land where they were. It reads the snapshot without a
// lock and allocates nothing, but loads is the caller's to guard; two members agree on
// placements only if they place the same keys in the same order.
func (r *Ring) LookupBounded(key string, loads *Loads) (swim.Node, bool) {
	s := r.snap.Load()
	if len(s.points) == 0 {
		return swim.Node{}, false
	}
	start := s.search(r.hashKey(key))
	// c*(m+1)*points is exact for a c of few bits (1.25), and a correctly rounded division
	// of it is exact when the bound is a whole number, so ceil does not round up by one.
	cm := r.loadFactor * float64(loads.Total()+1)
	total := float64(len(s.points))
	for i, step := start, 0; step < len(s.points); i, step = i+1, step+1 {
		if i == len(s.points) {
			i = 0
		}
		sl := &s.slots[s.points[i].owner]
		if float64(loads.Load(sl.node.Name)) < math.Ceil(cm*float64(sl.points)/total) {
			return sl.node, true
		}
	}
	// Unreachable while loads counts only placements (the bounds add up to more), but a
	// caller's loads is input: fall back to the plain owner.
	return s.slots[s.points[start].owner].node, true
}
