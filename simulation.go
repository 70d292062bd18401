package swim

// The simulator driver: many protocol cores on one simulated network (internal/sim), in virtual
// time, in one goroutine (only work that depends on nothing but bytes already made runs on
// others: decoding and compressing push/pull states ahead of need, simulation_memo.go;
// compressing gossip packets, flush; hashing streams for the trace, internal/sim). It is
// the library with the I/O swapped out, not a model of it: every packet is the real encoded
// bytes, every stream carries the real framed messages, and every decision is the core's own.
// Same seed, same run, byte for byte, so a failing seed is a reproducible bug report.
//
// A Simulation is driven step by step (add members, join, crash, partition, pause, run for a
// while, look at each member's view); Simulate runs one of the named scenarios on top of it
// and reports what a user would want to know about their cluster size and network.

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"syscall"
	"time"

	"github.com/swim-go/swim/internal/later"
	"github.com/swim-go/swim/internal/sim"
	"github.com/swim-go/swim/internal/wire"
)

// SimOptions configures a Simulation.
type SimOptions struct {
	// Seed makes the run reproducible: the same seed gives the same run.
	Seed uint64
	// Config is the template every member is created from (Name, addresses, Transport and
	// Logger are set per member). nil means DefaultLANConfig.
	Config *Config
	// Latency is the one-way delay of every link; Jitter adds a uniform random delay in
	// [0, Jitter), which also reorders packets.
	Latency, Jitter time.Duration
	// Loss and Duplicate are the probabilities that a packet is lost or delivered twice;
	// Reorder is the probability that it is held back so others overtake it. Streams are
	// reliable, as TCP is.
	Loss, Duplicate, Reorder float64
	// Logger receives every member's logs; nil discards them.
	Logger *slog.Logger
	// Progress, if set, is called while the simulation runs, at most every ProgressEvery
	// of wall time (default 200 ms), with how far it has got. It changes nothing in the run.
	Progress      func(SimProgress)
	ProgressEvery time.Duration
	// Timeline, if set, is called at every multiple of TimelineEvery of virtual time
	// (default 100 ms) that the simulation runs through, with what happened in that tick.
	// It changes nothing in the run.
	Timeline      func(SimTick)
	TimelineEvery time.Duration
}

// SimTick is one tick of a simulation's timeline: the state at its end, and what happened
// during it.
type SimTick struct {
	At         time.Duration // virtual time at the tick's end
	Live       int           // members running and not leaving
	FullView   int           // of those, members whose view holds as many others as are live
	Suspicions int           // suspicions raised during the tick, by anyone of anyone
	Deaths     int           // members declared dead during the tick, counted per observer
	Packets    uint64        // datagrams sent during the tick
	Bytes      uint64        // their bytes, and stream bytes
}

// SimProgress is how far a running simulation has got.
type SimProgress struct {
	Virtual   time.Duration // virtual time since the simulation began
	Wall      time.Duration // wall time since then
	Live      int           // members running and not leaving
	Converged int           // of those, members whose view holds as many others as are live
	Events    uint64        // events run so far: timers fired, packets and streams delivered
}

// progressChunk is how much virtual time runs between two looks at the wall clock when a
// Progress function is set: running in chunks gives the same run as running at once.
const progressChunk = 100 * time.Millisecond

// Simulation is a cluster of members on a simulated network, run in virtual time. It is not
// safe for concurrent use.
type Simulation struct {
	net    *sim.Network
	tmpl   Config
	log    *slog.Logger
	nodes  []*simNode
	byAddr map[netip.AddrPort]*simNode
	byName map[string]*simNode
	start  time.Time
	stats  SimStats
	// progress reporting (SimOptions.Progress)
	progress      func(SimProgress)
	progressEvery time.Duration
	wallStart     time.Time
	lastProgress  time.Time
	// timeline (SimOptions.Timeline)
	timeline      func(SimTick)
	timelineEvery time.Duration
	lastTick      SimStats // totals at the last tick

	// onEvent, if set, sees every event every member produces (scenario bookkeeping).
	onEvent func(n *simNode, e *coreEvent)
	// identities holds one copy of each distinct identity, shared by every member's table:
	// with n members holding n entries each, sharing is what lets 10,000 fit in memory.
	identities map[identityKey]*identity
	record     []byte      // scratch for observe's trace records
	eventRoom  []coreEvent // room for events, lent to whichever member has an input (flush drains it)
	// memo is the push/pull work every member shares (simulation_memo.go); noMemo turns
	// it off, for the test that shows it changes nothing.
	memo   *codecMemo
	noMemo bool
}

