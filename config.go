package swim

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"
)

// Config says how a member behaves. Start from DefaultLANConfig, DefaultWANConfig or
// DefaultLocalConfig and change what you need; Create validates it. Field names follow
// hashicorp/memberlist wherever the concept is the same, so a memberlist configuration carries
// over field by field.
//
// Limits on what a peer can make a member read, hold or do are either fields below
// (TCPTimeout, HandoffQueueDepth, MaxConcurrentStreams, MaxPushPullNodes, MaxUserStateSize,
// MaxStreamMessageSize) or fixed by the protocol: a datagram is read up to 65,536 bytes and
// may decompress to at most 1 MiB; compound and compress messages nest at most 4 deep, and a
// compound holds at most 255 parts; node names are at most 255 bytes and metadata at most
// MetaMaxSize; a label is 1 to 255 bytes. Input over a limit is dropped and counted (see
// Memberlist.Drops), never an error or a panic.
type Config struct {
	// Name is this member's name, unique in the cluster. Default: the host name.
	Name string

	// BindAddr and BindPort are where the transport listens for packets (UDP) and streams
	// (TCP). Port 0 picks a free port. Default 0.0.0.0:7946.
	BindAddr string
	BindPort int

	// AdvertiseAddr and AdvertisePort are the address other members use to reach this one. Empty
	// or 0 means "the bound address", as the transport resolves it. Default: empty, 0.
	AdvertiseAddr string
	AdvertisePort int

	// ProtocolVersion is the memberlist protocol version this member speaks (the PCur byte
	// of Vsn). swim implements every feature up to 5 and speaks 2 by default, like memberlist.
	// Allowed: ProtocolVersionMin..ProtocolVersionMax.
	ProtocolVersion uint8

	// DelegateProtocolVersion, DelegateProtocolMin and DelegateProtocolMax are the application's
	// own protocol versions, advertised in Vsn and checked on push/pull. Default 0.
	DelegateProtocolVersion uint8
	DelegateProtocolMin     uint8
	DelegateProtocolMax     uint8

	// TCPTimeout bounds every stream exchange (push/pull, reliable user message): dial, write
	// and read. LAN 10 s, WAN 30 s, Local 1 s.
	TCPTimeout time.Duration

	// IndirectChecks is how many members are asked to ping a target that missed its direct
	// ping. More checks mean fewer false suspicions under loss and more packets. LAN 3, WAN 3,
	// Local 1.
	IndirectChecks int

	// RetransmitMult scales how many times each broadcast is sent:
	// RetransmitMult * ceil(log10(n+1)), as in memberlist. Deaths and leaves are sent at
	// least ceil(ln(n+1)) + 7 times whatever this says, so that they reach every member
	// without waiting for a push/pull (broadcast.go explains the count). LAN 4, WAN 4,
	// Local 2.
	RetransmitMult int

	// SuspicionMult scales the suspicion timeout before a suspect is declared dead:
	// SuspicionMult * log10(max(1, n)) * ProbeInterval is the minimum. LAN 4, WAN 6, Local 3.
	SuspicionMult int

	// SuspicionMaxTimeoutMult is the multiple of the minimum suspicion timeout a suspicion
	// starts at before independent confirmations shrink it (Lifeguard). LAN 6, WAN 6, Local 6.
	SuspicionMaxTimeoutMult int

	// PushPullInterval is how often a member exchanges its full state with a random other
	// member over a stream (anti-entropy). It is scaled up for clusters over 32 members. 0
	// disables periodic push/pull (join and reconnect still use it). LAN 30 s, WAN 60 s,
	// Local 15 s.
	PushPullInterval time.Duration

	// ProbeInterval is the time between probes of successive members; it is also the window
	// in which indirect acks are awaited. LAN 1 s, WAN 5 s, Local 1 s.
	ProbeInterval time.Duration

	// ProbeTimeout is how long to wait for a direct ack before asking for indirect pings. It
	// should be above the network's 99th-percentile round-trip time, and below ProbeInterval:
	// at or above it no time is left for indirect pings, and a probe without a direct ack
	// fails (memberlist accepts that too). LAN 500 ms, WAN 3 s, Local 200 ms.
	ProbeTimeout time.Duration

	// DisableTcpPings turns off the stream ping sent alongside indirect pings to peers that
	// support it. Default false.
	DisableTcpPings bool

	// DisableTcpPingsForNode, if set, turns off the stream ping for the members it returns
	// true for. It runs on the protocol loop and must not block. Default nil.
	DisableTcpPingsForNode func(name string) bool

	// AwarenessMaxMultiplier caps Lifeguard's local health score: the probe interval and
	// timeout stretch up to this multiple while this member itself seems unhealthy. 1 disables
	// awareness. Default 8.
	AwarenessMaxMultiplier int

	// GossipInterval is how often queued broadcasts are sent to GossipNodes random members,
	// apart from those piggybacked on probes. 0 disables the gossip timer. LAN 200 ms,
	// WAN 500 ms, Local 100 ms.
	GossipInterval time.Duration

	// GossipNodes is how many random members each gossip round sends to. LAN 3, WAN 4, Local 3.
	GossipNodes int

	// GossipToTheDeadTime is how long a dead member is still gossiped to (so it can learn it
	// was declared dead and refute) and kept in the member table. LAN 30 s, WAN 60 s,
	// Local 15 s.
	GossipToTheDeadTime time.Duration

	// ReconnectInterval is how often a member tries a push/pull with one member it holds as
	// failed, so that a partition heals even after both sides forgot each other. The chance of
	// trying in a round is (failed members)/(alive members), so the whole cluster makes about
	// one attempt per failed member per interval. 0 disables. LAN 10 s, WAN 30 s, Local 5 s.
	ReconnectInterval time.Duration

	// ReconnectTimeout is how long a failed member's address is remembered for reconnect
	// attempts after it is reaped from the member table. Default 6 h.
	ReconnectTimeout time.Duration

	// DeadNodeReclaimTime is how long after a member is declared dead another address may
	// take over its name (a restart at a new address). Unlike memberlist, 0 means "as soon as
	// it is dead"; a negative value forbids it (the name is free only after reaping). Left
	// members can always be taken over. Default 0.
	DeadNodeReclaimTime time.Duration

	// FlapHoldDown damps flapping members (flap.go). A member seen refuting two suspicions
	// within 20 probe intervals stays suspect in Members() until FlapHoldDown passes without
	// another refutation or death. One that refutes six, or returns from the dead within
	// FlapHoldDown of another refutation or after dying twice, is held out of Members() and
	// of the events (one NotifyLeave, with Node.HeldOut set) until FlapHoldDown passes
	// without a refutation or death; then it is back with one NotifyJoin. The protocol
	// treats it as any other member meanwhile. 0 turns damping off, as in memberlist.
	// Default 60 s; WAN 5 min.
	FlapHoldDown time.Duration

	// EnableCompression compresses outgoing packets and streams with LZW when that makes them
	// smaller. Incoming compressed messages are always accepted. Default true.
	EnableCompression bool

	// UDPBufferSize is the largest packet this member builds, in bytes; broadcasts are packed
	// up to it. Default 1400.
	UDPBufferSize int

	// HandoffQueueDepth bounds the transport's queue of received packets waiting for the
	// loop; further packets are dropped and counted. Default 1024. The default transport
	// does not queue: its reader hands each datagram to the member itself, and a burst waits
	// in the socket's receive buffer instead.
	HandoffQueueDepth int

	// MaxConcurrentStreams bounds inbound streams served at once; further ones are closed
	// without a reply. Default 128.
	MaxConcurrentStreams int

	// MaxPushPullNodes bounds the member states one push/pull may carry; a larger claim drops
	// the exchange before any state is read. Default 1,048,576 (memberlist's).
	MaxPushPullNodes int

	// MaxUserStateSize bounds the delegate's state in one push/pull, in bytes. Default 20 MiB.
	MaxUserStateSize int

	// MaxStreamMessageSize bounds one message on a stream, in bytes: a reliable user message
	// or an encrypted message; a compressed one may expand to twice this. Default 20 MiB
	// (memberlist's).
	MaxStreamMessageSize int

	// Label isolates clusters that share a network: it is sent ahead of every packet and
	// stream, and a member drops traffic whose label is not its own (unlabelled traffic
	// included). With encryption the label is also authenticated. At most 255 bytes; wire
	// compatible with memberlist's Label. Default "" (no label).
	Label string

	// SkipInboundLabelCheck treats inbound traffic as if it carried Label, for deployments
	// where a proxy strips labels; traffic that still carries a label is then dropped.
	// Default false.
	SkipInboundLabelCheck bool

	// SecretKey, if set, is installed as the primary encryption key: in a new keyring, or in
	// Keyring if one is given. 16, 24 or 32 bytes (AES-128, -192, -256). Default nil.
	SecretKey []byte

	// Keyring holds the encryption keys; encryption is on while it holds at least one. Keys
	// may be added, made primary and removed while the member runs, which is how a cluster
	// rotates keys. nil means an empty keyring (see Memberlist.Keyring). Default nil.
	Keyring *Keyring

	// GossipVerifyIncoming, while encryption is on, drops input that is not encrypted with an
	// installed key. Turn it off (with GossipVerifyOutgoing) to move a running plaintext
	// cluster to encryption member by member; see Memberlist.SetGossipVerify. Default true.
	GossipVerifyIncoming bool

	// GossipVerifyOutgoing, while encryption is on, encrypts all output. Default true.
	GossipVerifyOutgoing bool

	// CIDRsAllowed, if not empty, lists the networks this member talks to: packets and
	// streams from other addresses are dropped, and members advertising other addresses are
	// not admitted. Build it with ParseCIDRs. Default nil (everyone).
	CIDRsAllowed []netip.Prefix

	// Delegate provides metadata, user messages, user broadcasts and push/pull user state.
	// Optional.
	Delegate Delegate
	// Events receives join, leave and update notifications, in order, off the protocol loop.
	// Optional.
	Events EventDelegate
	// Conflict is told when another member claims this member's name at another address.
	// Optional.
	Conflict ConflictDelegate
	// Merge may veto a join or a push/pull merge. Optional.
	Merge MergeDelegate
	// Alive may veto alive messages about other members. Optional.
	Alive AliveDelegate
	// Ping supplies ack payloads and learns round-trip times. Optional.
	Ping PingDelegate

	// AllowNameInUse makes Join go on when a member that still answers holds this member's
	// name at another address, as memberlist does: both only hear of it through Conflict
	// (Serf settles such conflicts itself, by a vote). Default false: Join fails with
	// ErrNameInUse.
	AllowNameInUse bool

	// UserMessagesNewestFirst hands the user messages that arrive in one packet to
	// Delegate.NotifyMsg newest first, as memberlist's last-in-first-out handoff queue does
	// (programs written for memberlist, Serf's tests among them, depend on the order).
	// Default false: in the order they were sent.
	UserMessagesNewestFirst bool

	// Transport carries packets and streams. nil means the default UDP/TCP transport bound to
	// BindAddr:BindPort.
	Transport Transport

	// Logger receives structured logs. nil discards them.
	Logger *slog.Logger

	// Metrics receives counters, gauges and samples of what this member does (metrics.go
	// lists them), each labelled with MetricLabels. nil collects nothing. Default nil.
	Metrics      Metrics
	MetricLabels []Label
}

