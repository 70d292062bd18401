package swim

// The core is the whole protocol as a state machine that does no I/O. A driver (the runtime in
// loop.go, or the simulator in simulation.go) feeds it one input at a time, each stamped with
// the current time:
//
//   - handlePacket: a datagram arrived (raw bytes; the core decodes them, so it can be fuzzed)
//   - handleStreamRequest: a peer opened a stream and sent one request; the reply is returned
//   - handleStreamResult: a stream this core asked for finished (reply bytes or an error)
//   - advance: the clock reached nextDeadline
//   - the API inputs: start, join, leave, updateMeta, sendUser
//
// After each input the driver drains the outbox (packets to send, streams to start, events to
// deliver, API calls that finished) and calls nextDeadline to know when to wake it again. The
// core never reads a clock, never sleeps, starts no goroutine and never calls back into the
// driver, so nothing re-enters it and a seeded run is exactly repeatable.

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"github.com/swim-go/swim/internal/wire"
)

// timerKind says what a timer in the core's one heap is for.
type timerKind uint8

const (
	timerProbe        timerKind = iota // start the next probe
	timerProbeTimeout                  // the direct ping went unanswered: ask for indirect pings
	timerProbeEnd                      // the probe's window closed
	timerRelayTimeout                  // a ping relayed for another member went unanswered
	timerSuspicion                     // a suspicion may have run out
	timerGossip                        // send queued broadcasts to random members
	timerPushPull                      // periodic anti-entropy
	timerFollowUp                      // an extra push/pull while the view is still changing
	timerReconnect                     // try to reach a failed member again
	timerLastCall                      // tell a suspect directly that it is suspected
	timerNackDue                       // the relays of a failed probe have had time to nack
	timerNameCheck                     // a member claiming this one's name has had time to answer
	timerPing                          // a ping the application asked for has had time to be answered
	timerFlapRelease                   // a held-out member has gone FlapHoldDown without a refutation
)

// timer is one entry of the heap. Timers are never cancelled: a stale one is recognised when it
// fires, by the sequence number or generation it carries.
type timer struct {
	at   int64 // Unix nanoseconds
	seq  uint64
	kind timerKind
	id   uint32 // probe or relay sequence number
	gen  uint64 // suspicion generation
	name string // member the timer is about
}

// timerHeap is a binary min-heap ordered by (at, seq), so equal deadlines fire in the order
// they were armed.
type timerHeap []timer

func (h timerHeap) less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}

