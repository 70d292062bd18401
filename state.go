package swim

// The member table and the rules that change it (wire-format.md section 10). Every piece of
// news about a member, whether it came in a packet, a push/pull or from this member's own
// failure detector, goes through aliveNode, suspectNode or deadNode:
//
//   - alive beats suspect and dead only with a strictly higher incarnation;
//   - suspect and dead apply at the same or a higher incarnation;
//   - news that this member is suspect or dead is refuted by raising its own incarnation;
//   - a dead message whose sender is the member itself means it left.
//
// Accepted news is rebroadcast, and the application hears of joins, leaves and updates. Dead
// and left members stay in the table for GossipToTheDeadTime, then are reaped when the probe
// list wraps; a dead member's address is remembered for reconnect attempts.

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"math/bits"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/swim-go/swim/internal/wire"
)

// member is one entry of the table. Only the core touches it; the outside world gets Node
// values. What a member advertises about itself (its identity) is immutable and replaced
// whole when it changes, so the simulator's thousands of tables can share one copy per
// member; the rest is this table's view of it.
type member struct {
	*identity
	stateChange int64 // UnixNano of the last state change
	// trouble holds what only a member in trouble has; nil for the rest, which is most of
	// them, so that an entry is 32 bytes: the simulator holds 10^8 of them at 10,000 members.
	trouble     *trouble
	incarnation uint32
	st          uint8 // a NodeState
	// answered says the member answered this one's ping or relay request since it was last
	// silent as a relay: only such a member's missing nack counts against local health.
	answered bool
	listed   bool // in the table: its state counts in the table's counts
}

// trouble is a member's state beyond the common: each field is set only while it applies.
type trouble struct {
	susp *suspicion // running suspicion, while state is suspect

	// pendingAlive is the latest alive from another address that claimed this name while
	// the entry was alive: applied as a reclaim the moment the entry dies (a restart at a
	// new address, memberlist #157), unless it has expired by then.
	pendingAlive *claim

	// flap counts its refutations, while any is within FlapHoldDown (flap.go).
	flap *flapState
}

func (m *member) state() NodeState { return NodeState(m.st) }

func (m *member) susp() *suspicion {
	if m.trouble == nil {
		return nil
	}
	return m.trouble.susp
}

func (m *member) pendingAlive() *claim {
	if m.trouble == nil {
		return nil
	}
	return m.trouble.pendingAlive
}

func (m *member) flap() *flapState {
	if m.trouble == nil {
		return nil
	}
	return m.trouble.flap
}

// setTrouble changes what trouble holds through change, and lets it go once it holds nothing.
// clearing says the change only clears a field, which for a member without trouble (nearly
// every member, nearly every time) is nothing to do.
func (m *member) setTrouble(clearing bool, change func(*trouble)) {
	if m.trouble == nil {
		if clearing {
			return
		}
		m.trouble = &trouble{}
	}
	change(m.trouble)
	if *m.trouble == (trouble{}) {
		m.trouble = nil
	}
}

func (m *member) setSusp(s *suspicion) { m.setTrouble(s == nil, func(t *trouble) { t.susp = s }) }

func (m *member) setPendingAlive(cl *claim) {
	m.setTrouble(cl == nil, func(t *trouble) { t.pendingAlive = cl })
}

func (m *member) setFlap(f *flapState) { m.setTrouble(f == nil, func(t *trouble) { t.flap = f }) }

// identity is what a member advertises: name, address, metadata, versions. Never changed
// after it is built, but for what it remembers of its own encodings (aliveNews, stateParts).
type identity struct {
	seq      uint64 // unique per identity built in this process: a cheap stand-in for its content
	nameHash uint64 // the name's FNV-1a hash: the table's order fingerprint chains it
	name     string
	meta     []byte
	port     uint16
	vsn      [6]byte
	raw      [16]byte // the address exactly as the member advertises it: 4 or 16 bytes
	rawLen   uint8

	// alive is the last alive queued for rebroadcast about this identity: at incarnation
	// aliveInc, with metadata encoded as nil or not as aliveMetaNil says.
	alive        *news
	aliveInc     uint32
	aliveMetaNil bool
	// parts is its push/pull entry's encoding but for incarnation and state, made the first
	// time a table holding it is encoded (stateParts).
	parts *wire.NodeStateParts
}

// stateParts returns the identity's push/pull entry encoding but for incarnation and state.
func (id *identity) stateParts() *wire.NodeStateParts {
	if id.parts == nil {
		s := wire.PushNodeState{Name: id.name, Addr: id.addrBytes(), Port: id.port, Meta: id.meta, Vsn: id.vsn[:]}
		p := s.PartsOf()
		id.parts = &p
	}
	return id.parts
}