// intern returns the simulation's shared identity with k's content, built the first time.
func (s *Simulation) intern(k identityKey) *identity {
	if have, ok := s.identities[k]; ok {
		return have
	}
	id := k.build()
	s.identities[k] = id
	return id
}

// simNode is one member of the simulation.
type simNode struct {
	id      int
	name    string
	addr    netip.AddrPort
	core    *core
	running bool
	wakeAt  int64 // the earliest wake-up scheduled and not yet run; 0 if none
	frameAt int64 // when frameAhead's event for the next push/pull runs; 0 if none

	// troubled is set once the member was crashed, paused, partitioned, restarted or left:
	// news of its suspicion or death is then not a false alarm.
	troubled bool

	seen int // members other than itself this member's Members() holds
	// pauseOnProbe, if positive, pauses the member for that long right after it sends its
	// next probe.
	pauseOnProbe time.Duration
	userMsgs     [][]byte // user messages delivered to it
	// configure, if set, changes the template config for this member only.
	configure func(*Config)
	token     uint64
	done      map[uint64]apiDone
}

// SimStats counts what happened in a simulation.
type SimStats struct {
	// Suspicions is how many times any member started suspecting another; FalseSuspicions
	// counts those about members that were never crashed, paused, partitioned or stopped.
	Suspicions, FalseSuspicions int
	// Deaths and FalseDeaths likewise count members declared dead.
	Deaths, FalseDeaths int
	// HeldOut and FalseHeldOut likewise count members held out of a view for flapping.
	HeldOut, FalseHeldOut int
	// Packets and Bytes count datagrams sent; StreamBytes counts stream traffic.
	Packets, Bytes, StreamBytes uint64
	// PacketsLost counts datagrams the network dropped.
	PacketsLost uint64
}

// NewSimulation makes an empty simulated network.
func NewSimulation(o SimOptions) *Simulation {
	tmpl := DefaultLANConfig()
	if o.Config != nil {
		tmpl = o.Config
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := sim.New(sim.Config{Seed: o.Seed, Link: sim.Link{Latency: o.Latency, Jitter: o.Jitter, Loss: o.Loss, Duplicate: o.Duplicate, Reorder: o.Reorder}})
	return &Simulation{
		net:        n,
		tmpl:       *tmpl,
		log:        log,
		byAddr:     make(map[netip.AddrPort]*simNode),
		byName:     make(map[string]*simNode),
		identities: make(map[identityKey]*identity),
		memo:       newCodecMemo(),
		start:      n.Now(),

		progress:      o.Progress,
		progressEvery: cmp.Or(o.ProgressEvery, 200*time.Millisecond),
		wallStart:     time.Now(),
		lastProgress:  time.Now(),
		timeline:      o.Timeline,
		timelineEvery: cmp.Or(o.TimelineEvery, 100*time.Millisecond),
	}
}

// simAddr is member i's address: 10.x.y.z port 7946. Nothing is ever sent to it outside the
// simulation.
func simAddr(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 7946)
}

// Now is the virtual time since the simulation began.
func (s *Simulation) Now() time.Duration { return s.net.Now().Sub(s.start) }

// Len is the number of members ever added.
func (s *Simulation) Len() int { return len(s.nodes) }

// AddNode starts a new member named node-<i>, alone, and returns i.
func (s *Simulation) AddNode() int { return s.AddNodeWith(nil) }

