package memberlist

import (
	"time"

	"github.com/swim-go/swim"
)

// Delegate is how an application rides on the protocol: metadata about itself, messages of
// its own, and state it exchanges on push/pull. NodeMeta, GetBroadcasts, LocalState and
// MergeRemoteState run on the protocol loop and must return quickly; NotifyMsg runs off it,
// in order with the membership events. Any Memberlist method may be called from them.
type Delegate interface {
	// NodeMeta returns this member's metadata, at most limit bytes.
	NodeMeta(limit int) []byte
	// NotifyMsg receives a user message; the slice is the application's to keep.
	NotifyMsg([]byte)
	// GetBroadcasts returns messages to piggyback on a packet: each costs its length plus
	// overhead, and together at most limit bytes. TransmitLimitedQueue implements it.
	GetBroadcasts(overhead, limit int) [][]byte
	// LocalState returns the state sent in a push/pull; join says whether it is a join's.
	LocalState(join bool) []byte
	// MergeRemoteState receives the state a peer sent in a push/pull.
	MergeRemoteState(buf []byte, join bool)
}

// EventDelegate learns of membership changes, one at a time and in order. Unlike memberlist,
// it may call any Memberlist method (Members included) without deadlock. The changes a Join,
// UpdateNode or Leave makes are delivered before the call returns, as in memberlist.
type EventDelegate interface {
	NotifyJoin(*Node)
	NotifyLeave(*Node)
	NotifyUpdate(*Node)
}

// ConflictDelegate learns that a member at another address claims a name in use.
type ConflictDelegate interface {
	NotifyConflict(existing, other *Node)
}

// MergeDelegate may refuse a join by returning an error: it sees the other side's members on
// both sides of the join, and nothing is merged if it refuses.
type MergeDelegate interface {
	NotifyMerge(peers []*Node) error
}

// AliveDelegate may refuse news that a member is alive (for example, one that is not on an
// allow-list) by returning an error.
type AliveDelegate interface {
	NotifyAlive(peer *Node) error
}

// PingDelegate attaches a payload to the acks this member sends, and learns the round-trip
// time and payload of each direct probe this member makes.
type PingDelegate interface {
	AckPayload() []byte
	NotifyPingComplete(other *Node, rtt time.Duration, payload []byte)
}

// ChannelEventDelegate is an EventDelegate that sends each change on Ch. A full channel holds
// up later events (not the protocol), so give it room or read it promptly.
type ChannelEventDelegate struct {
	Ch chan<- NodeEvent
}

// NotifyJoin sends a NodeJoin.
func (c *ChannelEventDelegate) NotifyJoin(n *Node) { c.Ch <- NodeEvent{NodeJoin, copyNode(n)} }

// NotifyLeave sends a NodeLeave.
func (c *ChannelEventDelegate) NotifyLeave(n *Node) { c.Ch <- NodeEvent{NodeLeave, copyNode(n)} }

// NotifyUpdate sends a NodeUpdate.
func (c *ChannelEventDelegate) NotifyUpdate(n *Node) { c.Ch <- NodeEvent{NodeUpdate, copyNode(n)} }

func copyNode(n *Node) *Node {
	c := *n
	return &c
}

// The adapters below give swim this package's delegates. Each reads the delegate from the
// application's *Config when it is called, not once at Create: memberlist does, and programs
// (Serf's tests among them) swap a delegate on a running member.

type delegateAdapter struct{ m *Memberlist }

func (d delegateAdapter) get() Delegate { return d.m.config.Delegate }

func (d delegateAdapter) NodeMeta(limit int) []byte {
	if g := d.get(); g != nil {
		return g.NodeMeta(limit)
	}
	return nil
}

func (d delegateAdapter) NotifyMsg(b []byte) {
	if g := d.get(); g != nil {
		g.NotifyMsg(b)
	}
}

func (d delegateAdapter) GetBroadcasts(overhead, limit int) [][]byte {
	if g := d.get(); g != nil {
		return g.GetBroadcasts(overhead, limit)
	}
	return nil
}

func (d delegateAdapter) LocalState(join bool) []byte {
	if g := d.get(); g != nil {
		return g.LocalState(join)
	}
	return nil
}

func (d delegateAdapter) MergeRemoteState(buf []byte, join bool) {
	if g := d.get(); g != nil {
		g.MergeRemoteState(buf, join)
	}
}

type eventAdapter struct{ m *Memberlist }

func (e eventAdapter) NotifyJoin(n swim.Node) {
	<-e.m.ready // whether this member refused itself is decided
	if n.Name == e.m.config.Name && e.m.selfRefused {
		return // the AliveDelegate refused this member itself: it is no member of its own
	}
	if g := e.m.config.Events; g != nil {
		g.NotifyJoin(nodeOf(n))
	}
}

func (e eventAdapter) NotifyLeave(n swim.Node) {
	if g := e.m.config.Events; g != nil {
		g.NotifyLeave(nodeOf(n))
	}
}

func (e eventAdapter) NotifyUpdate(n swim.Node) {
	if g := e.m.config.Events; g != nil {
		g.NotifyUpdate(nodeOf(n))
	}
}

type conflictAdapter struct{ m *Memberlist }

func (c conflictAdapter) NotifyConflict(existing, other swim.Node) {
	if g := c.m.config.Conflict; g != nil {
		g.NotifyConflict(nodeOf(existing), nodeOf(other))
	}
}

type mergeAdapter struct{ m *Memberlist }

func (a mergeAdapter) NotifyMerge(peers []swim.Node) error {
	g := a.m.config.Merge
	if g == nil {
		return nil
	}
	nodes := make([]*Node, len(peers))
	for i, p := range peers {
		nodes[i] = nodeOf(p)
	}
	return g.NotifyMerge(nodes)
}

type aliveAdapter struct{ m *Memberlist }

func (a aliveAdapter) NotifyAlive(peer swim.Node) error {
	if g := a.m.config.Alive; g != nil {
		return g.NotifyAlive(nodeOf(peer))
	}
	return nil
}

type pingAdapter struct{ m *Memberlist }

func (p pingAdapter) AckPayload() []byte {
	if g := p.m.config.Ping; g != nil {
		return g.AckPayload()
	}
	return nil
}

func (p pingAdapter) NotifyPingComplete(other swim.Node, rtt time.Duration, payload []byte) {
	if g := p.m.config.Ping; g != nil {
		g.NotifyPingComplete(nodeOf(other), rtt, payload)
	}
}
