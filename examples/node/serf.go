package main

// With -serf, this member takes part in a Serf cluster (stock Serf agents, a Consul LAN pool)
// as a plain member: it advertises Serf's delegate protocol versions (2..5, speaking 5 as
// the Serf agent does) and its -meta as Serf tags, keeps Serf's three Lamport clocks by
// witnessing every Serf message and push/pull it sees, passes on join and leave intents,
// user events and queries it hears first (as every Serf member does), acks queries whose
// filters match it, and announces its join and its graceful leave with Serf's intents, so
// that the agents list it as alive with its tags and, after Ctrl-C, as left rather than
// failed. It is not a Serf agent: it runs no event handlers, answers no query with a
// payload, takes no part in key rotation and keeps no snapshot. The message formats are
// Serf's: a one-byte type, then a MessagePack map keyed by field name.

import (
	"bytes"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/swim-go/swim"
)

// Serf's delegate protocol versions: the range a Serf agent accepts, and the version
// "serf agent" speaks by default.
const (
	serfProtocolMin = 2
	serfProtocolMax = 5
	serfProtocolCur = 5
)

// Serf's message types (the first byte of a user message or of push/pull user state).
const (
	serfLeave uint8 = iota
	serfJoin
	serfPushPull
	serfUserEvent
	serfQuery
	serfQueryResponse
)

// serfTagMagic starts encoded tags; metadata without it is a Serf 0.1 role string.
const serfTagMagic = 255

// Query flags and filter types.
const (
	serfQueryAck         = 1 << 0
	serfQueryNoBroadcast = 1 << 1
	serfFilterNode       = 0
	serfFilterTag        = 1
)

type serfIntent struct { // messageJoin and messageLeave
	LTime uint64
	Node  string
	Prune bool `codec:",omitempty"`
}

type serfPushPullState struct {
	LTime        uint64
	StatusLTimes map[string]uint64
	LeftMembers  []string
	EventLTime   uint64
	Events       []any
	QueryLTime   uint64
}

type serfEvent struct {
	LTime   uint64
	Name    string
	Payload []byte
	CC      bool
}

type serfQueryMsg struct {
	LTime       uint64
	ID          uint32
	Addr        []byte
	Port        uint16
	SourceNode  string
	Filters     [][]byte
	Flags       uint32
	RelayFactor uint8
	Timeout     time.Duration
	Name        string
	Payload     []byte
}

type serfQueryResp struct {
	LTime   uint64
	ID      uint32
	From    string
	Flags   uint32
	Payload []byte
}

type serfTagFilter struct {
	Tag  string
	Expr string
}

// serfSeen bounds what serfMember remembers of messages it has passed on: per clock, the
// keys seen at the most recent serfSeenWindow Lamport times, as Serf's own buffers do.
const serfSeenWindow = 512

// serfMember is the Delegate of a member in a Serf cluster. One mutex guards the clocks and
// the dedup state; the broadcast queue has its own.
type serfMember struct {
	name string
	tags map[string]string
	meta []byte
	log  func(format string, args ...any)

	queue swim.BroadcastQueue

	mu                          sync.Mutex
	clock, eventClock, queryClk uint64 // the next time each clock will stamp
	joinTime                    uint64 // our own status time, sent in push/pulls
	leaving                     bool
	seen                        map[string]uint64
	m                           atomic.Pointer[swim.Memberlist] // set once created; read under the queue's lock too
}

func newSerfMember(name string, tags map[string]string, log func(string, ...any)) (*serfMember, error) {
	meta, err := encodeSerfTags(tags)
	if err != nil {
		return nil, err
	}
	if len(meta) > swim.MetaMaxSize {
		return nil, fmt.Errorf("tags take %d bytes, more than the %d metadata allows", len(meta), swim.MetaMaxSize)
	}
	s := &serfMember{name: name, tags: tags, meta: meta, log: log, seen: map[string]uint64{}}
	s.queue.NumNodes = func() int {
		if m := s.m.Load(); m != nil {
			return m.NumMembers()
		}
		return 1
	}
	s.queue.RetransmitMult = 4 // Serf's default
	return s, nil
}

// parseSerfTags reads -meta as k=v pairs separated by commas.
func parseSerfTags(s string) (map[string]string, error) {
	tags := map[string]string{}
	if s == "" {
		return tags, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not key=value", kv)
		}
		tags[k] = v
	}
	return tags, nil
}

