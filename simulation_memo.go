package swim

// The simulator's memo of push/pull work. In a simulated cluster of n members every push/pull
// carries n entries, and at 10,000 members encoding, LZW-compressing, decompressing and
// decoding them (about a megabyte each way) was most of a run's time, while most of them are
// byte for byte the same: converged members hold the same table. The memo does each piece of
// that work once per distinct input and hands every member the same result, so a member
// sends exactly the bytes it would have built itself and decides exactly as it would have;
// TestMemoChangesNothing checks that the trace is the same with and without it.
//
// Everything it remembers is read-only once built: encoded states go out as they are, and a
// decoded push/pull is only read by a merge (its user state, which a delegate may keep, is
// copied for each member). The inputs it remembers to check a hit against (the bytes a
// decompression or a decoding was made from) are the caller's, not copies: should their
// owner ever write to them, the check can only fail and cost a miss, since it compares
// them with the new input in full, and a miss does the work afresh. A decoding reads its
// entries in those very bytes (wire.PushStates); each member merges what it was handed at
// once, while the bytes are still what the check found them to be.
//
// Some work is started ahead, on the machine's other cores (internal/later): decoding a
// push/pull state for its receiver once it is sent (decodeEarly), and encoding and
// compressing a member's state before it needs it (frameEarly): the answer of a member a
// push/pull request is on its way to, and a member's own push/pull shortly before its timer
// fires (Simulation.frameAhead). Each is a function of a draft or bytes that are never
// written to; the thread that runs the members takes the result when it needs it, or does
// the work itself if its input has changed meanwhile. Either way the bytes and decisions are
// the same, so the run is too.
//
// And the memo numbers the alives members queue for rebroadcast (noteNews): one per identity
// and incarnation, shared by every member. A member table remembers which of them it knows
// to change nothing (memberTable.noops), so that a member passes over an alive in a packet,
// or an entry of a push/pull state that stands for one (member.entryNews), without decoding it
// or looking its member up: a join's members receive each alive a dozen times.

import (
	"bytes"
	"hash/maphash"
	"sync"
	"unsafe"

	"github.com/swim-go/swim/internal/later"
	"github.com/swim-go/swim/internal/wire"
)

// memoSize bounds the memo's tables of states and decodings: a converged cluster has a
// handful of distinct tables at a time (one per state of the one member in trouble), and a
// join, whose tables all differ, gains nothing from a larger memo. plainMemoSize bounds the
// decompressions, which also hold every state a member compressed until its peer has read
// it: a join at 10,000 members has a few dozen push/pulls in flight at once.
const (
	memoSize      = 16
	plainMemoSize = 128
	// packetMemoSize bounds the packets remembered: those sent within the last millisecond or
	// so of virtual time, by a cluster of thousands, are a few hundred; a lost one is
	// forgotten when 4,096 others have been sent since.
	packetMemoSize = 4096
)

// codecMemo is shared by every core of one simulation.
type codecMemo struct {
	seed maphash.Seed
	// states holds encoded push/pull states by the table fingerprint they were built from
	// (tableSum, mixed with what else changes the encoding: see stateKey).
	states memoTable[uint64, []byte]
	// plain holds decompressed push/pull messages, by their compressed bytes. The member
	// that compressed one puts it here (see compressed), so its peer does not decompress it.
	plain memoTable[uint64, decompressed]
	// packets holds the plain bytes of every packet a member compressed, by its compressed
	// body, until it is read (see packetSent). Packets are compressed on other goroutines
	// too (framePacket), so it has a lock of its own.
	packetsMu sync.Mutex
	packets   memoTable[uint64, decompressed]
	// decoded holds decoded push/pull bodies, by their bytes and the decoder's limits.
	decoded memoTable[uint64, decodedPushPull]
	// origins holds, by where its body starts in memory, the table fingerprint each state
	// encoded here was built from: a member that receives those very bytes and holds a
	// table of the same fingerprint knows merging them changes nothing (see knownState).
	origins memoTable[*byte, uint64]
	// entryNews holds, by where their body lies, what states encoded here say of each of
	// their entries: the number of an alive news (noteNews) that is old news wherever the
	// entry is, or 0 (see member.entryNews).
	entryNews memoTable[*byte, []uint32]
	// decodedAt holds the decodings of states encoded here, by where their body lies.
	decodedAt memoTable[*byte, decodedPushPull]
	// ahead holds the decodings started early, on another goroutine, of states in flight,
	// by where their body lies (see decodeEarly).
	ahead memoTable[*byte, decodeAhead]
	// statesAhead holds states framed early, on another goroutine, by the key they would
	// have in states (see frameEarly).
	statesAhead memoTable[uint64, stateAhead]
	// boot is the summary of the table a bootstrap lays out (see bootSummary), bootNews
	// the old news it holds (bootNoops).
	boot     bootMemo
	bootNews bootNoopsMemo
	// news holds the rebroadcast alives members queue (identity.aliveNews), by their
	// bytes' hash, numbered in the order first queued (see noteNews).
	news map[uint64]*news
	// noops counts alives and push/pull entries a member skipped as news its table holds
	// (core.aliveMessage, core.mergeRemote).
	noops int
	hits  int // lookups answered from the memo, of any table
	same  int // merges of a member's own table, not walked (knownState)
	early int // decodings and states taken from decodeEarly and frameEarly
}

