package swim

// Push/pull anti-entropy (wire-format.md section 6.3). Gossip is fast but lossy; a push/pull
// exchanges the whole member table with one peer over a stream and merges it with the same
// rules as gossip, so whatever gossip missed is repaired. It runs:
//
//   - on Join, with each seed: that is how a new member learns the cluster;
//   - every PushPullInterval (scaled up with the cluster size) with a random alive member;
//   - as a follow-up chain: a push/pull this member started that changed its view is followed
//     by another one soon, at a delay that doubles each time, until one changes nothing. A
//     member that joined while others were joining learns of those whose gossip it missed
//     (it was not yet known to the gossipers) within seconds instead of at the next periodic
//     push/pull, and a healed partition is merged in a few rounds;
//   - as a reconnect attempt: every ReconnectInterval, with a chance proportional to how many
//     members are failed, with one failed member, even one already reaped from the table, so
//     that the two sides of a partition that outlived GossipToTheDeadTime find each other.

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/swim-go/swim/internal/wire"
)

// ErrRemote wraps an error a peer reported in a stream reply.
var ErrRemote = errors.New("swim: remote error")

// ErrIncompatible is returned when a peer's protocol versions do not overlap this cluster's.
var ErrIncompatible = errors.New("swim: incompatible protocol versions")

// syncState is push/pull bookkeeping.
type syncState struct {
	chainDelay time.Duration  // delay of the follow-up chain's last step; 0 when none runs
	chainPeer  netip.AddrPort // follow up with this address (a reconnect), or a random member
	chainName  string         // the name of the member at chainPeer
	chainGen   uint64
	failed     []failedMember

	// The last encoded local state and the table fingerprint it was built from: in a calm
	// cluster the table does not change between push/pulls, and re-encoding and compressing
	// thousands of entries each time is most of a large cluster's CPU.
	cached    []byte
	cachedSum uint64
	// periodicAt and followUpAt are when the periodic push/pull timer and the follow-up
	// chain's timer fire next (UnixNano), for nextPull.
	periodicAt, followUpAt int64
}

// armPushPull arms the periodic push/pull timer d from now.
func (c *core) armPushPull(d time.Duration) {
	c.sync.periodicAt = c.now.Add(d).UnixNano()
	c.armAfter(d, timerPushPull, 0, "", 0)
}

// nextPull says when this member next starts a push/pull of its own, as things stand: its
// periodic one or the next step of a follow-up chain. The simulator compresses the state ahead
// for it (frameEarly).
func (c *core) nextPull() (at int64, ok bool) {
	s := &c.sync
	at = s.periodicAt
	if s.chainDelay > 0 && s.followUpAt > 0 && (at == 0 || s.followUpAt < at) {
		at = s.followUpAt
	}
	return at, at > 0 && !c.leaving
}

// failedMember is a reaped dead member, remembered for reconnect attempts.
type failedMember struct {
	name  string
	addr  netip.AddrPort
	since time.Time
}

// maxFailedRemembered bounds the reconnect list.
const maxFailedRemembered = 4096

// joinCall tracks one Join: the push/pulls still out, how many succeeded, and the name
// checks still out (checkName).
type joinCall struct {
	pending int
	ok      int
	errs    []error
	checks  int
	inUse   error // set when another member that answers holds this member's name
}

// nameCheck is a ping to another member that claims this member's name, on behalf of a Join.
type nameCheck struct {
	token uint64
	other Node
}

func (s *syncState) rememberFailed(c *core, m *member) {
	if len(s.failed) >= maxFailedRemembered {
		s.failed = append(s.failed[:0], s.failed[1:]...)
	}
	s.failed = append(s.failed, failedMember{name: m.name, addr: m.addrPort(), since: m.changedAt()})
}

func (s *syncState) forgetFailed(name string) {
	for i := 0; i < len(s.failed); i++ {
		if s.failed[i].name == name {
			s.failed = append(s.failed[:i], s.failed[i+1:]...)
			i--
		}
	}
}