// aliveNews returns the alive to rebroadcast for a, an accepted alive that id says all of
// (with the port fixed): built once per incarnation, so that in a simulation, where
// identities are shared, every member's queue holds the same bytes for a newcomer instead of
// 10,000 copies. An alive whose versions are not exactly six bytes is encoded afresh, since
// it would not encode as the remembered one does.
func (id *identity) aliveNews(a *wire.Alive, port uint16) *news {
	metaNil := a.Meta == nil
	if id.alive != nil && id.aliveInc == a.Incarnation && id.aliveMetaNil == metaNil && len(a.Vsn) == 6 {
		return id.alive
	}
	fixed := *a
	fixed.Port = port
	n := &news{name: a.Node, msg: fixed.Append(nil)}
	if len(a.Vsn) == 6 {
		id.alive, id.aliveInc, id.aliveMetaNil = n, a.Incarnation, metaNil
	}
	return n
}

// newIdentity builds an identity from an alive message's fields (vsn may be short: then it
// keeps prev's versions, as an alive without them does).
func newIdentity(name string, addr []byte, port uint16, meta []byte, vsn []byte, prev *identity) *identity {
	return identityKeyOf(name, addr, port, meta, vsn, prev).build()
}

// identityKey is an identity's content, as a map key.
type identityKey struct {
	name   string
	meta   string
	port   uint16
	vsn    [6]byte
	raw    [16]byte
	rawLen uint8
}

// identityKeyOf is what newIdentity builds from the same fields.
func identityKeyOf(name string, addr []byte, port uint16, meta []byte, vsn []byte, prev *identity) identityKey {
	k := identityKey{name: name, meta: string(meta), port: port}
	k.rawLen = uint8(copy(k.raw[:], addr))
	if len(vsn) >= 6 {
		copy(k.vsn[:], vsn)
	} else if prev != nil {
		k.vsn = prev.vsn
	}
	return k
}

func (id *identity) key() identityKey {
	return identityKey{id.name, string(id.meta), id.port, id.vsn, id.raw, id.rawLen}
}

// build makes a new identity with this content.
func (k identityKey) build() *identity {
	id := &identity{seq: identitySeq.Add(1), nameHash: fnv64(k.name), name: k.name, port: k.port, vsn: k.vsn, raw: k.raw, rawLen: k.rawLen}
	if k.meta != "" {
		id.meta = []byte(k.meta)
	}
	return id
}

// fnv64 is the 64-bit FNV-1a hash of s.
func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := range len(s) {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return h
}

// same reports whether the identity already says what an alive message says.
func (id *identity) same(addr []byte, port uint16, meta []byte, vsn []byte) bool {
	return bytes.Equal(id.addrBytes(), addr) && id.port == port && bytes.Equal(id.meta, meta) &&
		(len(vsn) < 6 || vsnEqual(vsn, id.vsn))
}

// identitySeq numbers identities.
var identitySeq atomic.Uint64

// changedAt is when the member's state last changed.
func (m *member) changedAt() time.Time { return time.Unix(0, m.stateChange) }

// addrBytes is the member's address in the byte form it advertises.
func (id *identity) addrBytes() []byte { return id.raw[:id.rawLen] }

func (id *identity) addr() netip.Addr {
	a, _ := netip.AddrFromSlice(id.addrBytes())
	return a.Unmap()
}

func (id *identity) addrPort() netip.AddrPort { return netip.AddrPortFrom(id.addr(), id.port) }

// event is the member as an event tells of it.
func (m *member) event() eventNode {
	return eventNode{id: m.identity, incarnation: m.incarnation, state: m.state()}
}

// node copies the member out as a value.
func (m *member) node() Node { return m.event().Node() }

// memberTable holds every known member: a slice in a stable order plus an index by name.
type memberTable struct {
	list  []*member
	index nameIndex
	next  int // getNext looks here first
	// counts holds how many members are in each state, so that the periodic questions "how
	// many are alive" and "how many are dead" cost nothing: a scan of a simulated table of
	// 10,000 members misses the cache at every entry.
	counts [StateLeft + 1]int
	// order and content fingerprint what a push/pull of the table carries (tableSum), kept
	// as entries change rather than worked out from the whole table, which at 10,000
	// simulated members was a tenth of a converged run: order chains the entries' names in
	// table order, content sums a hash of each entry's identity, incarnation and state. vsns
	// counts the entries by protocol versions, for localVersions. After reindex they are
	// stale until asked for: a simulation bootstraps thousands of tables, most of which
	// change before they are.
	tableSummary
	stale bool
	// noops marks, by news.seq, the rebroadcast alives known to change nothing here: an
	// alive that was a no-op (aliveNode) stays one while its member stays in the table with
	// the same address and an incarnation no lower, so a simulated member that receives it
	// again (a join's members receive each alive a dozen times) skips decoding it and
	// looking its member up. Any removal, any change of address or fall of incarnation
	// forgets them all; they are rare. Only the simulator numbers news (codecMemo.noteNews).
	noops []uint64
}

