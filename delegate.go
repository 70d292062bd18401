package swim

import "time"

// Delegate is how an application rides on the protocol: metadata about itself, messages of
// its own, and state it exchanges on push/pull. Every method runs inside the protocol's own
// step, so it must return quickly and must not block. It may read the Memberlist (Members,
// NumMembers, LocalNode, HealthScore, Drops) and call Shutdown; a call that acts on the
// protocol (Join, UpdateNode, Leave, the Send methods, Ping, SetGossipVerify) would wait for
// the step it is in, and returns ErrInDelegate at once instead.
type Delegate interface {
	// NodeMeta returns this member's metadata, at most limit bytes. It is read at Create and
	// by UpdateNode.
	NodeMeta(limit int) []byte
	// NotifyMsg receives a user message (broadcast or sent directly). It runs off the
	// protocol loop, in order with the events; the slice is the application's to keep.
	NotifyMsg(msg []byte)
	// GetBroadcasts returns user broadcasts to piggyback on a packet: messages whose
	// encoded size plus overhead each fits, in total at most limit bytes. BroadcastQueue
	// implements the usual retransmit-limited queue for it.
	GetBroadcasts(overhead, limit int) [][]byte
	// LocalState returns the application state sent in a push/pull; join says whether the
	// exchange is a join.
	LocalState(join bool) []byte
	// MergeRemoteState receives the state a peer sent in a push/pull.
	MergeRemoteState(buf []byte, join bool)
}

// EventDelegate learns of membership changes. Its methods run in order on one goroutine off
// the protocol loop, so a slow handler delays later events but never probing; they may call
// any Memberlist method, Members and Shutdown included. Events are asynchronous: Join can
// return before NotifyJoin runs; Members() called in NotifyJoin(x) already includes x.
// Shutdown does not wait for a handler that is running: events not yet delivered when it is
// called are dropped.
type EventDelegate interface {
	NotifyJoin(Node)   // a member became alive (new, or back from dead or left)
	NotifyLeave(Node)  // a member was declared dead, or left; Node.State says which
	NotifyUpdate(Node) // an alive member changed its metadata or address
}

// ConflictDelegate learns that a member at another address claims a name already in use. It
// runs off the protocol loop.
type ConflictDelegate interface {
	NotifyConflict(existing, other Node)
}

// MergeDelegate may veto a join by returning an error: it sees the other side's members on
// both sides of a join's push/pull, and nothing of the remote state is applied if it refuses
// (the joiner's Join returns the error). As in memberlist, periodic push/pulls do not ask it.
// It runs on the protocol loop and must not block; what it may call is as for Delegate.
type MergeDelegate interface {
	NotifyMerge(peers []Node) error
}

// AliveDelegate may veto an alive message about another member (for example, one not in an
// allow-list) by returning an error. It runs on the protocol loop and must not block; what
// it may call is as for Delegate.
type AliveDelegate interface {
	NotifyAlive(peer Node) error
}

// PingDelegate attaches a payload to acks and learns round-trip times. AckPayload runs on the
// protocol loop and must not block (what it may call is as for Delegate); NotifyPingComplete
// runs off it.
type PingDelegate interface {
	AckPayload() []byte
	NotifyPingComplete(other Node, rtt time.Duration, payload []byte)
}

// EventType says what happened to a member in a NodeEvent.
type EventType int

// The kinds of NodeEvent.
const (
	EventJoin EventType = iota
	EventLeave
	EventUpdate
)

func (t EventType) String() string {
	switch t {
	case EventJoin:
		return "join"
	case EventLeave:
		return "leave"
	case EventUpdate:
		return "update"
	}
	return "event(?)"
}

// NodeEvent is one membership change, as delivered on a channel by ChannelEventDelegate.
type NodeEvent struct {
	Type EventType
	Node Node
}

// ChannelEventDelegate is an EventDelegate that sends each event on Ch. Events are sent in
// order; a full channel delays later events (never the protocol, nor Shutdown), so give it a
// buffer or drain it promptly. After Shutdown, a send blocked on a full channel completes
// when the application reads it; nothing more is sent.
type ChannelEventDelegate struct {
	Ch chan<- NodeEvent
}

// NotifyJoin sends an EventJoin.
func (c *ChannelEventDelegate) NotifyJoin(n Node) { c.Ch <- NodeEvent{EventJoin, n} }

// NotifyLeave sends an EventLeave.
func (c *ChannelEventDelegate) NotifyLeave(n Node) { c.Ch <- NodeEvent{EventLeave, n} }

// NotifyUpdate sends an EventUpdate.
func (c *ChannelEventDelegate) NotifyUpdate(n Node) { c.Ch <- NodeEvent{EventUpdate, n} }