func encodeSerfTags(tags map[string]string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte(serfTagMagic)
	if err := codec.NewEncoder(&b, &codec.MsgpackHandle{}).Encode(tags); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// decodeSerfTags reads a member's metadata as Serf does: tags after the magic byte,
// otherwise a role.
func decodeSerfTags(meta []byte) map[string]string {
	if len(meta) == 0 || meta[0] != serfTagMagic {
		return map[string]string{"role": string(meta)}
	}
	tags := map[string]string{}
	if err := codec.NewDecoderBytes(meta[1:], &codec.MsgpackHandle{}).Decode(&tags); err != nil {
		return map[string]string{}
	}
	return tags
}

// formatSerfTags prints tags as k=v pairs in key order.
func formatSerfTags(tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = k + "=" + tags[k]
	}
	return strings.Join(keys, ",")
}

func encodeSerf(t uint8, msg any) []byte {
	var b bytes.Buffer
	b.WriteByte(t)
	if err := codec.NewEncoder(&b, &codec.MsgpackHandle{}).Encode(msg); err != nil {
		panic(fmt.Sprintf("encoding a Serf message: %v", err)) // only our own fixed types are encoded
	}
	return b.Bytes()
}

func decodeSerf(b []byte, out any) error {
	return codec.NewDecoderBytes(b, &codec.MsgpackHandle{}).Decode(out)
}

// witness moves a Lamport clock past t.
func witness(clock *uint64, t uint64) {
	if t >= *clock {
		*clock = t + 1
	}
}

// firstSight records key at Lamport time t and says whether it is new and recent enough to
// pass on. Entries older than the window behind the newest time are forgotten.
func (s *serfMember) firstSight(key string, t, now uint64) bool {
	if now > serfSeenWindow && t < now-serfSeenWindow {
		return false
	}
	if _, ok := s.seen[key]; ok {
		return false
	}
	s.seen[key] = t
	if len(s.seen) > 4*serfSeenWindow {
		for k, kt := range s.seen {
			if now > serfSeenWindow && kt < now-serfSeenWindow {
				delete(s.seen, k)
			}
		}
	}
	return true
}

// attach gives the member the Memberlist it sends query acks through and counts members of.
func (s *serfMember) attach(m *swim.Memberlist) { s.m.Store(m) }

func (s *serfMember) NodeMeta(limit int) []byte { return s.meta }

func (s *serfMember) GetBroadcasts(overhead, limit int) [][]byte {
	return s.queue.GetBroadcasts(overhead, limit)
}

func (s *serfMember) NotifyMsg(b []byte) {
	if len(b) == 0 {
		return
	}
	var ack func()
	s.mu.Lock()
	s.notify(b, &ack)
	s.mu.Unlock()
	if ack != nil {
		ack()
	}
}