// vsnCount is how many entries of a table speak one set of protocol versions, and how many
// of those are alive. A cluster has one or a few such sets.
type vsnCount struct {
	vsn        [6]byte
	all, alive int32
}

// entrySum is an entry's share of its table's content fingerprint.
func entrySum(m *member) uint64 {
	return mix64(m.identity.seq ^ mix64(uint64(m.incarnation)<<8|uint64(m.st)))
}

// count adds m's share of the table's counts and fingerprint (d = 1) or takes it away
// (d = -1).
func (t *memberTable) count(m *member, d int) {
	t.counts[m.st] += d
	if !t.stale {
		t.summarize(m, d)
	}
}

// summarize adds m's share of the fingerprint's content and of the counts by versions, or
// takes it away.
func (t *memberTable) summarize(m *member, d int) {
	t.content += uint64(d) * entrySum(m) // uint64(-1) * x is -x: the sum wraps around
	i := 0
	for i < len(t.vsns) && t.vsns[i].vsn != m.vsn {
		i++
	}
	if i == len(t.vsns) {
		t.vsns = append(t.vsns, vsnCount{vsn: m.vsn})
	}
	v := &t.vsns[i]
	v.all += int32(d)
	if m.state() == StateAlive {
		v.alive += int32(d)
	}
	if v.all == 0 {
		t.vsns = slices.Delete(t.vsns, i, i+1)
	}
}

// sum is the table's fingerprint: what a push/pull of it carries, in order, and its join
// flag.
func (t *memberTable) sum(join bool) uint64 {
	t.refresh()
	h := mix64(uint64(len(t.list)))
	if join {
		h = mix64(h ^ 1)
	}
	return mix64(mix64(h^t.order) ^ t.content)
}

// versions returns the table's counts by protocol versions.
func (t *memberTable) versions() []vsnCount {
	t.refresh()
	return t.vsns
}

// refresh works the fingerprint and the counts by versions out afresh if they are stale.
func (t *memberTable) refresh() {
	if !t.stale {
		return
	}
	t.stale = false
	t.order, t.content, t.vsns = 0, 0, t.vsns[:0]
	for _, m := range t.list {
		t.summarize(m, 1)
		t.order = mix64(t.order ^ m.nameHash)
	}
}

// tableSummary is what a table keeps of itself for its fingerprint and counts by versions.
type tableSummary struct {
	order, content uint64
	vsns           []vsnCount
}

// summary returns a copy of the table's summary, worked out afresh if stale.
func (t *memberTable) summary() tableSummary {
	t.refresh()
	s := t.tableSummary
	s.vsns = slices.Clone(s.vsns)
	return s
}

// adopt takes a copy of s as the table's summary: the caller knows s was taken from a table
// of exactly the same entries in the same order.
func (t *memberTable) adopt(s tableSummary) {
	s.vsns = append(t.vsns[:0], s.vsns...)
	t.tableSummary, t.stale = s, false
}

// recount is count for a member that may not be in the table yet, which counts nothing.
func (t *memberTable) recount(m *member, d int) {
	if m.listed {
		t.count(m, d)
	}
}

// setIncarnation sets m's incarnation.
func (t *memberTable) setIncarnation(m *member, inc uint32) {
	if len(t.noops) > 0 && inc < m.incarnation {
		t.forgetNoops()
	}
	t.recount(m, -1)
	m.incarnation = inc
	t.recount(m, 1)
}

// setIdentity sets m's identity (its address, metadata or protocol versions changed) and
// its incarnation.
func (t *memberTable) setIdentity(m *member, id *identity, inc uint32) {
	if len(t.noops) > 0 && (inc < m.incarnation || id.port != m.port || !bytes.Equal(id.addrBytes(), m.addrBytes())) {
		t.forgetNoops() // a real member never marks any, and never pays for the check
	}
	t.recount(m, -1)
	m.identity, m.incarnation = id, inc
	t.recount(m, 1)
}

// isNoop says whether the news numbered seq is known to change nothing here.
func (t *memberTable) isNoop(seq uint32) bool {
	i := int(seq / 64)
	return i < len(t.noops) && t.noops[i]&(1<<(seq%64)) != 0
}

// markNoop remembers that the news numbered seq changed nothing here.
func (t *memberTable) markNoop(seq uint32) {
	i := int(seq / 64)
	if i >= len(t.noops) {
		t.noops = slices.Grow(t.noops, i+1-len(t.noops))[:i+1]
	}
	t.noops[i] |= 1 << (seq % 64)
}