func (h *timerHeap) push(t timer) {
	*h = append(*h, t)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !s.less(i, p) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *timerHeap) pop() timer {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s[last] = timer{}
	s = s[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(s) && s.less(l, m) {
			m = l
		}
		if r < len(s) && s.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

// outPacket is a datagram to send. buf is valid until the next input.
type outPacket struct {
	to   netip.AddrPort
	name string // the member it is for, when known (NodeAwareTransport)
	buf  []byte
	// plain, with deferFrames, is the packet before compression and CRC, for packetFrame
	// (buf is then nil), and crc says whether it takes a CRC.
	plain []byte
	crc   bool
}

// streamKind says why the core opened a stream, and so what its result means.
type streamKind uint8

const (
	streamPushPull streamKind = iota // periodic, follow-up or reconnect anti-entropy
	streamJoin                       // push/pull on behalf of a Join call
	streamPing                       // the stream ping that backs up indirect pings
	streamUserMsg                    // a reliable user message; no reply
)

// outStream asks the driver to open a stream to `to`, write buf, and (if wantReply) read one
// framed reply before deadline, then report through handleStreamResult(id, ...). buf belongs
// to the driver.
type outStream struct {
	id   uint64
	to   netip.AddrPort
	name string // the member it is for, when known (NodeAwareTransport)
	// buf is the framed request. It is the driver's: the core never writes to it again,
	// and neither may the driver, since it may be shared (the simulator's memo).
	buf       []byte
	deadline  time.Time
	wantReply bool
}

// coreEventKind says what a coreEvent delivers.
type coreEventKind uint8

const (
	evJoin coreEventKind = iota
	evLeave
	evUpdate
	evUserMsg
	evConflict
	evPingComplete
	evSuspect   // node became suspect, raised by other.Name; for observers such as the simulator
	evUnsuspect // node, suspect, is alive again (it refuted); for observers such as the simulator
)

// coreEvent is something to tell the application, off the protocol loop.
type coreEvent struct {
	kind coreEventKind
	// hidden events concern a member held out of the application's view (flap.go): the
	// runtime does not deliver them; the simulator keeps its books on them.
	hidden bool
	node   eventNode
	other  *Node // evConflict: the claimant; evSuspect: the accuser (its name only)
	msg    []byte
	rtt    time.Duration
}

// eventNode is the member an event is about, as it was when the event was emitted: its
// identity, which never changes, and this member's view of its state. The Node the
// application gets is built where the event is delivered, so that an event costs no copies
// before then: a push/pull merge emits one for every member it brings, which in a simulated
// join of 2,000 members was a fifth of all the memory allocated.
type eventNode struct {
	id          *identity // nil for events about no member
	incarnation uint32
	state       NodeState
	heldOut     bool
}

// Name is the member's name, or "" for an event about no member.
func (e eventNode) Name() string {
	if e.id == nil {
		return ""
	}
	return e.id.name
}

// Node is the member as the application sees it, with slices of its own.
func (e eventNode) Node() Node {
	if e.id == nil {
		return Node{}
	}
	id := e.id
	return Node{
		Name:        id.name,
		Addr:        append([]byte(nil), id.addrBytes()...),
		Port:        id.port,
		Meta:        append([]byte(nil), id.meta...),
		State:       e.state,
		Incarnation: e.incarnation,
		PMin:        id.vsn[0], PMax: id.vsn[1], PCur: id.vsn[2],
		DMin: id.vsn[3], DMax: id.vsn[4], DCur: id.vsn[5],
		HeldOut: e.heldOut,
	}
}

// apiDone reports that the API call with this token finished: n members reached (join) and
// the error, if any.
type apiDone struct {
	token uint64
	n     int
	rtt   time.Duration // Ping
	err   error
}

// outbox is everything an input produced. The driver drains it and calls reset.
type outbox struct {
	packets []outPacket
	streams []outStream
	events  []coreEvent
	done    []apiDone
	arena   []byte // backing store for packets; reused after reset
	// room, if set, is room for events shared with other outboxes (shareEventRoom): the
	// first event of an input takes it, and reset gives it back, so that it is never in
	// two outboxes at once; an outbox then keeps no room of its own between inputs.
	room *[]coreEvent
}

// outboxKeep is how many events an outbox keeps room for between inputs. A push/pull merge
// can emit an event for every member, and room for them kept afterwards is room held for
// nothing: 10,000 simulated members each keeping room for 10,000 events held 14 GB.
const outboxKeep = 64

func (o *outbox) reset() {
	clear(o.packets)
	o.packets = o.packets[:0]
	o.streams = o.streams[:0]
	clear(o.events)
	switch {
	case o.room != nil:
		if cap(o.events) > cap(*o.room) {
			*o.room = o.events[:0] // given back (see emit)
		}
		o.events = nil
	case cap(o.events) > outboxKeep:
		o.events = nil
	default:
		o.events = o.events[:0]
	}
	o.done = o.done[:0]
	o.arena = o.arena[:0]
}

// pendingStream remembers why a stream was opened until its result comes back.
type pendingStream struct {
	kind  streamKind
	token uint64 // join or send call waiting on it
	peer  netip.AddrPort
	name  string // the peer's name, when known
	seq   uint32 // streamPing: the probe it backs up
	pull  pullKind
	start time.Time // when it was opened
}

// core is the protocol state machine. One goroutine (the driver's) owns it.
type core struct {
	cfg     *Config
	log     *slog.Logger
	rng     *rand.Rand
	lim     wire.Limits
	metrics metrics
	// sec is the label and encryption settings; allowed the networks peers may be in.
	sec     security
	allowed cidrs
	// interner, if set, shares identities between many cores: it returns the one identity
	// with the key's content, building it the first time (see identityOf).
	interner func(identityKey) *identity
	// memo, if set, is the simulator's memo of push/pull encodings and decodings, shared
	// between many cores (simulation_memo.go).
	memo *codecMemo
	// deferFrames, set by the simulator, leaves compressing a packet and adding its CRC to
	// whoever sends it (outPacket.plain), which the simulator does on another core.
	deferFrames bool

	self *member // this member's own entry in the table

	now    time.Time
	timers timerHeap
	tseq   uint64

	members   memberTable
	probe     prober
	awareness awareness
	queue     BroadcastQueue
	// gossipNext is when the gossip timer fires next, or would if it were armed; while
	// gossipIdle it is not, since there is nothing to send (see gossipTick).
	gossipNext time.Time
	gossipIdle bool
	flapGen    uint64 // numbers flap release timers (flap.go)
	sync       syncState

	seqNo      uint32
	relays     map[uint32]relay
	streams    map[uint64]pendingStream
	nextStream uint64
	joins      map[uint64]*joinCall
	// joinToken is the Join whose push/pull reply is being merged, or 0.
	joinToken  uint64
	nameChecks map[uint32]nameCheck
	pings      map[uint32]userPing // pings the application asked for, by sequence number
	held       []coreEvent         // user messages held back while a join is in flight

	leaving    bool
	leaveToken uint64

	// changes counts accepted state changes; push/pull compares it before and after a
	// merge to decide whether to follow up.
	changes uint64
	// joined counts members that became alive here; push/pull uses it the same way.
	joined uint64
	// viewVersion moves whenever Members() would return something different.
	viewVersion uint64

	drops drops
	out   outbox

	// scratch buffers reused across packets
	msgBuf, cmpBuf, zipBuf, crcBuf []byte
	parts                          [][]byte
	pick                           []*member
}

// newCore builds a core for the validated config cfg, advertising addr:port, with randomness
// from rng and encryption nonces from nonces (a nil cfg.Keyring is an empty one). It does
// nothing until start.
func newCore(cfg *Config, addr netip.Addr, port uint16, meta []byte, rng *rand.Rand, nonces func([]byte), log *slog.Logger) *core {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	lim := wire.DefaultLimits()
	lim.MaxPushPullNodes = cfg.MaxPushPullNodes
	lim.MaxUserStateLen = cfg.MaxUserStateSize
	lim.MaxUserMsgLen = cfg.MaxStreamMessageSize
	lim.MaxStreamEncrypted = cfg.MaxStreamMessageSize
	lim.MaxDecompressed = 2 * cfg.MaxStreamMessageSize
	vsn := encryptionPlain
	if cfg.ProtocolVersion < 2 {
		vsn = encryptionPadded
	}
	c := &core{
		cfg: cfg,
		log: log.With("node", cfg.Name),
		rng: rng,
		lim: lim,
		sec: security{
			label:          cfg.Label,
			skipLabelCheck: cfg.SkipInboundLabelCheck,
			keys:           cfg.Keyring,
			verifyIncoming: cfg.GossipVerifyIncoming,
			verifyOutgoing: cfg.GossipVerifyOutgoing,
			encryptionVsn:  vsn,
			nonces:         nonces,
			lim:            lim,
		},
		allowed:    cidrs(cfg.CIDRsAllowed),
		metrics:    newMetrics(cfg.Metrics, cfg.MetricLabels),
		relays:     make(map[uint32]relay),
		streams:    make(map[uint64]pendingStream),
		joins:      make(map[uint64]*joinCall),
		nameChecks: make(map[uint32]nameCheck),
		pings:      make(map[uint32]userPing),
	}
	c.awareness.max = cfg.AwarenessMaxMultiplier
	c.queue.RetransmitMult = cfg.RetransmitMult
	c.queue.membership = true
	c.queue.NumNodes = func() int { return len(c.members.list) }
	c.queue.onQueue = c.wakeGossip
	vsns := []byte{ProtocolVersionMin, ProtocolVersionMax, cfg.ProtocolVersion, cfg.DelegateProtocolMin, cfg.DelegateProtocolMax, cfg.DelegateProtocolVersion}
	c.self = &member{identity: newIdentity(cfg.Name, addrBytes(addr), port, meta, vsns, nil), incarnation: 1, st: uint8(StateAlive)}
	return c
}

// identityOf returns an identity with an alive message's fields (see newIdentity): the
// shared copy when the driver shares identities between tables (the simulator does), found
// without building one, or a new one.
func (c *core) identityOf(name string, addr []byte, port uint16, meta []byte, vsn []byte, prev *identity) *identity {
	k := identityKeyOf(name, addr, port, meta, vsn, prev)
	if c.interner == nil {
		return k.build()
	}
	return c.interner(k)
}

// addrBytes is the one byte form this library advertises an address in: 4 bytes for IPv4,
// 16 for IPv6 (memberlist compares addresses byte-wise, so the form must never change).
func addrBytes(a netip.Addr) []byte {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		return b[:]
	}
	b := a.As16()
	return b[:]
}

// start puts this member in its own table and arms the periodic timers, each at a random
// offset so that members started together do not act in lockstep.
func (c *core) start(now time.Time) {
	c.now = now
	c.self.stateChange = now.UnixNano()
	c.members.add(c.self)
	c.viewVersion++
	c.emit(coreEvent{kind: evJoin, node: c.self.event()})
	c.armAfter(c.jitter(c.cfg.ProbeInterval), timerProbe, 0, "", 0)
	if c.cfg.GossipInterval > 0 {
		c.gossipNext = c.now.Add(c.jitter(c.cfg.GossipInterval))
		c.arm(c.gossipNext, timerGossip, 0, "", 0)
	}
	if c.cfg.PushPullInterval > 0 {
		c.armPushPull(c.jitter(c.cfg.PushPullInterval))
	}
	if c.cfg.ReconnectInterval > 0 {
		c.armAfter(c.jitter(c.cfg.ReconnectInterval), timerReconnect, 0, "", 0)
	}
}

// jitter returns a uniformly random duration in [0, d).
func (c *core) jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(c.rng.Int64N(int64(d)))
}

