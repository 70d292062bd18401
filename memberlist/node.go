package memberlist

import (
	"fmt"
	"net"
	"strconv"

	"github.com/swim-go/swim"
)

// NodeStateType is what a member knows of another: alive, suspected of having failed, dead,
// or gone after leaving.
type NodeStateType int

// The states of a member, with memberlist's values.
const (
	StateAlive NodeStateType = iota
	StateSuspect
	StateDead
	StateLeft
)

// Node is a member of the cluster as this member sees it. Every Node this package hands out
// is a fresh copy: changing it, or keeping it, touches nothing inside the protocol.
type Node struct {
	Name  string
	Addr  net.IP
	Port  uint16
	Meta  []byte        // what the member's Delegate.NodeMeta returned
	State NodeStateType // as of when the copy was made
	PMin  uint8         // lowest protocol version the member understands
	PMax  uint8         // highest protocol version the member understands
	PCur  uint8         // protocol version the member speaks
	DMin  uint8         // lowest delegate protocol version the member understands
	DMax  uint8         // highest delegate protocol version the member understands
	DCur  uint8         // delegate protocol version the member speaks
}

// Address returns the member's address as host:port.
func (n *Node) Address() string {
	return net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
}

// FullAddress returns the member's address together with its name.
func (n *Node) FullAddress() Address {
	return Address{Addr: n.Address(), Name: n.Name}
}

// String returns the member's name.
func (n *Node) String() string { return n.Name }

// Address is where a member can be reached, and its name when known (a transport that routes
// by name needs it).
type Address struct {
	// Addr is host:port.
	Addr string
	// Name is the member's name, or empty when not known.
	Name string
}

func (a *Address) String() string {
	if a.Name != "" {
		return fmt.Sprintf("%s (%s)", a.Name, a.Addr)
	}
	return a.Addr
}

// nodeOf converts swim's view of a member. IPv4 addresses are in their 4-byte form, as
// memberlist gives them.
func nodeOf(n swim.Node) *Node {
	addr := n.Addr
	if v4 := addr.To4(); v4 != nil {
		addr = v4
	}
	return &Node{Name: n.Name, Addr: addr, Port: n.Port, Meta: n.Meta, State: NodeStateType(n.State),
		PMin: n.PMin, PMax: n.PMax, PCur: n.PCur, DMin: n.DMin, DMax: n.DMax, DCur: n.DCur}
}

// swimNode converts back, for calls that take a member.
func (n *Node) swimNode() swim.Node {
	return swim.Node{Name: n.Name, Addr: n.Addr, Port: n.Port, Meta: n.Meta, State: swim.NodeState(n.State),
		PMin: n.PMin, PMax: n.PMax, PCur: n.PCur, DMin: n.DMin, DMax: n.DMax, DCur: n.DCur}
}

// NodeEventType says what happened to a member in a NodeEvent.
type NodeEventType int

// The kinds of NodeEvent.
const (
	NodeJoin NodeEventType = iota
	NodeLeave
	NodeUpdate
)

// NodeEvent is one membership change, as ChannelEventDelegate delivers it.
type NodeEvent struct {
	Event NodeEventType
	Node  *Node
}