// AddNodeWith starts a new member whose config is the template changed by configure (a
// different key or label, say), and returns its index. The member's delegates (Events,
// Delegate's NotifyMsg, Conflict, Ping) hear of its events as a real member's would, but
// synchronously, in virtual time, on the goroutine running the simulation: a delegate that
// keeps state (a hash ring, say) is up to date the moment the event happens.
func (s *Simulation) AddNodeWith(configure func(*Config)) int {
	i := len(s.nodes)
	n := &simNode{id: i, name: fmt.Sprintf("node-%d", i), addr: simAddr(i), configure: configure}
	s.nodes = append(s.nodes, n)
	s.byName[n.name] = n
	s.boot(n)
	return i
}

// boot starts a fresh core for n at its address.
func (s *Simulation) boot(n *simNode) {
	cfg := s.tmpl
	if n.configure != nil {
		n.configure(&cfg)
	}
	cfg.Name = n.name
	cfg.Transport = nil
	// Every member has its own keyring, as separate processes do, so that keys can be
	// rotated member by member.
	tmplKeys := cfg.Keyring
	cfg.Keyring = &Keyring{}
	for _, k := range tmplKeys.Keys() {
		cfg.Keyring.AddKey(k)
	}
	if len(cfg.SecretKey) > 0 {
		cfg.Keyring.AddKey(cfg.SecretKey)
		cfg.Keyring.UseKey(cfg.SecretKey)
	}
	rng := rand.New(rand.NewPCG(s.net.Rand().Uint64(), s.net.Rand().Uint64()))
	nonces := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
	n.core = newCore(&cfg, n.addr.Addr(), n.addr.Port(), nil, rng, func(b []byte) {
		for i := range b {
			b[i] = byte(nonces.Uint32())
		}
	}, s.log)
	n.core.shareIdentities(s.intern)
	n.core.shareEventRoom(&s.eventRoom)
	if !s.noMemo {
		n.core.shareMemo(s.memo)
	}
	n.core.deferFrames = true
	n.running = true
	n.wakeAt, n.frameAt = 0, 0
	n.seen = 0
	n.done = make(map[uint64]apiDone)
	s.byAddr[n.addr] = n
	s.net.Attach(n.addr, func(now time.Time, from netip.AddrPort, buf []byte) {
		// A member catches up on its overdue timers before it reads what is waiting in its
		// socket, as a process resumed from a pause does: its probe timeouts fire before
		// the acks that arrived meanwhile are read. Without a pause nothing is overdue.
		n.core.advance(now)
		n.core.handlePacket(now, from, buf)
		s.flush(n)
	})
	n.core.start(s.net.Now())
	s.flush(n)
}

// Bootstrap makes every running member know every other one as alive, as if they had joined
// long ago: a converged cluster without the cost of the join phase.
func (s *Simulation) Bootstrap() {
	var ids []*identity
	var incs []uint32
	for _, o := range s.nodes {
		if o.running {
			ids = append(ids, s.intern(o.core.identity().key()))
			incs = append(incs, o.core.incarnation())
		}
	}
	if memo := s.memoOrNil(); memo != nil {
		// The alive each identity would be rebroadcast as, numbered, so that the tables
		// laid out below start out knowing them as old news (memberTable.noops).
		for i, id := range ids {
			a := wire.Alive{Incarnation: incs[i], Node: id.name, Addr: id.addrBytes(), Port: id.port, Meta: id.meta, Vsn: id.vsn[:]}
			memo.noteNews(id.aliveNews(&a, id.port))
		}
	}
	for _, n := range s.nodes {
		if n.running {
			n.seen += n.core.bootstrap(s.net.Now(), len(s.nodes), ids, incs)
		}
	}
}

// Join makes member i join through the given seeds.
func (s *Simulation) Join(i int, seeds ...int) {
	n := s.nodes[i]
	addrs := make([]seed, len(seeds))
	for k, j := range seeds {
		addrs[k] = seed{addr: s.nodes[j].addr, name: s.nodes[j].name}
	}
	n.token++
	n.core.join(s.net.Now(), addrs, n.token)
	s.flush(n)
}

// Leave makes member i leave gracefully.
func (s *Simulation) Leave(i int) {
	n := s.nodes[i]
	n.troubled = true
	n.token++
	n.core.leave(s.net.Now(), n.token)
	s.flush(n)
}