// arm sets a timer for at, or for now if at has passed: a deadline that moved into the past
// (a suspicion confirmed after its shortened timeout) is due, not late, and must not read as
// a stalled loop.
func (c *core) arm(at time.Time, kind timerKind, id uint32, name string, gen uint64) {
	if at.Before(c.now) {
		at = c.now
	}
	c.tseq++
	c.timers.push(timer{at: at.UnixNano(), seq: c.tseq, kind: kind, id: id, gen: gen, name: name})
}

func (c *core) armAfter(d time.Duration, kind timerKind, id uint32, name string, gen uint64) {
	c.arm(c.now.Add(d), kind, id, name, gen)
}

// nextDeadline says when the core next needs advance; ok is false when nothing is armed.
func (c *core) nextDeadline() (t time.Time, ok bool) {
	for len(c.timers) > 0 && c.stale(c.timers[0]) {
		c.timers.pop()
	}
	if len(c.timers) == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, c.timers[0].at), true
}

// stale says a timer would do nothing if it fired: the probe it was for has moved on (most
// probes are acked long before their timeout). Timers are not cancelled when their purpose
// goes; nextDeadline drops stale ones, so that they do not wake the member for nothing.
// Each test here is the same as the one its timer's handler begins with.
func (c *core) stale(t timer) bool {
	p := c.probe.active
	switch t.kind {
	case timerProbeTimeout:
		return p == nil || p.seq != t.id || p.phase != probeDirect
	case timerProbeEnd:
		return p == nil || p.seq != t.id || p.phase != probeIndirect
	case timerNackDue:
		return c.probe.judging == nil || c.probe.judging.seq != t.id
	}
	return false
}