// pushPullScale stretches the push/pull interval for clusters over 32 members, so the
// cluster-wide rate of these O(n) exchanges grows only logarithmically.
func pushPullScale(interval time.Duration, n int) time.Duration {
	const threshold = 32
	if n <= threshold {
		return interval
	}
	mult := math.Ceil(math.Log2(float64(n))-math.Log2(threshold)) + 1
	return time.Duration(mult) * interval
}

// localState encodes this member's push/pull message: every entry of the table, then the
// application's state; framed for a stream. Without a delegate (whose state may change at
// any time) an unchanged table reuses the last encoding; callers never modify it.
func (c *core) localState(join bool) []byte {
	var sum uint64
	if c.cfg.Delegate == nil {
		sum = c.tableSum(join)
		cached, ok := c.sync.cached, c.sync.cached != nil && c.sync.cachedSum == sum
		if c.memo != nil {
			if cached, ok = c.memo.states.get(stateKey(sum, c.cfg)); ok {
				c.memo.hits++
			} else if buf, plain, news, ahead := c.memo.takeState(stateKey(sum, c.cfg)); ahead {
				c.keepState(buf, plain, news, sum)
				return buf
			}
		}
		if ok {
			c.metrics.sample(MetricPushPullSizeLocal, float64(len(cached)))
			return cached
		}
	}
	d := c.draftState(join)
	plain := d.encode()
	buf := c.frameStream(plain)
	c.keepState(buf, plain, d.news, sum)
	return buf
}

// stateDraft is what this member's push/pull message says, taken from the table on the
// member's thread, to be encoded on any (encode): the simulator encodes and compresses a
// state it sees coming on another core (codecMemo.frameEarly).
type stateDraft struct {
	join    bool
	entries []draftEntry // the table's, in order
	user    []byte       // the application's state
	size    int          // the encoding's length, at most
	news    []uint32     // for the simulator: each entry's member.entryNews
}

// draftEntry is one member's push/pull entry: the parts of its encoding its identity keeps,
// which never change once made, and the rest.
type draftEntry struct {
	parts       *wire.NodeStateParts
	incarnation uint32
	state       uint8
}

// draftState takes this member's push/pull message from its table.
func (c *core) draftState(join bool) *stateDraft {
	d := &stateDraft{join: join, entries: make([]draftEntry, len(c.members.list))}
	if c.cfg.Delegate != nil {
		d.user = c.cfg.Delegate.LocalState(join)
	}
	d.size = 64 + len(d.user)
	if c.memo != nil {
		d.news = make([]uint32, len(c.members.list))
	}
	for i, m := range c.members.list {
		p := m.stateParts()
		d.entries[i] = draftEntry{parts: p, incarnation: m.incarnation, state: m.st}
		d.size += p.Len() + 9 + 1 // a uint32 takes at most 9 bytes, a state 1
		if d.news != nil {
			d.news[i] = m.entryNews()
		}
	}
	return d
}

// encode encodes the push/pull message, unframed, in one allocation: each entry as
// wire.PushPull.Append would encode it (a slice of PushNodeState built first would be a
// whole table's worth of garbage per state), from the parts of it its identity keeps.
func (d *stateDraft) encode() []byte {
	h := wire.PushPullHeader{Nodes: len(d.entries), UserStateLen: len(d.user), Join: d.join}
	plain := h.AppendBody(append(make([]byte, 0, d.size), byte(wire.PushPullMsg)))
	for _, e := range d.entries {
		plain = wire.AppendNodeState(plain, e.parts, e.incarnation, int(e.state))
	}
	return append(plain, d.user...)
}

// entryNews says, for the simulator, what m's entry in a push/pull state is: an alive entry
// for the identity of an alive news (noteNews) of the entry's incarnation or later is old
// news wherever that news is (memberTable.noops), so the news' number stands for the entry;
// 0 for any other.
func (m *member) entryNews() uint32 {
	if a := m.identity.alive; a != nil && m.identity.aliveInc >= m.incarnation && m.state() == StateAlive {
		return a.seq
	}
	return 0
}