// bootLayout names the two slices a bootstrap lays tables out from, one of identities and
// one of incarnations, by where they lie: the simulator hands every member the same two.
type bootLayout struct {
	ids  **identity
	incs *uint32
	n    int
}

func bootLayoutOf(ids []*identity, incs []uint32) bootLayout {
	return bootLayout{ids: unsafe.SliceData(ids), incs: unsafe.SliceData(incs), n: len(ids)}
}

// bootMemo is the summary of the tables of one bootstrap layout.
type bootMemo struct {
	of  bootLayout
	sum tableSummary
}

// bootSummary gives t, just laid out by a bootstrap from ids and incs with its own member
// in its place as given, the summary of every other table laid out from the same two: they
// hold the same entries in the same order. Without it each of n members would walk its n
// entries to work the summary out; the first one does, once.
func (m *codecMemo) bootSummary(ids []*identity, incs []uint32, t *memberTable) {
	if m.boot.of == bootLayoutOf(ids, incs) {
		m.hits++
		t.adopt(m.boot.sum)
		return
	}
	m.boot = bootMemo{of: bootLayoutOf(ids, incs), sum: t.summary()}
}

// bootNoops returns which alive news a table laid out by a bootstrap from ids and incs holds
// as old news (memberTable.noops), but for its own member's, which the caller clears: the
// same for every table laid out from the same two, so it is worked out once.
func (m *codecMemo) bootNoops(ids []*identity, incs []uint32) []uint64 {
	if m.bootNews.of == bootLayoutOf(ids, incs) {
		return m.bootNews.noops
	}
	var t memberTable
	for i, id := range ids {
		if a := id.alive; a != nil && a.seq != 0 && id.aliveInc <= incs[i] {
			t.markNoop(a.seq)
		}
	}
	m.bootNews = bootNoopsMemo{of: bootLayoutOf(ids, incs), noops: t.noops}
	return t.noops
}

// bootNoopsMemo is bootNoops' answer for one bootstrap layout.
type bootNoopsMemo struct {
	of    bootLayout
	noops []uint64
}

type decompressed struct {
	in, out []byte
	taken   bool // a packet's plain bytes, handed to the one member that read it
}

type decodedPushPull struct {
	in  []byte
	lim wire.Limits
	pp  *wire.PushStates
}

func newCodecMemo() *codecMemo {
	return &codecMemo{seed: maphash.MakeSeed(), states: newMemoTable[uint64, []byte](memoSize),
		plain: newMemoTable[uint64, decompressed](plainMemoSize), packets: newMemoTable[uint64, decompressed](packetMemoSize), decoded: newMemoTable[uint64, decodedPushPull](memoSize),
		origins: newMemoTable[*byte, uint64](plainMemoSize), entryNews: newMemoTable[*byte, []uint32](plainMemoSize), decodedAt: newMemoTable[*byte, decodedPushPull](memoSize),
		ahead: newMemoTable[*byte, decodeAhead](plainMemoSize), statesAhead: newMemoTable[uint64, stateAhead](plainMemoSize)}
}

