package memberlist

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/swim-go/swim"
)

// Memberlist is a running member of a cluster.
type Memberlist struct {
	config *Config
	sw     *swim.Memberlist
	log    *slog.Logger

	// selfRefused says the AliveDelegate refused this member itself, as memberlist allows:
	// it is then not reported as a member of its own cluster. ready is closed once it is
	// decided, before any event is delivered.
	selfRefused bool
	ready       chan struct{}
	readyOnce   sync.Once
}

// errNodeNamesRequired is returned for an address without a name under RequireNodeNames.
var errNodeNamesRequired = errors.New("node names are required by configuration but one was not provided")

// Create starts a member with conf; it does not join anyone (call Join). conf is kept: the
// Memberlist reads its delegates when it calls them, stores the Keyring it builds from
// SecretKey in conf.Keyring, and the port it bound in conf.BindPort when that was 0. Before
// Create returns, the Events delegate has heard of this member's own join.
func Create(conf *Config) (*Memberlist, error) {
	if conf == nil {
		return nil, errors.New("memberlist: nil config")
	}
	if conf.ProtocolVersion < ProtocolVersionMin {
		return nil, fmt.Errorf("protocol version '%d' too low, must be in range: [%d, %d]", conf.ProtocolVersion, ProtocolVersionMin, ProtocolVersionMax)
	}
	if conf.ProtocolVersion > ProtocolVersionMax {
		return nil, fmt.Errorf("protocol version '%d' too high, must be in range: [%d, %d]", conf.ProtocolVersion, ProtocolVersionMin, ProtocolVersionMax)
	}
	if conf.LogOutput != nil && conf.Logger != nil {
		return nil, errors.New("cannot specify both LogOutput and Logger, please choose a single log configuration setting")
	}
	if len(conf.Label) > LabelMaxSize {
		return nil, fmt.Errorf("label is too long: the limit is %d bytes", LabelMaxSize)
	}
	if len(conf.SecretKey) > 0 {
		if conf.Keyring == nil {
			ring, err := NewKeyring(nil, conf.SecretKey)
			if err != nil {
				return nil, err
			}
			conf.Keyring = ring
		} else {
			if err := conf.Keyring.AddKey(conf.SecretKey); err != nil {
				return nil, err
			}
			if err := conf.Keyring.UseKey(conf.SecretKey); err != nil {
				return nil, err
			}
		}
	}
	m := &Memberlist{config: conf, log: newLogger(conf), ready: make(chan struct{})}
	sc, err := m.swimConfig()
	if err != nil {
		return nil, err
	}
	if sc.Transport == nil {
		nt, err := swim.NewNetTransport(conf.BindAddr, conf.BindPort, sc.HandoffQueueDepth, m.log)
		if err != nil {
			return nil, fmt.Errorf("could not set up network transport: %w", err)
		}
		if conf.BindPort == 0 {
			conf.BindPort = int(nt.BoundAddr().Port())
			if conf.AdvertiseAddr == "" {
				conf.AdvertisePort = conf.BindPort
			}
		}
		sc.Transport = nt
	}
	sw, err := swim.Create(sc)
	if err != nil {
		m.markReady()
		return nil, err
	}
	m.sw = sw
	if conf.Alive != nil {
		// memberlist asks the AliveDelegate about this member too, and leaves it out of its
		// own member list if refused.
		m.selfRefused = conf.Alive.NotifyAlive(nodeOf(sw.LocalNode())) != nil
	}
	m.markReady()
	sw.WaitEvents(context.Background())
	return m, nil
}

func (m *Memberlist) markReady() { m.readyOnce.Do(func() { close(m.ready) }) }