// advance runs every timer that is due at now.
func (c *core) advance(now time.Time) {
	c.setNow(now)
	n := now.UnixNano()
	for len(c.timers) > 0 && c.timers[0].at <= n {
		t := c.timers.pop()
		c.awareness.noteLateness(c, time.Duration(n-t.at))
		c.fire(t)
	}
}

func (c *core) setNow(now time.Time) {
	if now.After(c.now) {
		c.now = now
	}
}

func (c *core) fire(t timer) {
	switch t.kind {
	case timerProbe:
		c.probeTick()
	case timerProbeTimeout:
		c.probeTimeout(t.id)
	case timerProbeEnd:
		c.probeEnd(t.id)
	case timerRelayTimeout:
		c.relayTimeout(t.id)
	case timerSuspicion:
		c.suspicionTimeout(t.name, t.gen)
	case timerGossip:
		c.gossipTick()
	case timerPushPull:
		c.pushPullTick()
	case timerFollowUp:
		c.followUpTick(t.gen)
	case timerReconnect:
		c.reconnectTick()
	case timerLastCall:
		c.lastCall(t.name, t.gen)
	case timerNackDue:
		c.nackDue(t.id)
	case timerNameCheck:
		c.nameCheckDone(t.id, false)
	case timerPing:
		c.pingDone(t.id, nil)
	case timerFlapRelease:
		c.flapRelease(t.name, t.gen)
	}
}

// handlePacket takes one datagram as it came off the network: it checks the framing, then
// handles every message inside. Bad input is counted and dropped, never returned.
func (c *core) handlePacket(now time.Time, from netip.AddrPort, buf []byte) {
	c.setNow(now)
	c.metrics.count(MetricPacketReceived, float64(len(buf)))
	if !c.allowed.allowed(from.Addr()) {
		c.drop(DropNotAllowed, from, nil)
		return
	}
	if len(buf) == 0 {
		c.drop(DropTruncated, from, nil)
		return
	}
	buf, err := c.sec.openPacket(buf)
	if err != nil {
		c.drop(dropReasonOf(err), from, err)
		return
	}
	if len(buf) == 0 {
		c.drop(DropTruncated, from, nil)
		return
	}
	first := len(c.out.events)
	var decompress func([]byte, int) ([]byte, error)
	if c.memo != nil {
		decompress = c.memo.packetPlain
	}
	wire.Unpack(buf, c.lim, decompress, func(msg []byte) { c.handleMessage(from, msg) },
		func(err error) { c.drop(dropReasonOf(err), from, err) })
	if c.cfg.UserMessagesNewestFirst {
		reverseUserMessages(c.out.events[first:])
	}
}

// reverseUserMessages reverses the order of the user messages among evs; other events keep
// their places.
func reverseUserMessages(evs []coreEvent) {
	for i, j := 0, len(evs)-1; ; i, j = i+1, j-1 {
		for i < j && evs[i].kind != evUserMsg {
			i++
		}
		for i < j && evs[j].kind != evUserMsg {
			j--
		}
		if i >= j {
			return
		}
		evs[i], evs[j] = evs[j], evs[i]
	}
}

// handleMessage routes one message found in a packet.
func (c *core) handleMessage(from netip.AddrPort, msg []byte) {
	if len(msg) == 0 {
		c.drop(DropTruncated, from, nil)
		return
	}
	t, body := wire.MessageType(msg[0]), msg[1:]
	var err error
	switch t {
	case wire.PingMsg:
		var m wire.Ping
		if err = m.Decode(body); err == nil {
			c.handlePing(from, &m)
		}
	case wire.IndirectPingMsg:
		var m wire.IndirectPingReq
		if err = m.Decode(body); err == nil {
			c.handleIndirectPing(from, &m)
		}
	case wire.AckRespMsg:
		var m wire.AckResp
		if err = m.Decode(body); err == nil {
			c.handleAck(from, &m)
		}
	case wire.NackRespMsg:
		var m wire.NackResp
		if err = m.Decode(body); err == nil {
			c.handleNack(from, &m)
		}
	case wire.SuspectMsg:
		var m wire.Suspect
		if err = m.Decode(body); err == nil {
			c.suspectNode(&m)
		}
	case wire.AliveMsg:
		err = c.aliveMessage(msg)
	case wire.DeadMsg:
		var m wire.Dead
		if err = m.Decode(body); err == nil {
			c.deadNode(&m)
		}
	case wire.UserMsg:
		if len(body) > 0 {
			c.userMessage(from, coreEvent{kind: evUserMsg, msg: append([]byte(nil), body...)})
		}
	default:
		c.drop(DropUnknownType, from, nil)
		return
	}
	if err != nil {
		c.drop(dropReasonOf(err), from, err)
	}
}