// UpdateMeta sets member i's metadata and announces it.
func (s *Simulation) UpdateMeta(i int, meta []byte) {
	n := s.nodes[i]
	n.token++
	n.core.updateMeta(s.net.Now(), meta, n.token)
	s.flush(n)
}

// SendUser sends a user message from member i to member j, best effort or reliably.
func (s *Simulation) SendUser(i, j int, msg []byte, reliable bool) {
	n, to := s.nodes[i], s.nodes[j]
	n.token++
	n.core.sendUser(s.net.Now(), to.addr, to.name, msg, reliable, n.token)
	s.flush(n)
}

// UserMessages returns the user messages delivered to member i so far.
func (s *Simulation) UserMessages(i int) [][]byte { return s.nodes[i].userMsgs }

// Crash stops member i without a word, as a killed process.
func (s *Simulation) Crash(i int) {
	n := s.nodes[i]
	n.troubled = true
	n.running = false
	s.net.Detach(n.addr)
}

// Restart starts member i again under the same name with a fresh state (incarnation 1), at
// its old address, or at a new one if newAddr. It does not join; call Join.
func (s *Simulation) Restart(i int, newAddr bool) {
	n := s.nodes[i]
	if n.running {
		s.Crash(i)
	}
	n.troubled = true
	if newAddr {
		delete(s.byAddr, n.addr)
		n.addr = simAddr(1<<20 + len(s.nodes) + i)
	}
	s.boot(n)
}

// Pause stops member i from running (a long GC pause, SIGSTOP); Resume lets it go on, with
// everything that arrived meanwhile waiting for it.
func (s *Simulation) Pause(i int) {
	s.nodes[i].troubled = true
	s.net.Pause(s.nodes[i].addr)
}

// PauseDuringProbe pauses member i for d right after it sends its next probe, while it waits
// for the ack: the worst moment for a member to stall, and the case Lifeguard's local health
// is for. The member resumes on its own after d.
func (s *Simulation) PauseDuringProbe(i int, d time.Duration) {
	s.nodes[i].troubled = true
	s.nodes[i].pauseOnProbe = d
}

// pauseIfProbing carries out PauseDuringProbe once n has just started a probe.
func (s *Simulation) pauseIfProbing(n *simNode) {
	start, probing := n.core.probeStartedAt()
	if n.pauseOnProbe <= 0 || !probing || !start.Equal(s.net.Now()) {
		return
	}
	d := n.pauseOnProbe
	n.pauseOnProbe = 0
	s.net.Pause(n.addr)
	s.net.At(netip.AddrPort{}, s.net.Now().Add(d), func(time.Time) { s.net.Resume(n.addr) })
}

// Resume undoes Pause.
func (s *Simulation) Resume(i int) { s.net.Resume(s.nodes[i].addr) }

// Partition splits the network: members in different groups cannot reach each other.
func (s *Simulation) Partition(groups ...[]int) {
	var g [][]netip.AddrPort
	for _, grp := range groups {
		var as []netip.AddrPort
		for _, i := range grp {
			s.nodes[i].troubled = true
			as = append(as, s.nodes[i].addr)
		}
		g = append(g, as)
	}
	s.net.Partition(g...)
}

// SetIngressLoss makes every link into member i drop that share of what it carries (0 heals
// them; 1 cuts them): the asymmetric fault of the Rapid paper, a member that can send but
// not hear. Streams to and from it suffer too, since TCP needs both directions. Member i
// counts as troubled.
func (s *Simulation) SetIngressLoss(i int, loss float64) {
	s.nodes[i].troubled = true
	l := s.net.DefaultLink()
	l.Loss = 1 - (1-l.Loss)*(1-loss) // on top of the network's own loss
	for j, n := range s.nodes {
		if j != i {
			s.net.SetLink(n.addr, s.nodes[i].addr, l)
		}
	}
}

// Heal ends any partition.
func (s *Simulation) Heal() { s.net.Heal() }