// swimConfig translates the configuration. Values swim refuses but memberlist accepts are
// brought to the nearest that swim takes, with the same effect.
func (m *Memberlist) swimConfig() (*swim.Config, error) {
	c := m.config
	sc := swim.DefaultLANConfig()
	sc.Name = c.Name
	sc.BindAddr, sc.BindPort = c.BindAddr, c.BindPort
	if c.AdvertiseAddr != "" {
		sc.AdvertiseAddr, sc.AdvertisePort = c.AdvertiseAddr, c.AdvertisePort
	}
	sc.ProtocolVersion = c.ProtocolVersion
	sc.DelegateProtocolVersion, sc.DelegateProtocolMin, sc.DelegateProtocolMax = c.DelegateProtocolVersion, c.DelegateProtocolMin, c.DelegateProtocolMax
	if sc.DelegateProtocolMax < sc.DelegateProtocolMin {
		sc.DelegateProtocolMax = sc.DelegateProtocolMin
	}
	sc.DelegateProtocolVersion = min(max(sc.DelegateProtocolVersion, sc.DelegateProtocolMin), sc.DelegateProtocolMax)
	sc.TCPTimeout = max(c.TCPTimeout, time.Millisecond)
	sc.IndirectChecks = max(c.IndirectChecks, 0)
	sc.RetransmitMult = max(c.RetransmitMult, 1)
	sc.SuspicionMult = max(c.SuspicionMult, 1)
	sc.SuspicionMaxTimeoutMult = max(c.SuspicionMaxTimeoutMult, 1)
	sc.PushPullInterval = max(c.PushPullInterval, 0)
	sc.ProbeInterval = max(c.ProbeInterval, time.Millisecond)
	sc.ProbeTimeout = max(c.ProbeTimeout, time.Millisecond)
	sc.DisableTcpPings = c.DisableTcpPings
	sc.DisableTcpPingsForNode = c.DisableTcpPingsForNode
	sc.AwarenessMaxMultiplier = max(c.AwarenessMaxMultiplier, 1)
	sc.GossipInterval, sc.GossipNodes = max(c.GossipInterval, 0), c.GossipNodes
	if sc.GossipNodes < 1 {
		sc.GossipInterval = 0 // memberlist would gossip to nobody
	}
	sc.GossipToTheDeadTime = max(c.GossipToTheDeadTime, 0)
	// memberlist reports a flapping member as it goes, and its users (Serf) build on that.
	sc.FlapHoldDown = 0
	sc.GossipVerifyIncoming, sc.GossipVerifyOutgoing = c.GossipVerifyIncoming, c.GossipVerifyOutgoing
	sc.EnableCompression = c.EnableCompression
	if c.Keyring != nil {
		sc.Keyring = c.Keyring.ring
	}
	sc.Label, sc.SkipInboundLabelCheck = c.Label, c.SkipInboundLabelCheck
	sc.UDPBufferSize = min(max(c.UDPBufferSize, 576), 65000)
	sc.HandoffQueueDepth = max(c.HandoffQueueDepth, 1)
	// memberlist: 0 means a dead member's name is never taken over by another address;
	// swim: 0 means at once, negative never.
	sc.DeadNodeReclaimTime = c.DeadNodeReclaimTime
	if sc.DeadNodeReclaimTime == 0 {
		sc.DeadNodeReclaimTime = -1
	}
	for _, n := range c.CIDRsAllowed {
		p, err := prefixOf(n)
		if err != nil {
			return nil, err
		}
		sc.CIDRsAllowed = append(sc.CIDRsAllowed, p)
	}
	sc.Logger = m.log
	sc.Metrics = &metricsSink{labels: c.MetricLabels, queueEvery: c.QueueCheckInterval}
	for _, l := range c.MetricLabels {
		sc.MetricLabels = append(sc.MetricLabels, swim.Label{Name: l.Name, Value: l.Value})
	}
	if c.Transport != nil {
		sc.Transport = adaptTransport(c.Transport)
	}
	sc.Delegate = delegateAdapter{m}
	sc.Events = eventAdapter{m}
	sc.Conflict = conflictAdapter{m}
	sc.Ping = pingAdapter{m}
	// memberlist's behaviours that swim's own API does without.
	sc.AllowNameInUse = true
	sc.UserMessagesNewestFirst = true
	// A Merge or Alive delegate changes what is accepted (an AliveDelegate sees only alives
	// that carry versions, as in memberlist), so they are wired only when set at Create.
	if c.Merge != nil {
		sc.Merge = mergeAdapter{m}
	}
	if c.Alive != nil {
		sc.Alive = aliveAdapter{m}
	}
	return sc, nil
}

func prefixOf(n net.IPNet) (netip.Prefix, error) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, fmt.Errorf("invalid cidr: %v", n.String())
	}
	ones, _ := n.Mask.Size()
	a = a.Unmap()
	if a.Is4() && ones > 32 {
		ones -= 96
	}
	return netip.PrefixFrom(a, ones), nil
}

// Join contacts each of existing ("host", "host:port", or either after "name/") and
// exchanges state with it, and returns how many it reached. It fails only if none was
// reached. Before it returns, the delegates have heard of what the join brought, as in
// memberlist. Join(nil) does nothing.
func (m *Memberlist) Join(existing []string) (int, error) {
	if len(existing) == 0 {
		return 0, nil
	}
	var errs []error
	seeds := make([]string, 0, len(existing))
	for _, s := range existing {
		if m.config.RequireNodeNames && !strings.Contains(s, "/") {
			errs = append(errs, fmt.Errorf("failed to resolve %s: %w", s, errNodeNamesRequired))
			continue
		}
		seeds = append(seeds, s)
	}
	n := 0
	if len(seeds) > 0 {
		var err error
		n, err = m.sw.Join(seeds)
		if err != nil {
			errs = append(errs, err)
		}
		m.sw.WaitEvents(context.Background())
	}
	if n > 0 {
		return n, nil
	}
	return 0, errors.Join(errs...)
}

