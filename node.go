package swim

import (
	"net"
	"net/netip"
	"strconv"
)

// NodeState is what the cluster believes about a member.
type NodeState int

// The states a member can be in. The numbers are memberlist's, as carried in push/pull.
const (
	StateAlive   NodeState = 0 // answering probes
	StateSuspect NodeState = 1 // missed a probe; dead unless it refutes in time (or, in Members(), flapping: Config.FlapHoldDown)
	StateDead    NodeState = 2 // declared failed
	StateLeft    NodeState = 3 // left gracefully
)

func (s NodeState) String() string {
	switch s {
	case StateAlive:
		return "alive"
	case StateSuspect:
		return "suspect"
	case StateDead:
		return "dead"
	case StateLeft:
		return "left"
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// Node is a member as this member sees it: a value copied out of the member table, never
// changed afterwards.
type Node struct {
	Name        string
	Addr        net.IP
	Port        uint16
	Meta        []byte
	State       NodeState
	Incarnation uint32

	PMin, PMax, PCur uint8 // protocol versions: lowest understood, highest understood, spoken
	DMin, DMax, DCur uint8 // delegate protocol versions, likewise

	// HeldOut is set on the NotifyLeave of a member leaving the view because it flaps
	// (Config.FlapHoldDown), not because it died or left: it is still a member, and comes
	// back with a NotifyJoin once it has stopped flapping.
	HeldOut bool
}

// Address returns the member's advertised address as host:port.
func (n Node) Address() string {
	return net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
}

// AddrPort returns the member's advertised address.
func (n Node) AddrPort() netip.AddrPort {
	a, _ := netip.AddrFromSlice(n.Addr)
	return netip.AddrPortFrom(a.Unmap(), n.Port)
}