// Protocol versions this library understands (the PMin and PMax bytes of Vsn).
const (
	ProtocolVersionMin uint8 = 1
	ProtocolVersionMax uint8 = 5
)

// MetaMaxSize is the largest NodeMeta a member may advertise, in bytes (memberlist's limit).
const MetaMaxSize = 512

// DefaultLANConfig returns a configuration tuned for a local area network: timings as
// memberlist's DefaultLANConfig.
func DefaultLANConfig() *Config {
	return &Config{
		BindAddr:                "0.0.0.0",
		BindPort:                7946,
		ProtocolVersion:         2,
		TCPTimeout:              10 * time.Second,
		IndirectChecks:          3,
		RetransmitMult:          4,
		SuspicionMult:           4,
		SuspicionMaxTimeoutMult: 6,
		PushPullInterval:        30 * time.Second,
		ProbeInterval:           1 * time.Second,
		ProbeTimeout:            500 * time.Millisecond,
		AwarenessMaxMultiplier:  8,
		GossipInterval:          200 * time.Millisecond,
		GossipNodes:             3,
		GossipToTheDeadTime:     30 * time.Second,
		FlapHoldDown:            60 * time.Second,
		ReconnectInterval:       10 * time.Second,
		ReconnectTimeout:        6 * time.Hour,
		EnableCompression:       true,
		UDPBufferSize:           1400,
		HandoffQueueDepth:       1024,
		MaxConcurrentStreams:    128,
		MaxPushPullNodes:        1 << 20,
		MaxUserStateSize:        20 << 20,
		MaxStreamMessageSize:    20 << 20,
		GossipVerifyIncoming:    true,
		GossipVerifyOutgoing:    true,
	}
}