// Leave announces that this member is leaving and waits up to timeout for the news to be
// sent (timeout <= 0: as long as that takes). It keeps answering probes until Shutdown.
func (m *Memberlist) Leave(timeout time.Duration) error {
	err := m.sw.Leave(timeout)
	m.sw.WaitEvents(context.Background())
	return err
}

// Shutdown stops the member without announcing anything (Leave first to leave gracefully),
// closes the transport and waits for its goroutines. It may be called more than once.
func (m *Memberlist) Shutdown() error {
	err := m.sw.Shutdown()
	if errors.Is(err, swim.ErrNotRunning) {
		return nil
	}
	return err
}

// Members returns the alive and suspect members, this one included, as fresh copies: unlike
// memberlist's, they do not point into the protocol's state (hashicorp/memberlist#306), and
// Members may be called from any delegate (hashicorp/memberlist#23).
func (m *Memberlist) Members() []*Node {
	ms := m.sw.Members()
	out := make([]*Node, 0, len(ms))
	for _, n := range ms {
		if m.selfRefused && n.Name == m.config.Name {
			continue
		}
		out = append(out, nodeOf(n))
	}
	return out
}

// NumMembers returns how many members are alive or suspect, this one included.
func (m *Memberlist) NumMembers() (alive int) {
	n := m.sw.NumMembers()
	if m.selfRefused {
		n--
	}
	return n
}

// LocalNode returns this member as the cluster sees it.
func (m *Memberlist) LocalNode() *Node { return nodeOf(m.sw.LocalNode()) }

// UpdateNode reads Delegate.NodeMeta again and announces it, waiting up to timeout for the
// news to be sent (timeout <= 0: as long as that takes). The Events delegate hears of this
// member's update before it returns, if the metadata changed.
func (m *Memberlist) UpdateNode(timeout time.Duration) error {
	err := m.sw.UpdateNode(timeout)
	m.sw.WaitEvents(context.Background())
	return err
}

// SendBestEffort sends msg to a member in one packet, without acknowledgement.
func (m *Memberlist) SendBestEffort(to *Node, msg []byte) error {
	return m.sendPacket(to.Address(), to.Name, msg)
}

// SendReliable sends msg to a member over a stream, and returns once it was written. The
// member must be in this member's table (swim refuses strangers with swim.ErrUnknownNode;
// memberlist would dial any address).
func (m *Memberlist) SendReliable(to *Node, msg []byte) error {
	return m.sw.SendReliable(to.swimNode(), msg)
}

// SendToUDP is SendBestEffort.
func (m *Memberlist) SendToUDP(to *Node, msg []byte) error { return m.SendBestEffort(to, msg) }

// SendToTCP is SendReliable.
func (m *Memberlist) SendToTCP(to *Node, msg []byte) error { return m.SendReliable(to, msg) }

// SendTo sends msg in one packet to an address. Deprecated in memberlist: use SendToAddress.
func (m *Memberlist) SendTo(to net.Addr, msg []byte) error {
	return m.sendPacket(to.String(), "", msg)
}

// SendToAddress sends msg in one packet to an address, a member's or not (a reply to a
// member this one does not know yet, or to itself). With RequireNodeNames the address must
// carry a name.
func (m *Memberlist) SendToAddress(a Address, msg []byte) error {
	return m.sendPacket(a.Addr, a.Name, msg)
}

func (m *Memberlist) sendPacket(addr, name string, msg []byte) error {
	if m.config.RequireNodeNames && name == "" {
		return errNodeNamesRequired
	}
	ap, err := resolveAddrPort(addr)
	if err != nil {
		return err
	}
	return m.sw.SendToAddress(ap, name, msg)
}

// resolveAddrPort parses host:port, looking the host up if it is a name.
func resolveAddrPort(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	ua, err := net.ResolveUDPAddr("udp", s)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return addrPortOf(ua), nil
}

// Ping sends a ping to the member named node at addr, outside the probe schedule, and returns
// the round-trip time, or a NoPingResponseError if no ack came within ProbeTimeout.
func (m *Memberlist) Ping(node string, addr net.Addr) (time.Duration, error) {
	rtt, err := m.sw.Ping(node, addrPortOf(addr))
	if errors.Is(err, swim.ErrNoPingResponse) {
		return 0, NoPingResponseError{node: node}
	}
	return rtt, err
}

// GetHealthScore returns Lifeguard's local health score: 0 is healthy, higher means this
// member has seemed slow lately. It never waits for the protocol.
func (m *Memberlist) GetHealthScore() int { return m.sw.HealthScore() }

// ProtocolVersion returns the protocol version this member speaks.
func (m *Memberlist) ProtocolVersion() uint8 { return m.sw.ProtocolVersion() }