// keepState notes a state just framed (buf) from plain, the table of fingerprint sum, whose
// entries stand for news (see entryNews), and keeps it for reuse where it can be.
func (c *core) keepState(buf, plain []byte, news []uint32, sum uint64) {
	c.metrics.sample(MetricPushPullSizeLocal, float64(len(buf)))
	if c.memo != nil {
		c.memo.compressed(buf, plain)
		c.memo.encoded(plain, news)
		if c.cfg.Delegate == nil {
			c.memo.built(plain, sum)
		}
	}
	switch {
	case c.cfg.Delegate != nil:
	case c.memo != nil:
		c.memo.states.put(stateKey(sum, c.cfg), buf)
	default:
		c.sync.cached, c.sync.cachedSum = buf, sum
	}
}

// tableSum fingerprints what a push/pull carries: each entry's identity, incarnation and
// state, in table order, and the join flag. The table keeps it as it changes.
func (c *core) tableSum(join bool) uint64 { return c.members.sum(join) }

// mix64 is SplitMix64's finaliser: every input bit affects every output bit.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// pullKind is why a push/pull was started, other than by a join.
type pullKind uint8

const (
	pullPeriodic  pullKind = iota // the push/pull timer
	pullFollowUp                  // a follow-up chain: the last push/pull changed the view
	pullReconnect                 // an attempt to reach a failed member
)

func (k pullKind) String() string {
	switch k {
	case pullFollowUp:
		return "followup"
	case pullReconnect:
		return "reconnect"
	}
	return "periodic"
}

// startPushPull opens a push/pull with the member at to.
func (c *core) startPushPull(to netip.AddrPort, name string, kind pullKind) {
	c.openStream(to, c.localState(false), c.cfg.TCPTimeout, true, pendingStream{kind: streamPushPull, name: name, pull: kind})
}

// seed is an address to join through, and the name of the member there when the caller
// gave one ("name/host:port", as memberlist accepts), for a NodeAwareTransport.
type seed struct {
	addr netip.AddrPort
	name string
}

// join starts a push/pull with each seed; the call with this token finishes when all are done.
func (c *core) join(now time.Time, seeds []seed, token uint64) {
	c.setNow(now)
	if c.leaving {
		c.finish(token, 0, ErrLeft)
		return
	}
	if len(seeds) == 0 {
		c.finish(token, 0, ErrNoSeeds)
		return
	}
	c.joins[token] = &joinCall{pending: len(seeds)}
	// Announce ourselves too: the seed will rebroadcast us, but our own first packets can
	// carry the news to whoever we probe before that has spread.
	c.queueSelfNews(c.selfAlive().Append(nil), false, 0)
	buf := c.localState(true)
	for _, s := range seeds {
		c.openStream(s.addr, buf, c.cfg.TCPTimeout, true, pendingStream{kind: streamJoin, token: token, name: s.name})
	}
}

// pushPullTick runs the periodic push/pull and arms the next one.
func (c *core) pushPullTick() {
	c.armPushPull(pushPullScale(c.cfg.PushPullInterval, len(c.members.list)))
	if c.leaving {
		return
	}
	if peer := c.randomAlive(); peer != nil {
		c.startPushPull(peer.addrPort(), peer.name, pullPeriodic)
	}
}

// randomAlive picks a random alive member other than this one, or nil.
func (c *core) randomAlive() *member {
	ms := c.kRandomMembers(1, func(m *member) bool { return m != c.self && m.state() == StateAlive })
	if len(ms) == 0 {
		return nil
	}
	return ms[0]
}