// DefaultWANConfig returns a configuration for members spread over a wide area network:
// longer timeouts, as memberlist's DefaultWANConfig.
func DefaultWANConfig() *Config {
	c := DefaultLANConfig()
	c.TCPTimeout = 30 * time.Second
	c.SuspicionMult = 6
	c.PushPullInterval = 60 * time.Second
	c.ProbeTimeout = 3 * time.Second
	c.ProbeInterval = 5 * time.Second
	c.GossipNodes = 4
	c.GossipInterval = 500 * time.Millisecond
	c.GossipToTheDeadTime = 60 * time.Second
	c.FlapHoldDown = 5 * time.Minute
	c.ReconnectInterval = 30 * time.Second
	return c
}

// DefaultLocalConfig returns a configuration for members on one host or a fast local
// network: shorter timeouts, as memberlist's DefaultLocalConfig.
func DefaultLocalConfig() *Config {
	c := DefaultLANConfig()
	c.TCPTimeout = time.Second
	c.IndirectChecks = 1
	c.RetransmitMult = 2
	c.SuspicionMult = 3
	c.PushPullInterval = 15 * time.Second
	c.ProbeTimeout = 200 * time.Millisecond
	c.GossipInterval = 100 * time.Millisecond
	c.GossipToTheDeadTime = 15 * time.Second
	c.ReconnectInterval = 5 * time.Second
	return c
}

