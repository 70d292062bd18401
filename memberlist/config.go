package memberlist

import (
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"time"

	"github.com/hashicorp/go-metrics"
)

// Config is memberlist's configuration, field for field. Start from DefaultLANConfig,
// DefaultWANConfig or DefaultLocalConfig. The Memberlist keeps the *Config it was created with
// and reads the delegates from it when it calls them, as memberlist does; the timings and
// sizes are read once, at Create.
type Config struct {
	// Name is this member's name, unique in the cluster. Default: the host name.
	Name string

	// Transport carries packets and streams. nil means a NetTransport on BindAddr:BindPort.
	Transport Transport

	// Label isolates clusters that share a network: it goes ahead of every packet and
	// stream, and traffic with another label is dropped. At most LabelMaxSize bytes.
	Label string
	// SkipInboundLabelCheck accepts unlabelled traffic as if it carried Label.
	SkipInboundLabelCheck bool

	// BindAddr and BindPort are where the default transport listens (UDP and TCP). Port 0
	// picks a free one, written back here by Create.
	BindAddr string
	BindPort int

	// AdvertiseAddr and AdvertisePort are the address others reach this member at. With
	// AdvertiseAddr empty the bound address and port are used, whatever AdvertisePort says.
	AdvertiseAddr string
	AdvertisePort int

	// ProtocolVersion is the protocol version spoken, ProtocolVersionMin..ProtocolVersionMax.
	ProtocolVersion uint8

	// TCPTimeout bounds each stream exchange (push/pull, reliable message, stream ping).
	TCPTimeout time.Duration

	// IndirectChecks is how many members are asked to ping a target that missed its direct
	// ping.
	IndirectChecks int

	// RetransmitMult scales how often each broadcast is sent: RetransmitMult *
	// ceil(log10(n+1)) times. Deaths and leaves are sent more often (see swim's
	// Config.RetransmitMult).
	RetransmitMult int

	// SuspicionMult scales the time a suspect has to refute before it is declared dead:
	// SuspicionMult * log10(max(1, n)) * ProbeInterval at least.
	SuspicionMult int

	// SuspicionMaxTimeoutMult is how many times that minimum a suspicion starts at, before
	// independent confirmations shorten it.
	SuspicionMaxTimeoutMult int

	// PushPullInterval is how often a member exchanges its full state with a random other
	// member; 0 turns periodic push/pull off.
	PushPullInterval time.Duration

	// ProbeInterval is the time between probes; ProbeTimeout how long to wait for a direct
	// ack before asking other members to help. A ProbeTimeout at or above ProbeInterval
	// leaves no time for that.
	ProbeInterval time.Duration
	ProbeTimeout  time.Duration

	// DisableTcpPings turns off the stream ping tried alongside indirect pings;
	// DisableTcpPingsForNode turns it off for the members it returns true for.
	DisableTcpPings        bool
	DisableTcpPingsForNode func(nodeName string) bool

	// AwarenessMaxMultiplier caps Lifeguard's local health score, which stretches probe
	// timings while this member seems to be the one in trouble.
	AwarenessMaxMultiplier int

	// GossipInterval is how often queued broadcasts go to GossipNodes random members (0
	// turns the gossip timer off); GossipToTheDeadTime is how long dead members are still
	// gossiped to, so they can refute.
	GossipInterval      time.Duration
	GossipNodes         int
	GossipToTheDeadTime time.Duration

	// GossipVerifyIncoming and GossipVerifyOutgoing, while encryption is on, refuse
	// plaintext input and encrypt all output; turn them off to move a running cluster to
	// encryption.
	GossipVerifyIncoming bool
	GossipVerifyOutgoing bool

	// EnableCompression compresses packets and streams when that makes them smaller.
	EnableCompression bool

	// SecretKey, if set, becomes the primary key: of a new Keyring stored in Keyring if that
	// is nil, or of Keyring. 16, 24 or 32 bytes.
	SecretKey []byte
	// Keyring holds the encryption keys. It may change while the member runs.
	Keyring *Keyring

	// The delegates; each is optional.
	Delegate                Delegate
	DelegateProtocolVersion uint8
	DelegateProtocolMin     uint8
	DelegateProtocolMax     uint8
	Events                  EventDelegate
	Conflict                ConflictDelegate
	Merge                   MergeDelegate
	Ping                    PingDelegate
	Alive                   AliveDelegate

	// DNSConfigPath is the resolver configuration memberlist reads to look up join
	// addresses over TCP DNS. This package resolves them with the system resolver, which
	// reads the same file on Unix and returns every address of a name; the field is kept so
	// configurations carry over.
	DNSConfigPath string

	// LogOutput or Logger (not both) receive log lines in memberlist's format,
	// "[LEVEL] memberlist: message key=value ...". Neither means standard error.
	LogOutput io.Writer
	Logger    *log.Logger

	// HandoffQueueDepth bounds the received packets waiting for the protocol; more are
	// dropped.
	HandoffQueueDepth int

	// UDPBufferSize is the largest packet built, in bytes. swim needs 576..65000; values
	// outside are brought into that range.
	UDPBufferSize int

	// DeadNodeReclaimTime is how long after a member is declared dead another address may
	// take its name. 0 means never, as in memberlist.
	DeadNodeReclaimTime time.Duration

	// RequireNodeNames makes sends to an Address without a Name fail.
	RequireNodeNames bool

	// CIDRsAllowed, if not nil, lists the networks members may be in; see ParseCIDRs.
	CIDRsAllowed []net.IPNet

	// MetricLabels go with every metric this member reports through go-metrics.
	MetricLabels []metrics.Label

	// QueueCheckInterval is how often the broadcast queue's depth is reported as the
	// memberlist.queue.broadcasts metric.
	QueueCheckInterval time.Duration

	// MsgpackUseNewTimeFormat selects msgpack's time encoding in memberlist. No message of
	// the protocol carries a time, so it changes nothing on the wire; it is kept so
	// configurations carry over.
	MsgpackUseNewTimeFormat bool
}