// notify handles one Serf message with the lock held; a query ack to send is left in ack.
func (s *serfMember) notify(b []byte, ack *func()) {
	switch b[0] {
	case serfJoin, serfLeave:
		var in serfIntent
		if decodeSerf(b[1:], &in) != nil {
			return
		}
		witness(&s.clock, in.LTime)
		kind := map[uint8]string{serfJoin: "join", serfLeave: "leave"}[b[0]]
		if in.Node == s.name {
			// An intent about an earlier run of this member, or a forced leave: as Serf
			// does, a member that is not leaving answers a leave intent about it with a
			// newer join intent.
			if b[0] == serfLeave && !s.leaving {
				s.announceLocked(serfJoin)
			}
			return
		}
		if s.firstSight(fmt.Sprintf("%s/%s/%d", kind, in.Node, in.LTime), in.LTime, s.clock) {
			s.queue.QueueBroadcast("intent/"+in.Node, append([]byte(nil), b...), nil)
		}
	case serfUserEvent:
		var ev serfEvent
		if decodeSerf(b[1:], &ev) != nil {
			return
		}
		witness(&s.eventClock, ev.LTime)
		if s.firstSight(fmt.Sprintf("event/%d/%s/%x", ev.LTime, ev.Name, ev.Payload), ev.LTime, s.eventClock) {
			s.log("serf user event %q payload=%q ltime=%d", ev.Name, ev.Payload, ev.LTime)
			s.queue.QueueBroadcast("", append([]byte(nil), b...), nil)
		}
	case serfQuery:
		var q serfQueryMsg
		if decodeSerf(b[1:], &q) != nil {
			return
		}
		witness(&s.queryClk, q.LTime)
		if !s.firstSight(fmt.Sprintf("query/%d/%d", q.LTime, q.ID), q.LTime, s.queryClk) {
			return
		}
		if q.Flags&serfQueryNoBroadcast == 0 {
			s.queue.QueueBroadcast("", append([]byte(nil), b...), nil)
		}
		if !s.matches(q.Filters) {
			return
		}
		s.log("serf query %q payload=%q from %s", q.Name, q.Payload, q.SourceNode)
		if ip, ok := netip.AddrFromSlice(q.Addr); ok && q.Flags&serfQueryAck != 0 && s.m.Load() != nil {
			// Sent after the lock is released: a send waits for the protocol loop, which
			// may be asking this delegate for its state.
			msg := encodeSerf(serfQueryResponse, serfQueryResp{LTime: q.LTime, ID: q.ID, From: s.name, Flags: serfQueryAck})
			m, to, name := s.m.Load(), netip.AddrPortFrom(ip.Unmap(), q.Port), q.SourceNode
			*ack = func() {
				if err := m.SendToAddress(to, name, msg); err != nil {
					s.log("serf query ack to %s: %v", to, err)
				}
			}
		}
	}
}

// matches applies a query's filters as Serf does: every filter must select this member.
func (s *serfMember) matches(filters [][]byte) bool {
	for _, f := range filters {
		if len(f) == 0 {
			return false
		}
		switch f[0] {
		case serfFilterNode:
			var names []string
			if decodeSerf(f[1:], &names) != nil || !slices.Contains(names, s.name) {
				return false
			}
		case serfFilterTag:
			var tf serfTagFilter
			if decodeSerf(f[1:], &tf) != nil {
				return false
			}
			if ok, err := regexp.MatchString(tf.Expr, s.tags[tf.Tag]); err != nil || !ok {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func (s *serfMember) LocalState(join bool) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return encodeSerf(serfPushPull, serfPushPullState{
		LTime:        s.clock,
		StatusLTimes: map[string]uint64{s.name: s.joinTime},
		EventLTime:   s.eventClock,
		QueryLTime:   s.queryClk,
	})
}

func (s *serfMember) MergeRemoteState(b []byte, join bool) {
	if len(b) == 0 || b[0] != serfPushPull {
		return
	}
	var pp serfPushPullState
	if decodeSerf(b[1:], &pp) != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// The sender's clocks are the times it will stamp next, so nothing has used them yet.
	for _, c := range []struct {
		clock *uint64
		t     uint64
	}{{&s.clock, pp.LTime}, {&s.eventClock, pp.EventLTime}, {&s.queryClk, pp.QueryLTime}} {
		if c.t > 0 {
			witness(c.clock, c.t-1)
		}
	}
	for _, t := range pp.StatusLTimes {
		witness(&s.clock, t)
	}
}

// announce broadcasts an intent stamped with the member clock, as Serf does after joining
// (so that its status time is newer than any intent about an earlier run of this member)
// and before leaving (so that the agents list it as left, not failed), and returns a
// channel closed once the intent has been sent as often as it will be.
func (s *serfMember) announce(kind uint8) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.announceLocked(kind)
}

func (s *serfMember) announceLocked(kind uint8) <-chan struct{} {
	in := serfIntent{LTime: s.clock, Node: s.name}
	s.clock++
	switch kind {
	case serfJoin:
		s.joinTime = in.LTime
	case serfLeave:
		s.leaving = true
	}
	done := make(chan struct{})
	s.queue.QueueBroadcast("intent/"+s.name, encodeSerf(kind, in), func() { close(done) })
	return done
}

// leave announces the leave intent and waits, at most timeout, for it to go out; it says
// whether it did in time. With no other member alive there is no one to tell.
func (s *serfMember) leave(m *swim.Memberlist, timeout time.Duration) bool {
	if m.NumMembers() <= 1 {
		return true
	}
	select {
	case <-s.announce(serfLeave):
		return true
	case <-time.After(timeout):
		return false
	}
}