// aliveMessage decodes and applies an alive found in a packet (msg, its type byte
// included). In a simulation, an alive its receiver's table knows to change nothing
// (memberTable.noops) is skipped whole: a join's members receive each alive a dozen times.
// Not with an Alive delegate, which must hear of every alive.
func (c *core) aliveMessage(msg []byte) error {
	var known *news
	if c.memo != nil && c.cfg.Alive == nil {
		if known = c.memo.newsOf(msg); known != nil && known.name != c.self.name && c.members.isNoop(known.seq) {
			c.memo.noops++
			return nil
		}
	}
	var m wire.Alive
	if err := m.Decode(msg[1:]); err != nil {
		return err
	}
	if c.aliveNode(&m, false) && known != nil {
		c.members.markNoop(known.seq)
	}
	return nil
}

func (c *core) emit(e coreEvent) {
	switch e.kind {
	case evJoin, evLeave, evUpdate, evSuspect, evUnsuspect:
		if m := c.members.get(e.node.Name()); m != nil && m.flap() != nil {
			// Nothing about a held-out member reaches the view; a member shown suspect for
			// flapping stays suspect in it, whatever the protocol's state does.
			suspectOnly := e.kind == evSuspect || e.kind == evUnsuspect
			e.hidden = m.heldOut() || suspectOnly && m.flapSuspect()
		}
	}
	if c.out.events == nil && c.out.room != nil {
		c.out.events, *c.out.room = *c.out.room, nil
	}
	c.out.events = append(c.out.events, e)
}

func (c *core) finish(token uint64, n int, err error) {
	if token != 0 {
		c.out.done = append(c.out.done, apiDone{token: token, n: n, err: err})
	}
}

// nextSeqNo hands out probe and relay sequence numbers, starting at 1 like memberlist.
func (c *core) nextSeqNo() uint32 {
	c.seqNo++
	if c.seqNo == 0 {
		c.seqNo = 1
	}
	return c.seqNo
}

// openStream asks the driver for a stream exchange and remembers why.
func (c *core) openStream(to netip.AddrPort, buf []byte, timeout time.Duration, wantReply bool, p pendingStream) {
	c.nextStream++
	id := c.nextStream
	p.peer, p.start = to, c.now
	c.streams[id] = p
	buf = c.sec.sealStream(buf, true)
	c.metrics.count(MetricStreamOpened, 1)
	c.metrics.count(MetricStreamSent, float64(len(buf)))
	c.out.streams = append(c.out.streams, outStream{id: id, to: to, name: p.name, buf: buf, deadline: c.now.Add(timeout), wantReply: wantReply})
}

// handleStreamResult takes the outcome of a stream this core opened: the reply (a whole
// message, unframed), or err when the exchange failed. Unknown ids are ignored.
func (c *core) handleStreamResult(now time.Time, id uint64, reply []byte, err error) {
	c.setNow(now)
	p, ok := c.streams[id]
	if !ok {
		return
	}
	delete(c.streams, id)
	switch p.kind {
	case streamPushPull, streamJoin:
		c.pushPullResult(p, reply, err)
	case streamPing:
		c.streamPingResult(p, reply, err)
	case streamUserMsg:
		c.finish(p.token, 0, err)
	}
}

// handleStreamRequest takes one request a peer sent on a stream (a whole message, unframed)
// and returns the framed reply to write, or nil to close without one. The reply is the
// driver's, as an outStream's buf is: neither the core nor the driver writes to it.
func (c *core) handleStreamRequest(now time.Time, from netip.AddrPort, msg []byte) []byte {
	c.setNow(now)
	if reply := c.serveStream(from, msg); reply != nil {
		reply = c.sec.sealStream(reply, false)
		c.metrics.count(MetricStreamSent, float64(len(reply)))
		return reply
	}
	return nil
}

// handleStreamError counts a stream request that could not be read, and returns the error
// response to write, if the failure is one the dialer should hear about (section 6.6):
// encryption either way, an undecryptable message, bad compression. Anything else, label
// trouble included, closes the stream without a word.
func (c *core) handleStreamError(now time.Time, from netip.AddrPort, err error) []byte {
	c.setNow(now)
	reason := dropReasonOf(err)
	c.drop(reason, from, err)
	switch reason {
	case DropEncryption, DropDecryptFailed, DropCompression:
		e := wire.ErrResp{Error: err.Error()}
		return c.sec.sealStream(c.frameStream(e.Append(nil)), false)
	}
	return nil
}