// unmarkNoop forgets that the news numbered seq changes nothing here.
func (t *memberTable) unmarkNoop(seq uint32) {
	if i := int(seq / 64); i < len(t.noops) {
		t.noops[i] &^= 1 << (seq % 64)
	}
}

// forgetNoops forgets every news known to change nothing.
func (t *memberTable) forgetNoops() { clear(t.noops) }

// get returns the member called name, or nil.
func (t *memberTable) get(name string) *member {
	if i := t.index.find(name, t.nameAt); i >= 0 {
		return t.list[i]
	}
	return nil
}

func (t *memberTable) nameAt(pos int) string { return t.list[pos].name }

// getNext is get for the entries of a push/pull, in their order. A peer lists its members in
// much the order this table holds them (both grew from the same joins and the same
// push/pulls), so an entry is most often the member after the one the last entry found:
// looking there first spares a walk of the index, whose slots lie far apart in memory.
func (t *memberTable) getNext(name string) *member {
	if t.next < len(t.list) && t.list[t.next].name == name {
		t.next++
		return t.list[t.next-1]
	}
	i := t.index.find(name, t.nameAt)
	if i < 0 {
		return nil
	}
	t.next = i + 1
	return t.list[i]
}

// add adds m, whose name the table does not hold.
func (t *memberTable) add(m *member) {
	if !t.addNew(m) {
		panic("swim: member table: add of a name it already holds: " + m.name)
	}
}

// addNew adds m unless a member of its name is known, and says whether it did, with one
// walk of the index for both.
func (t *memberTable) addNew(m *member) bool {
	if t.index.full(1) {
		t.reindex(2 * (len(t.list) + 1))
	}
	pos, at, tag := t.index.lookup(m.name, t.nameAt)
	if pos >= 0 {
		return false
	}
	t.list = append(t.list, m)
	t.index.insert(at, tag, len(t.list)-1)
	m.listed = true
	t.count(m, 1)
	if !t.stale {
		t.order = mix64(t.order ^ m.nameHash)
	}
	return true
}

// grow makes room for n members in all, so that adding them allocates nothing more.
func (t *memberTable) grow(n int) {
	if n <= len(t.list) {
		return
	}
	t.list = slices.Grow(t.list, n-len(t.list))
	if t.index.full(n - len(t.list)) {
		t.reindex(n)
	}
}

// reindex indexes the list afresh, with room for capacity members, and counts it afresh;
// its fingerprint is worked out when next asked for.
func (t *memberTable) reindex(capacity int) {
	t.index.reset(max(capacity, len(t.list)))
	t.counts = [StateLeft + 1]int{}
	t.stale = true
	for pos, m := range t.list {
		t.index.place(m.name, pos)
		m.listed = true
		t.counts[m.st]++
	}
}

// setState changes m's state, keeping the counts.
func (t *memberTable) setState(m *member, s NodeState) {
	t.recount(m, -1)
	m.st = uint8(s)
	t.recount(m, 1)
}

// nth returns the i-th member in state s, in table order.
func (t *memberTable) nth(s NodeState, i int) *member {
	for _, m := range t.list {
		if m.state() == s {
			if i == 0 {
				return m
			}
			i--
		}
	}
	return nil
}

// removeIf drops the members for which gone is true, keeping the order of the rest.
func (t *memberTable) removeIf(gone func(*member) bool) (removed []*member) {
	kept := t.list[:0]
	for _, m := range t.list {
		if gone(m) {
			m.listed = false
			removed = append(removed, m)
			continue
		}
		kept = append(kept, m)
	}
	if len(removed) == 0 {
		return nil
	}
	t.forgetNoops()
	clear(t.list[len(kept):])
	t.list = kept
	t.reindex(len(t.list))
	return removed
}

// nameIndex finds a position by name: a member's in the table's list, a queued broadcast's
// in its queue. It is an open-addressing hash table with linear probing, kept at most 3/4
// full: 4 to 8 bytes per entry where a map[string]int32 takes 30 to 60. That matters where
// many are held at once: the simulator's 10,000 members hold 10,000 entries each. Its owner
// says where each position's name is (nameAt), so the index holds no names itself.
//
// A slot holds position+1 in its low posBits bits and, above them, as many bits of the name's
// hash as fit: a probe that meets another name's slot almost never has to read that entry
// (dependent loads from memory far apart) to tell it is not the one. A removed entry leaves
// a tombstone until the next reset; the member table never removes one (it resets instead).
type nameIndex struct {
	seed    maphash.Seed // per index, so that chosen names cannot pile into one run of slots
	slots   []uint32     // 0 is empty, goneSlot a tombstone
	mask    uint64
	posBits uint // enough for every position below 3/4 of len(slots), plus goneSlot
	used    int  // slots not empty: entries and tombstones
}