// servePushPull answers a peer's push/pull with this member's state, then merges the peer's.
func (c *core) servePushPull(from netip.AddrPort, pp *wire.PushStates, known knownState) []byte {
	reply := c.localState(pp.Join)
	if err := c.mergeRemote(pp, known); err != nil {
		c.log.Debug("push/pull merge refused", "peer", from.String(), "error", err)
	}
	return reply
}

// pushPullResult merges the reply to a push/pull this member started.
func (c *core) pushPullResult(p pendingStream, reply []byte, err error) {
	before, joinedBefore := c.changes, c.joined
	if err == nil {
		if p.kind == streamJoin {
			// Conflicts found while merging a join's reply are checked for that Join.
			c.joinToken = p.token
		}
		err = c.mergeReply(reply)
		c.joinToken = 0
	}
	if p.kind == streamJoin {
		c.joinStep(p.token, err)
	}
	if c.metrics.on() {
		kind := p.pull.String()
		if p.kind == streamJoin {
			kind = "join"
		}
		c.metrics.sampleBy(MetricPushPull, millis(c.now.Sub(p.start)), "kind", kind)
	}
	if err != nil {
		c.log.Debug("push/pull failed", "peer", p.peer.String(), "error", err)
		if p.pull == pullFollowUp {
			c.sync.chainDelay = 0
		}
		return
	}
	c.followUp(p, c.changes != before, c.joined != joinedBefore)
}

func (c *core) joinStep(token uint64, err error) {
	jc := c.joins[token]
	if jc == nil {
		return
	}
	jc.pending--
	if err == nil {
		jc.ok++
	} else {
		jc.errs = append(jc.errs, err)
	}
	c.finishJoin(token)
}

// finishJoin reports the Join with this token once its push/pulls and name checks are done.
func (c *core) finishJoin(token uint64) {
	jc := c.joins[token]
	if jc == nil || jc.pending > 0 || jc.checks > 0 {
		return
	}
	delete(c.joins, token)
	if len(c.joins) == 0 {
		c.releaseHeld()
	}
	if jc.inUse != nil {
		c.finish(token, 0, jc.inUse)
		return
	}
	if jc.ok == 0 {
		c.finish(token, 0, fmt.Errorf("%w: %w", ErrJoinFailed, errors.Join(jc.errs...)))
		return
	}
	c.finish(token, jc.ok, nil)
}

// checkName pings a member that claims this member's name at another address, when this
// member is joining: names are identities, and a Join under a name a live member holds must
// fail (memberlist admits such a member nowhere and says nothing). If the other does not
// answer within twice ProbeTimeout it is taken to be this member's own silent old instance
// (a rescheduled pod), and the Join goes on; the cluster admits the new address once the old
// one is declared dead.
func (c *core) checkName(other Node) {
	if c.joinToken == 0 || c.cfg.AllowNameInUse {
		return
	}
	jc := c.joins[c.joinToken]
	if jc == nil || !other.AddrPort().IsValid() || jc.checks >= maxNameChecks {
		return
	}
	for _, nc := range c.nameChecks {
		if nc.token == c.joinToken && nc.other.AddrPort() == other.AddrPort() {
			return
		}
	}
	seq := c.nextSeqNo()
	c.nameChecks[seq] = nameCheck{token: c.joinToken, other: other}
	jc.checks++
	c.sendMsg(other.AddrPort(), nil, c.pingFor(seq, c.self.name).Append(c.msgBuf[:0]))
	c.armAfter(2*c.cfg.ProbeTimeout, timerNameCheck, seq, "", 0)
}

// maxNameChecks bounds the name checks of one Join, so that a push/pull reply listing this
// member's name at a million addresses costs a few pings, not a million.
const maxNameChecks = 8

// nameCheckDone ends the name check seq: answered says the other member acked.
func (c *core) nameCheckDone(seq uint32, answered bool) {
	nc, ok := c.nameChecks[seq]
	if !ok {
		return
	}
	delete(c.nameChecks, seq)
	jc := c.joins[nc.token]
	if jc == nil {
		return
	}
	jc.checks--
	if answered && jc.inUse == nil {
		jc.inUse = fmt.Errorf("%w: %q answers at %s", ErrNameInUse, nc.other.Name, nc.other.Address())
	}
	c.finishJoin(nc.token)
}