// serveStream answers one stream request with an unsealed reply, or nil.
func (c *core) serveStream(from netip.AddrPort, msg []byte) []byte {
	if len(msg) == 0 {
		c.drop(DropTruncated, from, nil)
		return nil
	}
	t, body := wire.MessageType(msg[0]), msg[1:]
	switch t {
	case wire.PingMsg:
		var m wire.Ping
		if err := m.Decode(body); err != nil {
			c.drop(dropReasonOf(err), from, err)
			return nil
		}
		if m.Node != "" && m.Node != c.self.name {
			c.drop(DropMisaddressed, from, nil)
			return nil
		}
		ack := wire.AckResp{SeqNo: m.SeqNo}
		return c.frameStream(ack.Append(nil))
	case wire.PushPullMsg:
		c.metrics.sample(MetricPushPullSizeRemote, float64(len(msg)))
		pp, err := c.decodePushPull(body)
		if err != nil {
			c.drop(dropReasonOf(err), from, err)
			return nil
		}
		return c.servePushPull(from, pp, c.knowState(body, pp.Join))
	case wire.UserMsg:
		m, err := wire.DecodeStreamUser(body, c.lim)
		if err != nil {
			c.drop(dropReasonOf(err), from, err)
			return nil
		}
		if len(m) > 0 {
			c.emit(coreEvent{kind: evUserMsg, msg: m})
		}
		return nil
	}
	c.drop(DropUnknownType, from, nil)
	return nil
}

// frameStream wraps a whole message for a stream: compressed when that is smaller.
func (c *core) frameStream(msg []byte) []byte { return frame(msg, c.cfg.EnableCompression) }

// frame is frameStream for a member that compresses or not.
func frame(msg []byte, compress bool) []byte {
	if compress && len(msg) >= compressMinSize {
		if z := wire.Compress(msg); len(z) < len(msg) {
			return z
		}
	}
	return msg
}

// compressMinSize is the smallest message worth trying to compress: below it LZW's
// header and code width never win.
const compressMinSize = 128

// leave announces that this member is leaving: a dead message about itself with From set to
// itself, queued ahead of all other news. The call with this token finishes when that message
// has been sent as often as any broadcast is (or at once, if nobody is there to hear it).
func (c *core) leave(now time.Time, token uint64) {
	c.setNow(now)
	if c.leaving {
		// As in memberlist, leaving twice is not an error.
		c.finish(token, 0, nil)
		return
	}
	c.leaving = true
	c.leaveToken = token
	c.deadNode(&wire.Dead{Incarnation: c.self.incarnation, Node: c.self.name, From: c.self.name})
	c.finishIfAlone(token)
}

// updateMeta sets this member's metadata and announces it with a new incarnation. The call
// with this token finishes when the announcement has been fully disseminated.
func (c *core) updateMeta(now time.Time, meta []byte, token uint64) {
	c.setNow(now)
	if c.leaving {
		c.finish(token, 0, ErrLeft)
		return
	}
	s := c.self
	changed := !bytes.Equal(s.meta, meta)
	c.members.setIdentity(s, newIdentity(s.name, s.addrBytes(), s.port, meta, s.vsn[:], nil), s.incarnation+1)
	c.markChanged()
	if changed {
		c.emit(coreEvent{kind: evUpdate, node: s.event()})
	}
	c.queueSelfNews(c.selfAlive().Append(nil), false, token)
	c.finishIfAlone(token)
}

// finishIfAlone finishes a self-announcement at once when there is nobody to send it to.
func (c *core) finishIfAlone(token uint64) {
	if c.numAlive() == 0 {
		if c.queue.removeName(c.self.name) {
			return
		}
		c.finish(token, 0, nil)
	}
}

// broadcastFinished is called when this member's own announcement retires.
func (c *core) broadcastFinished(token uint64) { c.finish(token, 0, nil) }

// sendUser sends an application message to one member: as a packet (best effort) or, if
// reliable, over a stream; the call with this token finishes when it was handed to the
// network. User packets go bare, without piggybacked broadcasts, as memberlist sends them:
// the application picks where they go, not chance, and often it is the member a broadcast
// came from (Serf acks and answers every query to its origin), so piggybacking would spend
// the broadcasts' few transmissions on members that already have them.
func (c *core) sendUser(now time.Time, to netip.AddrPort, name string, msg []byte, reliable bool, token uint64) {
	c.setNow(now)
	if m := c.members.get(name); m == nil || (m.state() != StateAlive && m.state() != StateSuspect) {
		c.finish(token, 0, fmt.Errorf("%w: %q is not an alive member", ErrUnknownNode, name))
		return
	}
	if reliable {
		c.openStream(to, c.frameStream(wire.AppendStreamUser(nil, msg)), c.cfg.TCPTimeout, false,
			pendingStream{kind: streamUserMsg, token: token, name: name})
		return
	}
	c.msgBuf = append(append(c.msgBuf[:0], byte(wire.UserMsg)), msg...)
	c.sendPacket(to, c.members.get(name), c.msgBuf)
	c.finish(token, 0, nil)
}