// goneSlot marks a removed entry. No entry's slot equals it: positions stay below 3/4 of
// len(slots), so position+1 never fills the low posBits bits.
const goneSlot = ^uint32(0)

// full says whether adding n entries would take the index past 3/4 full.
func (x *nameIndex) full(n int) bool { return (x.used+n)*4 > len(x.slots)*3 }

// probe returns where name's probe sequence starts and the tag its slot carries.
func (x *nameIndex) probe(name string) (start uint64, tag uint32) {
	h := maphash.String(x.seed, name)
	return h & x.mask, uint32(h>>32) << x.posBits
}

// find returns name's position, or -1.
func (x *nameIndex) find(name string, nameAt func(pos int) string) int {
	if len(x.slots) == 0 {
		return -1
	}
	pos, _, _ := x.lookup(name, nameAt)
	return pos
}

// lookup returns name's position and the slot that holds it, or -1 with the slot where name
// would go (the first tombstone on its way, else the empty slot that ends it) and the tag it
// would carry. The index must have slots.
func (x *nameIndex) lookup(name string, nameAt func(pos int) string) (pos int, at uint64, tag uint32) {
	low := uint32(1)<<x.posBits - 1
	i, tag := x.probe(name)
	free := x.mask + 1
	for ; ; i = (i + 1) & x.mask {
		switch s := x.slots[i]; {
		case s == 0:
			return -1, min(free, i), tag
		case s == goneSlot:
			free = min(free, i)
		case s&^low == tag && nameAt(int(s&low-1)) == name:
			return int(s&low - 1), i, tag
		}
	}
}

// insert puts pos in slot at, as lookup found it for a name with this tag.
func (x *nameIndex) insert(at uint64, tag uint32, pos int) {
	if x.slots[at] == 0 {
		x.used++
	}
	x.slots[at] = tag | uint32(pos+1)
}

// remove empties slot at, as lookup found it.
func (x *nameIndex) remove(at uint64) { x.slots[at] = goneSlot }

// place indexes a name the index does not hold, without looking for it.
func (x *nameIndex) place(name string, pos int) {
	i, tag := x.probe(name)
	for x.slots[i] != 0 {
		i = (i + 1) & x.mask
	}
	x.insert(i, tag, pos)
}

// reset empties the index and sizes it for positions below capacity.
func (x *nameIndex) reset(capacity int) {
	if x.slots == nil {
		x.seed = maphash.MakeSeed()
	}
	size := 8
	for size*3 < capacity*4 {
		size *= 2
	}
	if size != len(x.slots) {
		x.slots = make([]uint32, size)
		x.mask = uint64(size - 1)
		x.posBits = uint(bits.Len(uint(size)))
	} else {
		clear(x.slots)
	}
	x.used = 0
}

// numAlive counts the members other than self that are alive or suspect.
func (c *core) numAlive() int {
	n := c.members.counts[StateAlive] + c.members.counts[StateSuspect]
	if c.self.listed && (c.self.state() == StateAlive || c.self.state() == StateSuspect) {
		n--
	}
	return n
}

// markChanged records an accepted change; visible says Members() changes too.
func (c *core) markChanged() {
	c.changes++
	c.viewVersion++
}

func (c *core) setState(m *member, s NodeState) {
	if m.state() == StateSuspect && s == StateAlive && m != c.self {
		c.emit(coreEvent{kind: evUnsuspect, node: m.event()})
	}
	if m.state() != s {
		c.members.setState(m, s)
		m.stateChange = c.now.UnixNano()
	}
}