// RunFor runs the simulation for d of virtual time. When someone watches (Progress,
// Timeline) it runs in chunks, ending at each timeline tick and at least every
// progressChunk, with the same outcome as one run.
func (s *Simulation) RunFor(d time.Duration) {
	end := s.net.Now().Add(d)
	if s.progress == nil && s.timeline == nil {
		s.net.RunUntil(end)
		return
	}
	for s.net.Now().Before(end) {
		next := s.net.Now().Add(progressChunk)
		if s.timeline != nil {
			elapsed := s.Now()
			tick := (elapsed/s.timelineEvery + 1) * s.timelineEvery
			next = minTime(next, s.start.Add(tick))
		}
		next = minTime(next, end)
		s.net.RunUntil(next)
		if s.timeline != nil && s.Now()%s.timelineEvery == 0 {
			s.recordTick()
		}
		if s.progress != nil {
			s.reportProgress(false)
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// recordTick hands the timeline the tick that just ended.
func (s *Simulation) recordTick() {
	st := s.Stats()
	live := s.live()
	t := SimTick{At: s.Now(), Live: len(live), Suspicions: st.Suspicions - s.lastTick.Suspicions,
		Deaths: st.Deaths - s.lastTick.Deaths, Packets: st.Packets - s.lastTick.Packets,
		Bytes: st.Bytes + st.StreamBytes - s.lastTick.Bytes - s.lastTick.StreamBytes}
	for _, i := range live {
		if s.nodes[i].seen >= len(live)-1 {
			t.FullView++
		}
	}
	s.lastTick = st
	s.timeline(t)
}

// reportProgress calls the Progress function if ProgressEvery has passed since it last did,
// or if final.
func (s *Simulation) reportProgress(final bool) {
	now := time.Now()
	if !final && now.Sub(s.lastProgress) < s.progressEvery {
		return
	}
	s.lastProgress = now
	live := s.live()
	p := SimProgress{Virtual: s.Now(), Wall: now.Sub(s.wallStart), Live: len(live), Events: s.net.Counters().Events}
	for _, i := range live {
		if s.nodes[i].seen >= len(live)-1 {
			p.Converged++
		}
	}
	s.progress(p)
}

// RunUntil runs until cond holds (checked every step of virtual time) or limit passes, and
// reports whether cond held.
func (s *Simulation) RunUntil(cond func() bool, step, limit time.Duration) bool {
	end := s.net.Now().Add(limit)
	for !cond() {
		if !s.net.Now().Before(end) {
			return false
		}
		s.RunFor(step)
	}
	return true
}

// Members returns member i's view: the alive and suspect members it knows, itself included.
func (s *Simulation) Members(i int) []Node { return s.nodes[i].core.snapshot() }

// State returns how member i sees member j, and whether i knows j at all.
func (s *Simulation) State(i, j int) (NodeState, bool) {
	st, _, ok := s.nodes[i].core.memberState(s.nodes[j].name)
	return st, ok
}

// Incarnation returns member j's incarnation as member i knows it.
func (s *Simulation) Incarnation(i, j int) uint32 {
	_, inc, _ := s.nodes[i].core.memberState(s.nodes[j].name)
	return inc
}

// Keyring returns member i's keyring.
func (s *Simulation) Keyring(i int) *Keyring { return s.nodes[i].core.keyring() }

// SetGossipVerify changes member i's GossipVerifyIncoming and GossipVerifyOutgoing, as
// Memberlist.SetGossipVerify does.
func (s *Simulation) SetGossipVerify(i int, incoming, outgoing bool) {
	s.nodes[i].core.setGossipVerify(incoming, outgoing)
}

// Drops returns how many inputs member i dropped, by reason.
func (s *Simulation) Drops(i int) map[DropReason]uint64 { return s.nodes[i].core.dropCounts() }

// HealthScore returns member i's Lifeguard local health score.
func (s *Simulation) HealthScore(i int) int { return s.nodes[i].core.healthScore() }

// Running reports whether member i is running (not crashed).
func (s *Simulation) Running(i int) bool { return s.nodes[i].running }

// Converged reports whether every running member that has not left holds every other such
// member as alive.
func (s *Simulation) Converged() bool {
	live := s.live()
	for _, i := range live {
		if s.nodes[i].seen < len(live)-1 {
			return false
		}
	}
	for _, i := range live {
		for _, j := range live {
			if st, ok := s.State(i, j); i != j && (!ok || st != StateAlive) {
				return false
			}
		}
	}
	return true
}

// live lists the running members that have not left.
func (s *Simulation) live() []int {
	var out []int
	for _, n := range s.nodes {
		if n.running && !n.core.isLeaving() {
			out = append(out, n.id)
		}
	}
	return out
}

// Stats returns what happened so far.
func (s *Simulation) Stats() SimStats {
	st := s.stats
	nc := s.net.Counters()
	st.Packets, st.Bytes, st.StreamBytes, st.PacketsLost = nc.PacketsSent, nc.BytesSent, nc.StreamBytes, nc.PacketsLost
	return st
}

// TraceSum is a SHA-256 over everything that happened: every packet and stream delivered and
// every event, with its virtual time. Two runs with the same seed have the same sum.
func (s *Simulation) TraceSum() [32]byte { return s.net.TraceSum() }

// flush carries out everything member n's last input produced, then makes sure n is woken for
// its next deadline.
func (s *Simulation) flush(n *simNode) {
	c := n.core
	out := &c.out
	for _, p := range out.packets {
		if p.plain != nil {
			plain, crc, memo := p.plain, p.crc, s.memoOrNil()
			s.net.SendLater(n.addr, p.to, later.Start(func() []byte { return memo.framePacket(plain, crc) }))
			continue
		}
		s.net.Send(n.addr, p.to, p.buf)
	}
	for _, st := range out.streams {
		s.startStream(n, st)
	}
	for i := range out.events {
		s.observe(n, &out.events[i])
	}
	for _, d := range out.done {
		n.done[d.token] = d
	}
	out.reset()
	s.schedule(n)
	s.frameAhead(n)
	s.pauseIfProbing(n)
}

// schedule arms a wake-up for n's next deadline unless an earlier one is pending.
func (s *Simulation) schedule(n *simNode) {
	t, ok := n.core.nextDeadline()
	if !ok || !n.running {
		return
	}
	at := t.UnixNano()
	if n.wakeAt != 0 && n.wakeAt <= at {
		return
	}
	n.wakeAt = at
	c := n.core
	s.net.At(n.addr, t, func(now time.Time) {
		if n.core != c {
			return
		}
		if n.wakeAt == at {
			n.wakeAt = 0
		}
		c.advance(now)
		s.flush(n)
	})
}

// memoOrNil is the memo the members share, or nil if they do not.
func (s *Simulation) memoOrNil() *codecMemo {
	if s.noMemo {
		return nil
	}
	return s.memo
}

// frameLead is how long, in virtual time, before a member starts a push/pull of its own the
// simulator starts compressing the state it will send (frameEarly): long enough for another
// core to be done by then, short enough that the table seldom changes meanwhile.
const frameLead = time.Millisecond

// frameAhead arranges for n's state to be compressed ahead of its next push/pull, unless that
// is arranged already.
func (s *Simulation) frameAhead(n *simNode) {
	due, ok := n.core.nextPull()
	if !ok || s.noMemo {
		return
	}
	at := max(due-int64(frameLead), s.net.Now().UnixNano())
	if at >= due || n.frameAt == at {
		return
	}
	n.frameAt = at
	c := n.core
	s.net.At(n.addr, time.Unix(0, at), func(time.Time) {
		if n.core == c && n.frameAt == at {
			n.frameAt = 0
			s.memo.frameEarly(c, false)
		}
	})
}

// workAhead starts, on other goroutines, what core c will do with stream, sent to it, if the
// stream carries a push/pull state: decode the state, and if the stream is a request,
// compress the state c will answer with.
func (s *Simulation) workAhead(stream []byte, c *core, request bool) {
	if s.noMemo {
		return
	}
	pp := s.memo.pushPullOf(stream)
	if pp == nil {
		return
	}
	s.memo.decodeEarly(pp, c.lim)
	var h wire.PushPullHeader
	if _, err := h.DecodeBody(pp[1:]); request && err == nil {
		s.memo.frameEarly(c, h.Join)
	}
}

// errStreamTimeout and errStreamRefused are what a simulated stream fails with.
var (
	errStreamTimeout = errors.New("sim: stream timed out")
	errStreamRefused = fmt.Errorf("sim: %w", syscall.ECONNREFUSED)
)

// startStream carries one stream exchange: the request to the peer, the peer's reply back,
// and a timeout at the deadline (the core ignores whichever result comes second).
func (s *Simulation) startStream(n *simNode, st outStream) {
	c := n.core
	result := func(now time.Time, reply []byte, err error) {
		if n.core != c {
			return
		}
		c.handleStreamResult(now, st.id, reply, err)
		s.flush(n)
	}
	if peer := s.byAddr[st.to]; peer != nil && peer.running {
		s.workAhead(st.buf, peer.core, true)
	}
	// The sender closes the connection at its deadline, as a real one does: a request that
	// TCP's retransmissions delayed past it never reaches the peer's application (over a
	// link losing most packets they can add a minute), and a late reply is not read.
	status := s.net.Stream(n.addr, st.to, st.buf, func(now time.Time, buf []byte) {
		peer := s.byAddr[st.to]
		if peer == nil || !peer.running || now.After(st.deadline) {
			return
		}
		var reply []byte
		if sec, ok := peer.core.admitStream(now, n.addr, false); ok {
			if req, err := sec.readRequestFrom(buf); err != nil {
				reply = peer.core.handleStreamError(now, n.addr, err)
			} else {
				reply = peer.core.handleStreamRequest(now, n.addr, req)
			}
		}
		s.flush(peer)
		if !st.wantReply || reply == nil {
			return
		}
		if n.core == c {
			s.workAhead(reply, c, false)
		}
		s.net.Stream(peer.addr, n.addr, reply, func(now time.Time, buf []byte) {
			if now.After(st.deadline) {
				return // the timeout below has already answered
			}
			sec := c.streamSecurity()
			msg, err := sec.readReplyFrom(buf)
			result(now, msg, err)
		})
	})
	switch {
	case status == sim.Refused:
		s.net.At(n.addr, s.net.Now(), func(now time.Time) { result(now, nil, errStreamRefused) })
	case !st.wantReply && status == sim.Sent:
		s.net.At(n.addr, s.net.Now(), func(now time.Time) { result(now, nil, nil) })
	default:
		s.net.At(n.addr, st.deadline, func(now time.Time) { result(now, nil, errStreamTimeout) })
	}
}

// observe keeps the books on one event: views, false alarms, the trace.
func (s *Simulation) observe(n *simNode, e *coreEvent) {
	subject := s.byName[e.node.Name()]
	self := e.node.Name() == n.name
	switch e.kind {
	case evJoin:
		if !self && !e.hidden {
			n.seen++
		}
	case evLeave:
		if !self && !e.hidden {
			n.seen--
		}
		if e.node.heldOut {
			s.stats.HeldOut++
			if subject != nil && !subject.troubled {
				s.stats.FalseHeldOut++
			}
		}
		if e.node.state == StateDead {
			s.stats.Deaths++
			if subject != nil && !subject.troubled {
				s.stats.FalseDeaths++
			}
		}
	case evSuspect:
		s.stats.Suspicions++
		if subject != nil && !subject.troubled {
			s.stats.FalseSuspicions++
		}
	case evUserMsg:
		n.userMsgs = append(n.userMsgs, e.msg)
	}
	// "id kind name", in a buffer kept for it: a join of n members makes n² events.
	b := strconv.AppendInt(s.record[:0], int64(n.id), 10)
	b = strconv.AppendInt(append(b, ' '), int64(e.kind), 10)
	s.record = append(append(b, ' '), e.node.Name()...)
	s.net.Record(s.record)
	if s.onEvent != nil {
		s.onEvent(n, e)
	}
	deliverEvent(n.core.cfg, e)
}