// sendUserTo sends msg in one packet to addr, a member or not (memberlist's SendToAddress);
// name is the member there, when known, for a NodeAwareTransport.
func (c *core) sendUserTo(now time.Time, to netip.AddrPort, name string, msg []byte, token uint64) {
	c.setNow(now)
	c.msgBuf = append(append(c.msgBuf[:0], byte(wire.UserMsg)), msg...)
	c.sendPacket(to, c.peerNamed(name), c.msgBuf)
	c.finish(token, 0, nil)
}

// peerNamed is the entry for name, or, for a name not in the table, a stand-in that carries
// only the name to the transport (and, its versions unknown, gets no CRC); nil for "".
func (c *core) peerNamed(name string) *member {
	if m := c.members.get(name); m != nil || name == "" {
		return m
	}
	return &member{identity: &identity{name: name}}
}

// maxHeldMessages bounds the user messages held back while a join is in flight.
const maxHeldMessages = 1024

// userMessage delivers a user message that came in a packet, unless a join is in flight and
// the sender is not in the table yet: such a message is most likely gossip from the cluster
// being joined, sent as soon as that cluster learnt of this member, and it is held until the
// join's push/pulls are merged, so that the application sees the cluster's state
// (Delegate.MergeRemoteState) before messages about it. Serf relies on that order to ignore
// the old events of a cluster it joins.
func (c *core) userMessage(from netip.AddrPort, e coreEvent) {
	if len(c.joins) == 0 || len(c.held) >= maxHeldMessages || c.memberAt(from) {
		c.emit(e)
		return
	}
	c.held = append(c.held, e)
}

// memberAt says whether a member of the table is at addr. It is a scan, asked only while a
// join is in flight.
func (c *core) memberAt(addr netip.AddrPort) bool {
	for _, m := range c.members.list {
		if m != c.self && m.addrPort() == addr {
			return true
		}
	}
	return false
}

// releaseHeld delivers the user messages held back during joins.
func (c *core) releaseHeld() {
	for _, e := range c.held {
		c.emit(e)
	}
	c.held = c.held[:0]
}

// snapshot returns the members Members() shows: alive and suspect ones, as values.
func (c *core) snapshot() []Node {
	nodes := make([]Node, 0, len(c.members.list))
	for _, m := range c.members.list {
		if (m.state() == StateAlive || m.state() == StateSuspect) && !m.heldOut() {
			n := m.node()
			if m.flapSuspect() {
				n.State = StateSuspect
			}
			nodes = append(nodes, n)
		}
	}
	return nodes
}

// The core's surface for its drivers: settings that change at run time and counts to
// report are methods, never field accesses, so that one test of the core stands for both
// drivers.

// healthScore is Lifeguard's local health score: 0 is healthy.
func (c *core) healthScore() int { return c.awareness.score }

// dropCounts returns how many inputs were dropped, by reason.
func (c *core) dropCounts() map[DropReason]uint64 { return c.drops.byReason() }

// setGossipVerify changes GossipVerifyIncoming and GossipVerifyOutgoing.
func (c *core) setGossipVerify(incoming, outgoing bool) {
	c.sec.verifyIncoming, c.sec.verifyOutgoing = incoming, outgoing
}

// keyring is the keyring the core encrypts and decrypts with.
func (c *core) keyring() *Keyring { return c.sec.keys }

// streamSecurity is a copy of the label and encryption settings for a stream this member
// opens, to frame and read the exchange with off the loop.
func (c *core) streamSecurity() security { return c.sec }

// admitStream decides whether an accepted stream from `from` is served: it must come from
// CIDRsAllowed, and overloaded says the driver has no slot for it (MaxConcurrentStreams).
// A refused stream is counted. An admitted one is read with the returned security (label,
// decryption, size limits), off the loop; what was read comes back as handleStreamRequest,
// or handleStreamError if it could not be read.
func (c *core) admitStream(now time.Time, from netip.AddrPort, overloaded bool) (security, bool) {
	c.setNow(now)
	switch {
	case !c.allowed.allowed(from.Addr()):
		c.drop(DropNotAllowed, from, nil)
		return security{}, false
	case overloaded:
		c.drop(DropStreamLimit, from, nil)
		return security{}, false
	}
	c.metrics.count(MetricStreamAccepted, 1)
	return c.sec, true
}

// shareIdentities makes the core take identities through intern, which returns one shared
// copy per distinct identity (the simulator's thousands of tables share them).
func (c *core) shareIdentities(intern func(identityKey) *identity) {
	c.interner = intern
	c.members.setIdentity(c.self, intern(c.self.identity.key()), c.self.incarnation)
}