// stateKey is the key of an encoded state: the table fingerprint and every setting that
// changes the bytes built from the same table.
func stateKey(sum uint64, cfg *Config) uint64 {
	k := mix64(sum ^ uint64(cfg.ProtocolVersion)<<1)
	if cfg.EnableCompression {
		k = mix64(k ^ 1)
	}
	return k
}

// decompress is wire.Decompress, remembered.
func (m *codecMemo) decompress(body []byte, limit int) ([]byte, error) {
	h := maphash.Bytes(m.seed, body)
	// What LZW gives back does not depend on the limit; only whether it is refused does.
	if d, ok := m.plain.get(h); ok && len(d.out) <= limit && bytes.Equal(d.in, body) {
		m.hits++
		return d.out, nil
	}
	out, err := wire.Decompress(body, limit)
	// Only push/pulls are remembered: their result is only read. A user message's bytes go
	// to the application, which may write to them, so each member gets its own.
	if err == nil && len(out) > 0 && wire.MessageType(out[0]) == wire.PushPullMsg {
		m.plain.put(h, decompressed{in: body, out: out})
	}
	return out, err
}

// compressed remembers that framed, a compress message (type byte included) built by
// frameStream, holds the push/pull message plain, so that the peer reading framed takes plain
// instead of decompressing it: LZW is lossless, so that is what decompressing would give.
// Neither slice is written to afterwards: a member's encoded state is only ever sent.
func (m *codecMemo) compressed(framed, plain []byte) {
	if len(framed) < 2 || wire.MessageType(framed[0]) != wire.CompressMsg {
		return
	}
	body := framed[1:]
	m.plain.put(maphash.Bytes(m.seed, body), decompressed{in: body, out: plain})
}

// packetSent remembers that a packet's compress message body z holds plain, so that the member
// reading it takes a copy of plain instead of expanding z (packetPlain): expanding was a tenth
// of a simulated join. The sender's buffers are reused, so both are copied.
func (m *codecMemo) packetSent(z, plain []byte) {
	m.keepPacket(bytes.Clone(z), bytes.Clone(plain))
}

// keepPacket remembers that z, which nobody writes to, holds plain, which nobody does either.
func (m *codecMemo) keepPacket(z, plain []byte) {
	h := maphash.Bytes(m.seed, z)
	m.packetsMu.Lock()
	defer m.packetsMu.Unlock()
	m.packets.put(h, decompressed{in: z, out: plain})
}

// framePacket is packetFrame, on another goroutine, for a packet a member left to the
// simulator (core.deferFrames): its receiver then takes a copy of plain, as for a packet the
// member compressed itself. m may be nil (a simulation without the memo).
func (m *codecMemo) framePacket(plain []byte, crc bool) []byte {
	pkt, zip := packetFrame(plain, crc)
	if m != nil && zip != nil {
		m.keepPacket(zip[1:], plain)
	}
	return pkt
}

// maxNews bounds how many alives the memo numbers: a member table remembers them in a
// bitmap (memberTable.noops), which stays at most maxNews/8 bytes.
const maxNews = 1 << 17

// noteNews numbers n, an alive a member queued for rebroadcast, unless it has been already:
// every member queues the one news an identity keeps per incarnation (aliveNews), and its
// receivers find it by its bytes (newsOf).
func (m *codecMemo) noteNews(n *news) {
	if n.seq != 0 || len(m.news) >= maxNews-1 {
		return
	}
	h := maphash.Bytes(m.seed, n.msg)
	if _, ok := m.news[h]; ok {
		return // another with the same hash: it keeps its place, this one goes unnumbered
	}
	if m.news == nil {
		m.news = make(map[uint64]*news)
	}
	n.seq = uint32(len(m.news) + 1)
	m.news[h] = n
}

// newsOf returns the numbered news whose bytes msg is, or nil.
func (m *codecMemo) newsOf(msg []byte) *news {
	if n := m.news[maphash.Bytes(m.seed, msg)]; n != nil && bytes.Equal(n.msg, msg) {
		return n
	}
	return nil
}