// aliveNode applies an alive message (section 10.2). fromPushPull says it came from a
// push/pull merge rather than a packet. It returns whether the alive was old news about a
// known member at the address the table holds: such an alive changes nothing while that
// stays so (memberTable.noops).
func (c *core) aliveNode(a *wire.Alive, fromPushPull bool) (noop bool) {
	isSelf := a.Node == c.self.name
	if isSelf && c.leaving {
		return
	}
	if len(a.Vsn) >= 3 && (a.Vsn[0] == 0 || a.Vsn[1] == 0 || a.Vsn[0] > a.Vsn[1]) {
		c.log.Debug("ignoring alive with bad protocol versions", "peer", a.Node)
		return
	}
	if a.Node == "" {
		c.drop(DropMalformed, netip.AddrPort{}, nil)
		return
	}
	addr, ok := netip.AddrFromSlice(a.Addr)
	if !ok {
		c.drop(DropMalformed, netip.AddrPort{}, nil)
		return
	}
	addr = addr.Unmap()
	if addr.IsUnspecified() || addr.IsMulticast() {
		c.drop(DropMalformed, netip.AddrPort{}, fmt.Errorf("alive for %.32q at %v", a.Node, addr))
		return
	}
	if len(a.Node) > 255 || len(a.Meta) > MetaMaxSize {
		c.drop(DropOversized, netip.AddrPort{}, fmt.Errorf("alive for %.32q: name of %d bytes, metadata of %d", a.Node, len(a.Node), len(a.Meta)))
		return
	}
	if !c.allowed.allowed(addr) {
		c.drop(DropNotAllowed, netip.AddrPortFrom(addr, a.Port), fmt.Errorf("alive for %.32q", a.Node))
		return
	}
	port := a.Port
	if port == 0 {
		port = c.self.port
	}
	if c.cfg.Alive != nil && !isSelf {
		if len(a.Vsn) < 6 {
			return
		}
		if err := c.cfg.Alive.NotifyAlive(aliveNodeValue(a, port)); err != nil {
			c.log.Debug("alive vetoed by delegate", "peer", a.Node, "error", err)
			return
		}
	}

	var m *member
	if fromPushPull {
		m = c.members.getNext(a.Node)
	} else {
		m = c.members.get(a.Node)
	}
	reclaim, known := false, m != nil
	if m == nil {
		m = &member{identity: c.identityOf(a.Node, a.Addr, port, a.Meta, a.Vsn, nil), st: uint8(StateDead), stateChange: c.now.UnixNano()}
		c.members.add(m)
		c.probe.insert(c, len(c.members.list)-1)
		c.sync.forgetFailed(a.Node)
	} else if !bytes.Equal(m.addrBytes(), a.Addr) || m.port != port {
		if isSelf {
			c.selfConflict(aliveNodeValue(a, port), a.Incarnation)
			return
		}
		if !c.reclaimable(m) {
			c.conflict(m, a, addr, port)
			return
		}
		reclaim = true
	}

	if !isSelf && !reclaim && a.Incarnation <= m.incarnation {
		c.markOldNews(m)
		return known
	}
	if isSelf && a.Incarnation < m.incarnation {
		return
	}
	c.stopSuspicion(m)

	if isSelf {
		if a.Incarnation == m.incarnation && bytes.Equal(a.Meta, m.meta) && vsnEqual(a.Vsn, m.vsn) {
			return
		}
		c.refute(a.Incarnation)
		return
	}

	wasGone := m.state() == StateDead || m.state() == StateLeft

	id := m.identity
	if !id.same(a.Addr, port, a.Meta, a.Vsn) {
		id = c.identityOf(a.Node, a.Addr, port, a.Meta, a.Vsn, m.identity)
	}
	// Rebroadcast with the values as received, after the port fix-up. A member new to this
	// one, or back from the dead or a leave, is a join every application must see (a ring
	// that misses it places keys differently): it is sent as often as a death.
	n := id.aliveNews(a, port)
	if c.memo != nil {
		c.memo.noteNews(n)
	}
	c.queue.queueMember(n, wasGone)

	// A refutation: a known member, not back from a graceful leave, raised its incarnation
	// with the same address and metadata (flap.go).
	refuted := known && m.state() != StateLeft
	wasInView := !wasGone && !m.heldOut()
	metaChanged := !bytes.Equal(m.meta, a.Meta) || reclaim
	c.members.setIdentity(m, id, a.Incarnation)
	m.setPendingAlive(nil)
	if refuted && !metaChanged {
		// Before the state changes, so that a member held out from now on does not show
		// the application a return to alive first.
		c.noteRefutation(m, a.Incarnation, wasGone, wasInView)
	} else if f := m.flap(); f != nil {
		// An update raised the incarnation, not a refutation: the next counts from here.
		f.inc = a.Incarnation
	}
	c.setState(m, StateAlive)
	c.markOldNews(m)
	c.markChanged()
	c.metrics.count(MetricMemberAlive, 1)
	switch {
	case wasGone:
		c.joined++
		c.emit(coreEvent{kind: evJoin, node: m.event()})
	case metaChanged:
		c.emit(coreEvent{kind: evUpdate, node: m.event()})
	}
	return false
}

// markOldNews remembers, in a simulation, that the alive m's identity keeps for
// rebroadcast (aliveNews) is old news here if it is: it names m's address, and its
// incarnation is no higher than m's. Members learn most of each other from push/pulls; the
// gossip that follows brings them the very alives their rebroadcasting peers queued.
func (c *core) markOldNews(m *member) {
	if n := m.identity.alive; c.memo != nil && n != nil && n.seq != 0 && m.identity.aliveInc <= m.incarnation {
		c.members.markNoop(n.seq)
	}
}