// mergeReply decodes a push/pull reply and merges it.
func (c *core) mergeReply(reply []byte) error {
	if len(reply) == 0 {
		return fmt.Errorf("%w: empty push/pull reply", wire.ErrTruncated)
	}
	c.metrics.sample(MetricPushPullSizeRemote, float64(len(reply)))
	switch wire.MessageType(reply[0]) {
	case wire.ErrMsg:
		var e wire.ErrResp
		if err := e.Decode(reply[1:]); err != nil {
			return err
		}
		return fmt.Errorf("%w: %s", ErrRemote, e.Error)
	case wire.PushPullMsg:
		pp, err := c.decodePushPull(reply[1:])
		if err != nil {
			c.drop(dropReasonOf(err), netip.AddrPort{}, err)
			return err
		}
		return c.mergeRemote(pp, c.knowState(reply[1:], pp.Join))
	}
	c.drop(DropUnknownType, netip.AddrPort{}, nil)
	return fmt.Errorf("%w: push/pull answered with message type %d", wire.ErrUnknownType, reply[0])
}

// knownState is what the simulator's memo knows of a push/pull state a member received.
// same says it was built from a table with this member's own fingerprint: the same members,
// in the same order, at the same incarnations and states. Merging it then changes nothing
// (every entry is news this member has), so the entries need not be walked. Otherwise news
// says, entry by entry, which alive news each stands for (member.entryNews): an entry whose
// news this member's table knows to be old (memberTable.noops) changes nothing either. A
// real member knows nothing of where a state came from and walks every entry, and so does
// one whose Alive delegate must hear of every entry.
type knownState struct {
	same bool
	news []uint32
}

// knowState returns what the memo knows of body, a push/pull body this member received.
func (c *core) knowState(body []byte, join bool) knownState {
	if c.memo == nil || c.cfg.Alive != nil {
		return knownState{}
	}
	if sum, ok := c.memo.origin(body); ok && sum == c.tableSum(join) {
		c.memo.same++
		return knownState{same: true}
	}
	return knownState{news: c.memo.newsOfEntries(body)}
}

// mergeRemote applies a peer's state (section 10.5): alive as alive, left as left, and dead
// or suspect only as a suspicion raised by this member, since the peer may be the one that is
// cut off. If known says the state is this member's own table, the version check, the Merge
// delegate and the application's state still see it, but its entries change nothing; an
// alive entry known to be old news is passed over.
func (c *core) mergeRemote(pp *wire.PushStates, known knownState) error {
	same, news := known.same, known.news
	if len(news) != pp.Len() {
		news = nil
	}
	if err := c.checkCompatible(pp, same); err != nil {
		c.drop(DropIncompatible, netip.AddrPort{}, err)
		return err
	}
	if pp.Join && c.cfg.Merge != nil {
		peers := make([]Node, 0, pp.Len())
		for i := range pp.Len() {
			peers = append(peers, pushStateNode(pp.Node(i)))
		}
		if err := c.cfg.Merge.NotifyMerge(peers); err != nil {
			return fmt.Errorf("swim: merge vetoed by delegate: %w", err)
		}
	}
	if !same {
		for i := range pp.Len() {
			switch NodeState(pp.State(i)) {
			case StateAlive:
				if news != nil && news[i] != 0 && c.members.isNoop(news[i]) {
					c.memo.noops++
					continue
				}
				s := pp.Node(i)
				c.aliveNode(&wire.Alive{Incarnation: s.Incarnation, Node: s.Name, Addr: s.Addr, Port: s.Port, Meta: s.Meta, Vsn: s.Vsn}, true)
			case StateLeft:
				name := pp.Name(i)
				c.deadNode(&wire.Dead{Incarnation: pp.Incarnation(i), Node: name, From: name})
			case StateDead, StateSuspect:
				c.applySuspect(&wire.Suspect{Incarnation: pp.Incarnation(i), Node: pp.Name(i), From: c.self.name}, false)
			}
		}
	}
	if len(pp.UserState) > 0 && c.cfg.Delegate != nil {
		c.cfg.Delegate.MergeRemoteState(pp.UserState, pp.Join)
	}
	return nil
}