// shareEventRoom makes the core's outbox take its room for events from room, shared with the
// other cores of a simulation: the simulator drains each outbox as soon as its input is
// done, so one buffer serves them all, where each keeping room for its largest push/pull's
// events held gigabytes and re-growing it each time was a sixth of what a join allocated.
func (c *core) shareEventRoom(room *[]coreEvent) { c.out.room = room }

// shareMemo makes the core take push/pull encodings and decodings from the memo m, shared
// with the other cores of a simulation; it then keeps no encoding of its own.
func (c *core) shareMemo(m *codecMemo) {
	c.memo = m
	c.sec.decompress = m.decompress
	c.sync.cached = nil
}

// decodePushPull decodes a push/pull body, through the memo if there is one.
func (c *core) decodePushPull(body []byte) (*wire.PushStates, error) {
	if c.memo != nil {
		return c.memo.decodePushPull(body, c.lim)
	}
	return wire.DecodeStates(body, c.lim)
}

// viewChanged reports the view's version: it moves whenever snapshot would return something
// different.
func (c *core) viewChanged() uint64 { return c.viewVersion }

// localNode is this member as the cluster sees it.
func (c *core) localNode() Node { return c.self.node() }

// identity is this member's own identity, as it advertises it.
func (c *core) identity() *identity { return c.self.identity }

// incarnation is this member's own incarnation.
func (c *core) incarnation() uint32 { return c.self.incarnation }

// isLeaving says whether Leave was called.
func (c *core) isLeaving() bool { return c.leaving }

// memberState returns how this member sees the member called name, and whether it knows it.
func (c *core) memberState(name string) (NodeState, uint32, bool) {
	m := c.members.get(name)
	if m == nil {
		return 0, 0, false
	}
	return m.state(), m.incarnation, true
}

// probeStartedAt says when the probe in flight started, if one is.
func (c *core) probeStartedAt() (time.Time, bool) {
	p := c.probe.active
	if p == nil || p.finished() {
		return time.Time{}, false
	}
	return p.start, true
}

// bootstrap adds members as alive without a word on the network, as if they had joined long
// ago (a converged cluster, for the simulator), sizing the table once for n members in all:
// at 10,000 members the slack of growing by doubling is gigabytes. Known names are skipped;
// the names in ids are distinct. The identities are taken as they are, already shared by
// the driver. It returns how many were added.
func (c *core) bootstrap(now time.Time, n int, ids []*identity, incarnations []uint32) int {
	c.setNow(now)
	if len(c.members.list) < n {
		c.members.grow(n)
		c.probe.order = slices.Grow(c.probe.order, n-len(c.probe.order))
	}
	// The new entries are made in one allocation: the simulator makes 10^8 of them at
	// 10,000 members, and one object per entry was most of the time it took, allocating
	// them and then marking them in every garbage collection. The slab is never appended to
	// past its capacity, so the pointers into it stay put.
	slab := make([]member, 0, len(ids))
	entry := func(i int) *member {
		slab = append(slab, member{identity: ids[i], incarnation: incarnations[i], st: uint8(StateAlive), stateChange: now.UnixNano()})
		return &slab[len(slab)-1]
	}
	if len(c.members.list) == 1 {
		// A table that holds only this member is laid out in the order given, this member
		// in its place (first, if not given): members bootstrapped together then hold the
		// same table in the same order, and the simulator's memo shares their push/pull
		// states. Nobody is looked up, so the index is built once, at the end.
		list, placed, same := c.members.list[:0], false, false
		var selfNews []*news // alives of ids named as this member: never old news here
		for i, id := range ids {
			if id.name == c.self.name {
				selfNews = append(selfNews, id.alive)
				list, placed = append(list, c.self), true
				same = id == c.self.identity && incarnations[i] == c.self.incarnation && c.self.state() == StateAlive
				continue
			}
			list = append(list, entry(i))
			c.probe.insert(c, len(list)-1)
		}
		if !placed {
			list = slices.Insert(list, 0, c.self)
			for i := range c.probe.order {
				c.probe.order[i]++
			}
		}
		c.members.list = list
		c.members.reindex(n)
		if same && c.memo != nil {
			c.memo.bootSummary(ids, incarnations, &c.members)
		}
		if c.memo != nil {
			// Every entry is its identity's alive news or newer (the simulator made those
			// news before laying the tables out), so a push/pull or gossip that brings one
			// is passed over.
			c.members.noops = append(c.members.noops[:0], c.memo.bootNoops(ids, incarnations)...)
			for _, n := range selfNews {
				if n != nil {
					c.members.unmarkNoop(n.seq)
				}
			}
		}
	} else {
		for i, id := range ids {
			if id.name == c.self.name {
				continue
			}
			if c.members.addNew(entry(i)) {
				c.probe.insert(c, len(c.members.list)-1)
			} else {
				slab = slab[:len(slab)-1]
			}
		}
	}
	added := len(slab)
	c.viewVersion++
	return added
}