// reclaimable says whether another address may take over m's name now (section 10.8, with
// DeadNodeReclaimTime 0 meaning "once dead").
func (c *core) reclaimable(m *member) bool {
	switch m.state() {
	case StateLeft:
		return true
	case StateDead:
		return c.cfg.DeadNodeReclaimTime >= 0 && c.now.Sub(m.changedAt()) >= c.cfg.DeadNodeReclaimTime
	}
	return false
}

// claim is an alive for a live member's name from another address, waiting for the holder
// to die.
type claim struct {
	alive wire.Alive
	at    int64 // UnixNano when it was last claimed
}

// claimsExpireAfter is how many of the longest suspicion timeouts a claim waits for the
// holder to die: a restarted member whose old instance is silent is admitted once that
// instance is declared dead, well within it; a claim older than that is from an address
// that may be long gone, and must not take the name hours later.
const claimsExpireAfter = 3

// claimExpired says whether a claim made at is too old to apply now.
func (c *core) claimExpired(at int64) bool {
	_, hi := suspicionBounds(c.cfg.SuspicionMult, c.cfg.SuspicionMaxTimeoutMult, len(c.members.list), c.cfg.ProbeInterval)
	return c.now.UnixNano()-at > int64(claimsExpireAfter*hi)
}

// conflict handles an alive for a live name from another address: the application hears of
// it, and the claim is kept so that it wins as soon as the current holder is declared dead.
func (c *core) conflict(m *member, a *wire.Alive, addr netip.Addr, port uint16) {
	if m.pendingAlive() == nil || a.Incarnation >= m.pendingAlive().alive.Incarnation {
		cl := *a
		cl.Addr = append([]byte(nil), a.Addr...)
		cl.Port = port
		cl.Meta = append([]byte(nil), a.Meta...)
		cl.Vsn = append([]byte(nil), a.Vsn...)
		m.setPendingAlive(&claim{alive: cl, at: c.now.UnixNano()})
	}
	c.log.Debug("name conflict", "peer", m.name, "existing", m.addrPort().String(), "claimant", netip.AddrPortFrom(addr, port).String())
	other := aliveNodeValue(a, port)
	c.emit(coreEvent{kind: evConflict, node: m.event(), other: &other})
}

// selfConflict handles news that a member at another address claims this member's name:
// the application hears of it (ConflictDelegate), and if this member is joining, it finds out
// whether that member still answers (checkName), in which case Join fails with ErrNameInUse.
func (c *core) selfConflict(other Node, incarnation uint32) {
	c.log.Warn("another member claims this member's name", "peer", other.Name, "claimant", other.Address(), "incarnation", incarnation)
	c.emit(coreEvent{kind: evConflict, node: c.self.event(), other: &other})
	c.checkName(other)
}

func aliveNodeValue(a *wire.Alive, port uint16) Node {
	n := Node{Name: a.Node, Addr: append([]byte(nil), a.Addr...), Port: port, Meta: append([]byte(nil), a.Meta...), Incarnation: a.Incarnation}
	if len(a.Vsn) >= 6 {
		n.PMin, n.PMax, n.PCur, n.DMin, n.DMax, n.DCur = a.Vsn[0], a.Vsn[1], a.Vsn[2], a.Vsn[3], a.Vsn[4], a.Vsn[5]
	}
	return n
}

func vsnEqual(b []byte, v [6]byte) bool {
	return len(b) == 6 && [6]byte(b) == v
}

// suspectNode applies a suspect message (section 10.3).
func (c *core) suspectNode(s *wire.Suspect) { c.applySuspect(s, true) }

// applySuspect applies a suspicion. confirms says whether it came in a suspect message, which
// may count as an independent confirmation of a running suspicion and is gossiped on; one
// found in a push/pull does neither (see beginSuspicion).
func (c *core) applySuspect(s *wire.Suspect, confirms bool) {
	m := c.members.get(s.Node)
	if m == nil {
		return
	}
	if s.Incarnation < m.incarnation {
		if m == c.self {
			c.reassert()
		}
		return
	}
	if m.susp() != nil {
		if s.Incarnation > m.incarnation {
			// The member refuted since this suspicion began and is accused again: that
			// is a new suspicion, not a confirmation of the old one.
			c.stopSuspicion(m)
			c.beginSuspicion(m, s, confirms)
			return
		}
		if confirms && c.confirmSuspicion(m, s.From) {
			c.queue.queueMember(&news{name: s.Node, msg: s.Append(nil)}, false)
		}
		return
	}
	if m.state() != StateAlive {
		return
	}
	if m == c.self {
		c.log.Info("refuting a suspicion", "from", s.From, "incarnation", s.Incarnation)
		c.refute(s.Incarnation)
		return
	}
	c.beginSuspicion(m, s, confirms)
}