func pushStateNode(s wire.PushNodeState) Node {
	n := Node{Name: s.Name, Addr: s.Addr, Port: s.Port, Meta: s.Meta, State: NodeState(s.State), Incarnation: s.Incarnation}
	if len(s.Vsn) >= 6 {
		n.PMin, n.PMax, n.PCur, n.DMin, n.DMax, n.DCur = s.Vsn[0], s.Vsn[1], s.Vsn[2], s.Vsn[3], s.Vsn[4], s.Vsn[5]
	}
	return n
}

// checkCompatible is memberlist's version check (section 10.6): every member's spoken
// protocol and delegate versions must lie within what every alive member understands.
func (c *core) checkCompatible(remote *wire.PushStates, same bool) error {
	local := c.localVersions()
	if same && local.allPLo >= local.pMin && local.allPHi <= local.pMax && local.allDLo >= local.dMin && local.allDHi <= local.dMax {
		// The remote entries are this table's own: the ranges they allow are its alive
		// members', and every entry, whatever its state, speaks within them.
		return nil
	}
	pMin, pMax, dMin, dMax := local.pMin, local.pMax, local.dMin, local.dMax
	for i := range remote.Len() {
		if v := remote.Vsn(i); NodeState(remote.State(i)) == StateAlive && len(v) >= 5 {
			pMin, pMax = max(pMin, v[0]), min(pMax, v[1])
			dMin, dMax = max(dMin, v[3]), min(dMax, v[4])
		}
	}
	fits := func(pCur, dCur uint8) bool { return pCur >= pMin && pCur <= pMax && dCur >= dMin && dCur <= dMax }
	unfit := func(name string, pCur, dCur uint8) error {
		return fmt.Errorf("%w: member %q speaks protocol %d (cluster accepts %d..%d) and delegate protocol %d (accepts %d..%d)",
			ErrIncompatible, name, pCur, pMin, pMax, dCur, dMin, dMax)
	}
	for i := range remote.Len() {
		var pCur, dCur uint8
		if v := remote.Vsn(i); len(v) >= 6 {
			pCur, dCur = v[2], v[5]
		}
		if !fits(pCur, dCur) {
			return unfit(remote.Name(i), pCur, dCur)
		}
	}
	if local.pLo >= pMin && local.pHi <= pMax && local.dLo >= dMin && local.dHi <= dMax {
		return nil // every alive member here fits
	}
	for _, m := range c.members.list {
		if m.state() == StateAlive && !fits(m.vsn[2], m.vsn[5]) {
			return unfit(m.name, m.vsn[2], m.vsn[5])
		}
	}
	return nil
}

// tableVersions is what the alive members of the table say of protocol versions: the
// ranges all of them understand, and the lowest and highest each speaks.
type tableVersions struct {
	pMin, pMax, dMin, dMax         uint8
	pLo, pHi, dLo, dHi             uint8 // spoken by alive members
	allPLo, allPHi, allDLo, allDHi uint8 // spoken by any member
}