// ErrInvalidConfig is wrapped by every error Validate returns.
var ErrInvalidConfig = errors.New("swim: invalid config")

// ConfigError names the Config field that is wrong and why. It wraps ErrInvalidConfig.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("swim: invalid config: %s %s", e.Field, e.Reason)
}

// Unwrap lets errors.Is(err, ErrInvalidConfig) match.
func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

// Validate reports the first problem with c as a *ConfigError, or nil.
func (c *Config) Validate() error {
	bad := func(field, reason string) error { return &ConfigError{Field: field, Reason: reason} }
	switch {
	case c.Name == "":
		return bad("Name", "is empty")
	case len(c.Name) > 255:
		return bad("Name", "is longer than 255 bytes")
	case c.BindPort < 0 || c.BindPort > 65535:
		return bad("BindPort", "is outside 0..65535")
	case c.AdvertisePort < 0 || c.AdvertisePort > 65535:
		return bad("AdvertisePort", "is outside 0..65535")
	case c.ProtocolVersion < ProtocolVersionMin || c.ProtocolVersion > ProtocolVersionMax:
		return bad("ProtocolVersion", fmt.Sprintf("must be in %d..%d", ProtocolVersionMin, ProtocolVersionMax))
	case c.DelegateProtocolMin > c.DelegateProtocolMax:
		return bad("DelegateProtocolMin", "is above DelegateProtocolMax")
	case c.DelegateProtocolVersion < c.DelegateProtocolMin || c.DelegateProtocolVersion > c.DelegateProtocolMax:
		return bad("DelegateProtocolVersion", "is outside DelegateProtocolMin..DelegateProtocolMax")
	case c.TCPTimeout <= 0:
		return bad("TCPTimeout", "must be positive")
	case c.ProbeInterval <= 0:
		return bad("ProbeInterval", "must be positive")
	case c.ProbeTimeout <= 0:
		return bad("ProbeTimeout", "must be positive")
	case c.IndirectChecks < 0:
		return bad("IndirectChecks", "is negative")
	case c.RetransmitMult < 1:
		return bad("RetransmitMult", "must be at least 1")
	case c.SuspicionMult < 1:
		return bad("SuspicionMult", "must be at least 1")
	case c.SuspicionMaxTimeoutMult < 1:
		return bad("SuspicionMaxTimeoutMult", "must be at least 1")
	case c.PushPullInterval < 0:
		return bad("PushPullInterval", "is negative")
	case c.AwarenessMaxMultiplier < 1:
		return bad("AwarenessMaxMultiplier", "must be at least 1")
	case c.GossipInterval < 0:
		return bad("GossipInterval", "is negative")
	case c.GossipInterval > 0 && c.GossipNodes < 1:
		return bad("GossipNodes", "must be at least 1 when GossipInterval is set")
	case c.GossipToTheDeadTime < 0:
		return bad("GossipToTheDeadTime", "is negative")
	case c.ReconnectInterval < 0:
		return bad("ReconnectInterval", "is negative")
	case c.ReconnectTimeout < 0:
		return bad("ReconnectTimeout", "is negative")
	case c.UDPBufferSize < 576 || c.UDPBufferSize > 65000:
		return bad("UDPBufferSize", "must be in 576..65000")
	case c.HandoffQueueDepth < 1:
		return bad("HandoffQueueDepth", "must be at least 1")
	case c.MaxConcurrentStreams < 1:
		return bad("MaxConcurrentStreams", "must be at least 1")
	case c.MaxPushPullNodes < 1:
		return bad("MaxPushPullNodes", "must be at least 1")
	case c.MaxUserStateSize < 0:
		return bad("MaxUserStateSize", "is negative")
	case c.MaxStreamMessageSize < 1024:
		return bad("MaxStreamMessageSize", "must be at least 1024")
	case len(c.Label) > 255:
		return bad("Label", "is longer than 255 bytes")
	}
	if len(c.SecretKey) > 0 {
		if err := ValidateKey(c.SecretKey); err != nil {
			return bad("SecretKey", "must be 16, 24 or 32 bytes")
		}
	}
	if c.AdvertiseAddr != "" {
		if _, err := netip.ParseAddr(c.AdvertiseAddr); err != nil {
			return bad("AdvertiseAddr", "is not an IP address")
		}
	}
	return nil
}