// packetPlain is wire.Decompress for packets, remembered: what the sender compressed. A
// datagram has one receiver, which may keep or change what it reads (a user message, an
// ack's payload), so the bytes are handed over, not copied; should the network deliver the
// datagram again, the copy expands it afresh.
func (m *codecMemo) packetPlain(body []byte, limit int) ([]byte, error) {
	h := maphash.Bytes(m.seed, body)
	m.packetsMu.Lock()
	d, ok := m.packets.get(h)
	ok = ok && !d.taken && len(d.out) <= limit && bytes.Equal(d.in, body)
	if ok {
		d.taken = true
		m.packets.put(h, d)
	}
	m.packetsMu.Unlock()
	if ok {
		m.hits++
		return d.out, nil
	}
	return wire.Decompress(body, limit)
}

// built remembers that plain, a push/pull message (type byte included) just encoded, was built
// from a table of fingerprint sum.
func (m *codecMemo) built(plain []byte, sum uint64) {
	if len(plain) > 1 {
		m.origins.put(unsafe.SliceData(plain[1:]), sum)
	}
}

// encoded remembers what plain's entries are, in news (see entryNews).
func (m *codecMemo) encoded(plain []byte, news []uint32) {
	if len(plain) > 1 {
		m.entryNews.put(unsafe.SliceData(plain[1:]), news)
	}
}

// newsOfEntries returns what body's entries are, in news, if it was encoded here and the
// memo still knows it.
func (m *codecMemo) newsOfEntries(body []byte) []uint32 {
	if len(body) == 0 {
		return nil
	}
	news, _ := m.entryNews.get(unsafe.SliceData(body))
	return news
}

// origin returns the fingerprint of the table body (a push/pull body, after the type byte)
// was built from, if these very bytes were encoded here and the memo still knows them.
func (m *codecMemo) origin(body []byte) (uint64, bool) {
	if len(body) == 0 {
		return 0, false
	}
	return m.origins.get(unsafe.SliceData(body))
}

// decodePushPull is wire.DecodeStates, remembered.
func (m *codecMemo) decodePushPull(body []byte, lim wire.Limits) (*wire.PushStates, error) {
	// A state encoded here is never written to, so where it lies names its bytes: found
	// by address, it needs no hash or comparison of a whole table's bytes.
	var at *byte
	if _, own := m.origin(body); own {
		at = unsafe.SliceData(body)
		if d, ok := m.decodedAt.get(at); ok && d.lim == lim && len(d.in) == len(body) {
			m.hits++
			return d.share(), nil
		}
	}
	h := maphash.Bytes(m.seed, body)
	if d, ok := m.decoded.get(h); ok && d.lim == lim && bytes.Equal(d.in, body) {
		m.hits++
		return d.share(), nil
	}
	var pp *wire.PushStates
	var err error
	if f, ok := m.ahead.get(unsafe.SliceData(body)); ok && f.lim == lim && f.n == len(body) {
		d := f.pp.Get()
		pp, err = d.pp, d.err
		m.early++
	} else {
		pp, err = wire.DecodeStates(body, lim)
	}
	if err != nil {
		return pp, err
	}
	d := decodedPushPull{in: body, lim: lim, pp: pp}
	m.decoded.put(h, d)
	if at != nil {
		m.decodedAt.put(at, d)
	}
	return d.share(), nil
}

// stateAhead is a member's push/pull state, encoded and framed on another goroutine (see
// frameEarly), and what its entries stand for (member.entryNews).
type stateAhead struct {
	news []uint32
	out  *later.Value[framedState]
}

// framedState is a push/pull message, plain and framed.
type framedState struct{ plain, buf []byte }

// frameEarly starts encoding and framing (compressing), on another goroutine, the push/pull
// state member c would send if its table stays as it is: c is about to answer a request
// already on its way, or to start a push/pull of its own. What the state says is taken from
// the table here, on the thread that runs every member (draftState); the encoding and the
// compressing, most of the work, are not. If the table has not changed when c builds its
// state, localState takes the result (takeState): the same bytes it would have made.
func (m *codecMemo) frameEarly(c *core, join bool) {
	if c.cfg.Delegate != nil {
		return // the application's state may change at any time
	}
	key := stateKey(c.tableSum(join), c.cfg)
	if _, ok := m.states.get(key); ok {
		return
	}
	if _, ok := m.statesAhead.get(key); ok {
		return
	}
	d, compress := c.draftState(join), c.cfg.EnableCompression
	m.statesAhead.put(key, stateAhead{news: d.news, out: later.Start(func() framedState {
		plain := d.encode()
		return framedState{plain: plain, buf: frame(plain, compress)}
	})})
}