// DefaultLANConfig returns memberlist's configuration for a local network.
func DefaultLANConfig() *Config {
	hostname, _ := os.Hostname()
	return &Config{
		Name:                    hostname,
		BindAddr:                "0.0.0.0",
		BindPort:                7946,
		AdvertisePort:           7946,
		ProtocolVersion:         ProtocolVersion2Compatible,
		TCPTimeout:              10 * time.Second,
		IndirectChecks:          3,
		RetransmitMult:          4,
		SuspicionMult:           4,
		SuspicionMaxTimeoutMult: 6,
		PushPullInterval:        30 * time.Second,
		ProbeTimeout:            500 * time.Millisecond,
		ProbeInterval:           time.Second,
		AwarenessMaxMultiplier:  8,
		GossipNodes:             3,
		GossipInterval:          200 * time.Millisecond,
		GossipToTheDeadTime:     30 * time.Second,
		GossipVerifyIncoming:    true,
		GossipVerifyOutgoing:    true,
		EnableCompression:       true,
		DNSConfigPath:           "/etc/resolv.conf",
		HandoffQueueDepth:       1024,
		UDPBufferSize:           1400,
		QueueCheckInterval:      30 * time.Second,
	}
}

// DefaultWANConfig returns memberlist's configuration for members far apart.
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
	return c
}

// DefaultLocalConfig returns memberlist's configuration for members on one host or a fast,
// reliable network.
func DefaultLocalConfig() *Config {
	c := DefaultLANConfig()
	c.TCPTimeout = time.Second
	c.IndirectChecks = 1
	c.RetransmitMult = 2
	c.SuspicionMult = 3
	c.PushPullInterval = 15 * time.Second
	c.ProbeTimeout = 200 * time.Millisecond
	c.ProbeInterval = time.Second
	c.GossipInterval = 100 * time.Millisecond
	c.GossipToTheDeadTime = 15 * time.Second
	return c
}

// EncryptionEnabled says whether the keyring holds a key.
func (c *Config) EncryptionEnabled() bool {
	return c.Keyring != nil && len(c.Keyring.GetKeys()) > 0
}

// BuildVsnArray returns the versions this member advertises: the protocol range and the
// version spoken, then the same for the delegate.
func (c *Config) BuildVsnArray() []uint8 {
	return []uint8{ProtocolVersionMin, ProtocolVersionMax, c.ProtocolVersion,
		c.DelegateProtocolMin, c.DelegateProtocolMax, c.DelegateProtocolVersion}
}

// IPMustBeChecked says whether CIDRsAllowed restricts who may talk to this member.
func (c *Config) IPMustBeChecked() bool { return len(c.CIDRsAllowed) > 0 }

// IPAllowed returns an error unless ip is in one of CIDRsAllowed (or there are none).
func (c *Config) IPAllowed(ip net.IP) error {
	if !c.IPMustBeChecked() {
		return nil
	}
	for _, n := range c.CIDRsAllowed {
		if n.Contains(ip) {
			return nil
		}
	}
	return fmt.Errorf("%s is not allowed", ip)
}