// localVersions works tableVersions out from the table's counts by protocol versions, which
// hold one or a few sets: push/pulls ask for it each time, and at 5,000 simulated members
// walking the table for it was 5% of a converged run.
func (c *core) localVersions() tableVersions {
	v := tableVersions{pMax: 255, dMax: 255, pLo: 255, dLo: 255, allPLo: 255, allDLo: 255}
	for _, n := range c.members.versions() {
		vsn := n.vsn
		v.allPLo, v.allPHi = min(v.allPLo, vsn[2]), max(v.allPHi, vsn[2])
		v.allDLo, v.allDHi = min(v.allDLo, vsn[5]), max(v.allDHi, vsn[5])
		if n.alive > 0 {
			v.pMin, v.pMax = max(v.pMin, vsn[0]), min(v.pMax, vsn[1])
			v.dMin, v.dMax = max(v.dMin, vsn[3]), min(v.dMax, vsn[4])
			v.pLo, v.pHi = min(v.pLo, vsn[2]), max(v.pHi, vsn[2])
			v.dLo, v.dHi = min(v.dLo, vsn[5]), max(v.dHi, vsn[5])
		}
	}
	return v
}

// followUp continues or ends the follow-up chain after a push/pull this member started. While
// each push/pull brings members this one did not know, the next comes at the same pace; one
// that only corrected states (a refutation, say) doubles the delay; one that changed nothing
// ends the chain.
func (c *core) followUp(p pendingStream, changed, grew bool) {
	s := &c.sync
	if !changed {
		if p.pull == pullFollowUp {
			s.chainDelay = 0
		}
		return
	}
	base := c.followUpBase()
	next := max(s.chainDelay, base)
	if !grew && s.chainDelay > 0 {
		next = s.chainDelay * 2
	}
	if limit := pushPullScale(c.cfg.PushPullInterval, len(c.members.list)); c.cfg.PushPullInterval > 0 && next > limit {
		s.chainDelay = 0
		return
	}
	s.chainDelay = next
	s.chainPeer, s.chainName = netip.AddrPort{}, ""
	if m := c.members.get(p.name); p.kind == streamPushPull && p.name != "" && (m == nil || m.state() != StateAlive) {
		// A reconnect: keep talking to the other side until it is alive here.
		s.chainPeer, s.chainName = p.peer, p.name
	}
	s.chainGen++
	d := next + c.jitter(next/2)
	s.followUpAt = c.now.Add(d).UnixNano()
	c.armAfter(d, timerFollowUp, 0, "", s.chainGen)
}

// followUpBase is the first delay of a follow-up chain: about how long a broadcast lives, so
// that what was gossiped while this member was unknown has finished spreading.
func (c *core) followUpBase() time.Duration {
	life := time.Duration(retransmitLimit(c.cfg.RetransmitMult, len(c.members.list))) * c.cfg.GossipInterval
	return max(c.cfg.ProbeInterval, life)
}

func (c *core) followUpTick(gen uint64) {
	s := &c.sync
	if gen != s.chainGen || s.chainDelay == 0 || c.leaving {
		return
	}
	if s.chainPeer.IsValid() {
		c.startPushPull(s.chainPeer, s.chainName, pullFollowUp)
		return
	}
	if peer := c.randomAlive(); peer != nil {
		c.startPushPull(peer.addrPort(), peer.name, pullFollowUp)
	}
}

// reconnectTick may try a push/pull with one failed member.
func (c *core) reconnectTick() {
	c.armAfter(c.cfg.ReconnectInterval, timerReconnect, 0, "", 0)
	if c.leaving {
		return
	}
	s := &c.sync
	for len(s.failed) > 0 && c.now.Sub(s.failed[0].since) > c.cfg.ReconnectTimeout {
		s.failed = s.failed[1:]
	}
	dead := c.members.counts[StateDead]
	candidates := dead + len(s.failed)
	if candidates == 0 {
		return
	}
	if float64(candidates)/float64(max(1, c.numAlive())) <= c.rng.Float64() {
		return
	}
	i := c.rng.IntN(candidates)
	if i < dead {
		m := c.members.nth(StateDead, i)
		c.startPushPull(m.addrPort(), m.name, pullReconnect)
		return
	}
	f := s.failed[i-dead]
	c.startPushPull(f.addr, f.name, pullReconnect)
}