// takeState returns the state framed early under key, if there is one, waiting for it if
// it is not done yet, the plain message it was framed from, and what its entries stand for.
func (m *codecMemo) takeState(key uint64) (buf, plain []byte, news []uint32, ok bool) {
	f, ok := m.statesAhead.get(key)
	if !ok {
		return nil, nil, nil, false
	}
	m.early++
	out := f.out.Get()
	return out.buf, out.plain, f.news, true
}

// pushPullOf returns the plain push/pull message a stream carries, if it is one this memo
// can tell from the stream's bytes alone: encoded here, sent as it is or compressed.
func (m *codecMemo) pushPullOf(stream []byte) []byte {
	if _, _, rest, err := wire.CutStreamLabel(stream); err == nil {
		stream = rest
	}
	if len(stream) < 2 {
		return nil
	}
	plain := stream
	if wire.MessageType(stream[0]) == wire.CompressMsg {
		d, ok := m.plain.get(maphash.Bytes(m.seed, stream[1:]))
		if !ok || !bytes.Equal(d.in, stream[1:]) {
			return nil
		}
		plain = d.out
	}
	if len(plain) < 2 || wire.MessageType(plain[0]) != wire.PushPullMsg {
		return nil
	}
	if _, own := m.origin(plain[1:]); !own {
		return nil
	}
	return plain
}

// decodeAhead is a decoding started on another goroutine (see decodeEarly), for these limits
// and a body of n bytes.
type decodeAhead struct {
	lim wire.Limits
	n   int
	pp  *later.Value[decoding]
}

// decoding is what wire.DecodeStates returns.
type decoding struct {
	pp  *wire.PushStates
	err error
}

// decodeEarly starts decoding, on another goroutine, the push/pull message plain (one
// pushPullOf found in a stream) for a receiver with these limits, unless it has been. The
// stream arrives a link latency later, in virtual time; by then its decoding is most often
// done, and the one thread that runs every member does not do it. A decoding depends on
// nothing but the bytes, which are read only, and the limits: the run is the same whether
// it is used or not, and a decoding never used is dropped with the oldest ones.
func (m *codecMemo) decodeEarly(plain []byte, lim wire.Limits) {
	body := plain[1:]
	at := unsafe.SliceData(body)
	if d, ok := m.decodedAt.get(at); ok && d.lim == lim && len(d.in) == len(body) {
		return
	}
	if f, ok := m.ahead.get(at); ok && f.lim == lim && f.n == len(body) {
		return
	}
	m.ahead.put(at, decodeAhead{lim: lim, n: len(body), pp: later.Start(func() decoding {
		pp, err := wire.DecodeStates(body, lim)
		return decoding{pp, err}
	})})
}

// share returns the decoding for one more member: the same entries, read only, and a copy
// of the application's state, which a delegate may keep.
func (d decodedPushPull) share() *wire.PushStates {
	pp := *d.pp
	pp.UserState = bytes.Clone(pp.UserState)
	return &pp
}

// memoTable is a map that keeps its latest size entries.
type memoTable[K comparable, V any] struct {
	m     map[K]V
	order []K // a ring of the keys, oldest at next once it is full
	next  int
	size  int
}

func newMemoTable[K comparable, V any](size int) memoTable[K, V] {
	return memoTable[K, V]{m: make(map[K]V, size), size: size}
}

func (t *memoTable[K, V]) get(k K) (V, bool) {
	v, ok := t.m[k]
	return v, ok
}

func (t *memoTable[K, V]) put(k K, v V) {
	if _, ok := t.m[k]; !ok {
		if len(t.order) < t.size {
			t.order = append(t.order, k)
		} else {
			delete(t.m, t.order[t.next])
			t.order[t.next] = k
			t.next = (t.next + 1) % t.size
		}
	}
	t.m[k] = v
}