// beginSuspicion marks m suspect at the message's incarnation, rebroadcasts the message if
// gossip says so, and starts the suspicion timer.
//
// A suspicion found in a push/pull is not gossiped: the wire has no place for its accuser,
// so it would go out in this member's name (as memberlist sends it), and every member that
// held the suspicion already would count it as an independent confirmation. A member that
// cannot hear then had its lone accusation confirmed by whoever merged it first, and with
// the timeout at its minimum declared the accused dead before the refutation reached it: in
// the simulator, a healthy member died in 3 of 200 runs of 64 members with one at 80%
// ingress loss (Local timings). The suspicion's own gossip carries it on.
func (c *core) beginSuspicion(m *member, s *wire.Suspect, gossip bool) {
	if gossip {
		c.queue.queueMember(&news{name: s.Node, msg: s.Append(nil)}, false)
	}
	c.members.setIncarnation(m, s.Incarnation)
	c.setState(m, StateSuspect)
	c.markChanged()
	c.startSuspicion(m, s.From)
	c.metrics.count(MetricMemberSuspect, 1)
	c.emit(coreEvent{kind: evSuspect, node: m.event(), other: &Node{Name: s.From}})
}

// reassert answers news about this member that is older than its incarnation (someone still
// holds a suspicion or death it already refuted) by sending its current alive again, unless it
// is already queued. Without it, a member that missed a refutation would keep the stale state
// until the next push/pull.
func (c *core) reassert() {
	if c.leaving || c.queue.queued(c.self.name) != nil {
		return
	}
	c.queueSelfNews(c.selfAlive().Append(nil), false, 0)
}

// deadNode applies a dead message (section 10.4); From == Node means the member left.
func (c *core) deadNode(d *wire.Dead) {
	m := c.members.get(d.Node)
	if m == nil {
		return
	}
	if d.Incarnation < m.incarnation {
		if m == c.self {
			c.reassert()
		}
		return
	}
	c.stopSuspicion(m)
	if m.state() == StateDead || m.state() == StateLeft {
		return
	}
	token := uint64(0)
	if m == c.self {
		if !c.leaving {
			c.log.Info("refuting a death", "from", d.From, "incarnation", d.Incarnation)
			c.refute(d.Incarnation)
			return
		}
		token = c.leaveToken
		c.queueSelfNews(d.Append(nil), true, token)
	} else {
		c.queue.queueMember(&news{name: d.Node, msg: d.Append(nil)}, true)
	}
	c.members.setIncarnation(m, d.Incarnation)
	if d.From == d.Node {
		c.setState(m, StateLeft)
	} else {
		c.setState(m, StateDead)
		c.noteDeath(m)
	}
	c.markChanged()
	c.metrics.count(MetricMemberDead, 1)
	c.emit(coreEvent{kind: evLeave, node: m.event()})
	if cl := m.pendingAlive(); cl != nil && m != c.self {
		m.setPendingAlive(nil)
		if c.claimExpired(cl.at) {
			c.log.Debug("name claim expired", "peer", m.name, "claimant", aliveNodeValue(&cl.alive, cl.alive.Port).Address())
			return
		}
		c.aliveNode(&cl.alive, false)
	}
}

// refute defends this member against news that it is suspect or dead (section 10.1): a new
// incarnation above both its own and the accused one, broadcast ahead of other gossip.
// Lifeguard counts each refutation against local health: others only accuse a member that
// seems slow.
func (c *core) refute(accused uint32) {
	inc := max(c.self.incarnation, accused) + 1
	c.members.setIncarnation(c.self, inc)
	c.awareness.apply(1)
	c.markChanged()
	c.metrics.count(MetricRefute, 1)
	c.queueSelfNews(c.selfAlive().Append(nil), false, 0)
}

// selfAlive is the alive message this member announces itself with.
func (c *core) selfAlive() *wire.Alive {
	s := c.self
	return &wire.Alive{Incarnation: s.incarnation, Node: s.name, Addr: s.addrBytes(), Port: s.port, Meta: s.meta, Vsn: s.vsn[:]}
}

// reap removes dead and left members that have had GossipToTheDeadTime to learn of it. Dead
// ones are remembered for reconnect attempts. A member with a flapping record (flap.go: with
// FlapHoldDown set, any death or refutation makes one) stays until the record expires,
// FlapHoldDown after the last, so that a return within it counts as one. It runs when the
// probe list wraps.
func (c *core) reap() {
	gone := c.members.removeIf(func(m *member) bool {
		return m != c.self && (m.state() == StateDead || m.state() == StateLeft) &&
			c.now.Sub(m.changedAt()) > c.cfg.GossipToTheDeadTime && m.flap() == nil
	})
	for _, m := range gone {
		if m.state() == StateDead {
			c.sync.rememberFailed(c, m)
		}
		c.queue.removeName(m.name)
	}
	if len(gone) > 0 {
		c.viewVersion++
	}
}
