package swim

// The public API: Create a member, Join a cluster, read Members, send messages, Leave,
// Shutdown. Every call is a request to the member's protocol loop (loop.go) or a read of the
// snapshot the loop publishes, so none of them touches protocol state directly, and all of
// them are safe to call from event callbacks.

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Memberlist is a running member of a cluster.
type Memberlist struct {
	cfg       *Config
	log       *slog.Logger
	transport Transport
	core      *core // owned by whoever holds coreMu (see drive)
	coreMu    sync.Mutex
	loopEnded bool          // under coreMu
	driver    atomic.Uint64 // the goroutine holding coreMu, 0 when none (if syncDelegates)
	// syncDelegates says the Config has delegates that run inside the core's step
	// (Delegate, Alive, Merge, Ping), which could call back into the API.
	syncDelegates bool
	timer         *time.Timer
	armedAt       time.Time // the timer's deadline, zero when stopped; under coreMu

	reqs     chan func()
	stop     chan struct{}
	loopDone chan struct{}
	stopped  atomic.Bool
	stopOnce sync.Once

	view   atomic.Pointer[view]
	health atomic.Int32 // the core's health score, as of the last input

	// under coreMu
	waiters   map[uint64]chan apiDone
	nextToken uint64
	published uint64

	streamSlots chan struct{}
	streams     sync.WaitGroup
	connMu      sync.Mutex
	conns       map[net.Conn]struct{}

	events dispatcher
}

// view is what Members() reads: immutable once published.
type view struct {
	members []Node
	local   Node
}

// Create starts a member with the given configuration. It does not join anyone: call Join.
func Create(conf *Config) (*Memberlist, error) {
	if conf == nil {
		return nil, &ConfigError{Field: "Config", Reason: "is nil"}
	}
	if err := conf.Validate(); err != nil {
		return nil, err
	}
	log := conf.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := conf.Transport
	if t == nil {
		nt, err := NewNetTransport(conf.BindAddr, conf.BindPort, conf.HandoffQueueDepth, log)
		if err != nil {
			return nil, err
		}
		t = nt
	}
	addr, port, err := t.FinalAdvertiseAddr(conf.AdvertiseAddr, conf.AdvertisePort)
	if err != nil {
		t.Shutdown()
		return nil, err
	}
	var meta []byte
	if conf.Delegate != nil {
		meta = conf.Delegate.NodeMeta(MetaMaxSize)
		if len(meta) > MetaMaxSize {
			t.Shutdown()
			return nil, fmt.Errorf("%w: NodeMeta returned %d bytes, the limit is %d", ErrMessageTooLarge, len(meta), MetaMaxSize)
		}
	}
	var seed [16]byte
	crand.Read(seed[:])
	rng := rand.New(rand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:])))

	cfg := *conf
	if cfg.Keyring, err = buildKeyring(conf); err != nil {
		t.Shutdown()
		return nil, err
	}
	m := &Memberlist{
		cfg:         &cfg,
		log:         log,
		transport:   t,
		reqs:        make(chan func()),
		stop:        make(chan struct{}),
		loopDone:    make(chan struct{}),
		waiters:     make(map[uint64]chan apiDone),
		streamSlots: make(chan struct{}, cfg.MaxConcurrentStreams),
		conns:       make(map[net.Conn]struct{}),
	}
	m.core = newCore(m.cfg, addr, uint16(port), meta, rng, func(b []byte) { crand.Read(b) }, log)
	m.core.start(time.Now())
	m.events.start(m.cfg)
	m.drain() // this member's own join event
	m.syncDelegates = cfg.Delegate != nil || cfg.Alive != nil || cfg.Merge != nil || cfg.Ping != nil
	m.timer = time.NewTimer(time.Hour)
	m.armTimer()
	go m.loop()
	if nt, ok := t.(*NetTransport); ok {
		nt.handOff(m.handlePacket, m.accept)
	}
	return m, nil
}

// Join contacts the given members (host:port, or a bare host with BindPort, each optionally
// preceded by the member's name and a slash, "name/host:port", as memberlist accepts; the name
// is given to a NodeAwareTransport) and exchanges state with each; it returns how many it
// reached. Join returns once the exchanges are done,
// possibly before NotifyJoin has run for the members learnt: events are asynchronous.
func (m *Memberlist) Join(existing []string) (int, error) {
	return m.JoinContext(context.Background(), existing)
}

// JoinContext is Join with a context: cancelling it returns ctx.Err() at once.
func (m *Memberlist) JoinContext(ctx context.Context, existing []string) (int, error) {
	if m.stopped.Load() {
		return 0, ErrNotRunning
	}
	var seeds []seed
	var errs []error
	for _, s := range existing {
		var name string
		if i := strings.Index(s, "/"); i >= 0 {
			name, s = s[:i], s[i+1:]
		}
		addrs, err := m.resolve(ctx, s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, a := range addrs {
			seeds = append(seeds, seed{addr: a, name: name})
		}
	}
	if len(seeds) == 0 {
		if len(errs) == 0 {
			return 0, ErrNoSeeds
		}
		return 0, fmt.Errorf("%w: %w", ErrJoinFailed, errors.Join(errs...))
	}
	d, err := m.call(ctx, func(token uint64) { m.core.join(time.Now(), seeds, token) })
	if err != nil {
		return 0, err
	}
	return d.n, d.err
}

// resolve turns one join address into the addresses to try.
func (m *Memberlist) resolve(ctx context.Context, s string) ([]netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return []netip.AddrPort{netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}, nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return []netip.AddrPort{netip.AddrPortFrom(a.Unmap(), uint16(m.cfg.BindPort))}, nil
	}
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		host, portStr = s, strconv.Itoa(m.cfg.BindPort)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("swim: join address %q: bad port", s)
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("swim: join address %q: %w", s, err)
	}
	out := make([]netip.AddrPort, 0, len(ips))
	for _, ip := range ips {
		out = append(out, netip.AddrPortFrom(ip.Unmap(), uint16(port)))
	}
	return out, nil
}

// Members returns the members this one knows as alive or suspect (State says which),
// itself included. The slice is a fresh copy; it never waits on the protocol.
func (m *Memberlist) Members() []Node {
	return append([]Node(nil), m.view.Load().members...)
}

// NumMembers returns len(Members()) without copying.
func (m *Memberlist) NumMembers() int { return len(m.view.Load().members) }

// LocalNode returns this member as the cluster sees it.
func (m *Memberlist) LocalNode() Node { return m.view.Load().local }

// UpdateNode reads Delegate.NodeMeta again and announces it, waiting up to timeout for the
// announcement to be disseminated; a timeout <= 0 waits as long as that takes, as in
// memberlist. It returns ErrLeft after Leave and ErrNotRunning after Shutdown, and may be
// called from a callback.
func (m *Memberlist) UpdateNode(timeout time.Duration) error {
	var meta []byte
	if m.cfg.Delegate != nil {
		meta = m.cfg.Delegate.NodeMeta(MetaMaxSize)
	}
	if len(meta) > MetaMaxSize {
		return fmt.Errorf("%w: NodeMeta returned %d bytes, the limit is %d", ErrMessageTooLarge, len(meta), MetaMaxSize)
	}
	return m.waitFor(timeout, func(token uint64) { m.core.updateMeta(time.Now(), meta, token) })
}

// Leave announces that this member is leaving and waits up to timeout for the announcement
// to be disseminated; a timeout <= 0 waits as long as that takes, as in memberlist. The
// member keeps running (answering probes) until Shutdown. A second Leave returns nil at
// once; after Shutdown it returns ErrNotRunning. It may be called from a callback.
func (m *Memberlist) Leave(timeout time.Duration) error {
	return m.waitFor(timeout, func(token uint64) { m.core.leave(time.Now(), token) })
}

// waitFor runs an announcing call and waits for it, mapping the deadline to ErrTimeout; a
// timeout <= 0 means no deadline.
func (m *Memberlist) waitFor(timeout time.Duration, f func(token uint64)) error {
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	d, err := m.call(ctx, f)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w after %v", ErrTimeout, timeout)
	}
	if err != nil {
		return err
	}
	return d.err
}

// SendBestEffort sends msg to one member in a single packet, with no acknowledgement. It
// returns ErrUnknownNode if to is not an alive or suspect member.
func (m *Memberlist) SendBestEffort(to Node, msg []byte) error {
	if len(msg)+1+compoundHeader+compoundPartOverhead > m.cfg.UDPBufferSize {
		return fmt.Errorf("%w: %d bytes do not fit in one %d-byte packet", ErrMessageTooLarge, len(msg), m.cfg.UDPBufferSize)
	}
	msg = append([]byte(nil), msg...)
	d, err := m.call(context.Background(), func(token uint64) { m.core.sendUser(time.Now(), to.AddrPort(), to.Name, msg, false, token) })
	if err != nil {
		return err
	}
	return d.err
}

// SendReliable sends msg to one member over a stream and returns once it was written. It
// returns ErrUnknownNode if to is not an alive or suspect member.
func (m *Memberlist) SendReliable(to Node, msg []byte) error {
	msg = append([]byte(nil), msg...)
	d, err := m.call(context.Background(), func(token uint64) { m.core.sendUser(time.Now(), to.AddrPort(), to.Name, msg, true, token) })
	if err != nil {
		return err
	}
	return d.err
}

// SendToAddress sends msg in one packet to addr, which need not be a member's (memberlist's
// SendToAddress: for replies to a member that is not known yet). name, if not empty, is the
// member there, for a NodeAwareTransport.
func (m *Memberlist) SendToAddress(addr netip.AddrPort, name string, msg []byte) error {
	if len(msg)+1+compoundHeader+compoundPartOverhead > m.cfg.UDPBufferSize {
		return fmt.Errorf("%w: %d bytes do not fit in one %d-byte packet", ErrMessageTooLarge, len(msg), m.cfg.UDPBufferSize)
	}
	d, err := m.call(context.Background(), func(token uint64) { m.core.sendUserTo(time.Now(), addr, name, msg, token) })
	if err != nil {
		return err
	}
	return d.err
}

// Ping sends a ping to the member named name at addr, outside the probe schedule, and returns
// the round-trip time; with no ack within ProbeTimeout it returns ErrNoPingResponse. A member
// answers only pings that carry its own name.
func (m *Memberlist) Ping(name string, addr netip.AddrPort) (time.Duration, error) {
	d, err := m.call(context.Background(), func(token uint64) { m.core.ping(time.Now(), name, addr, token) })
	if err != nil {
		return 0, err
	}
	return d.rtt, d.err
}

// ProtocolVersion returns the memberlist protocol version this member speaks.
func (m *Memberlist) ProtocolVersion() uint8 { return m.cfg.ProtocolVersion }

// buildKeyring returns the keyring a member uses: conf.Keyring or a new empty one, with
// conf.SecretKey installed as its primary key.
func buildKeyring(conf *Config) (*Keyring, error) {
	k := conf.Keyring
	if k == nil {
		k = &Keyring{}
	}
	if len(conf.SecretKey) > 0 {
		if err := k.AddKey(conf.SecretKey); err != nil {
			return nil, err
		}
		if err := k.UseKey(conf.SecretKey); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// Keyring returns the member's keyring. Keys added, made primary or removed take effect at
// once for packets and for streams opened afterwards.
func (m *Memberlist) Keyring() *Keyring { return m.cfg.Keyring }

// SetGossipVerify changes GossipVerifyIncoming and GossipVerifyOutgoing while the member
// runs. Moving a running plaintext cluster to encryption without a partition takes three
// passes over the members, each finished everywhere before the next starts: install the key
// with both off (still plaintext out, either accepted in); turn outgoing on (encrypted out);
// turn incoming on (plaintext refused).
func (m *Memberlist) SetGossipVerify(incoming, outgoing bool) error {
	return m.runOnLoop(func() {
		m.core.setGossipVerify(incoming, outgoing)
	})
}

// Drops returns how many inputs from the network were dropped, by reason, including
// datagrams a transport with a DroppedPackets() uint64 method could not queue
// (HandoffQueueDepth) counted as DropQueueFull.
func (m *Memberlist) Drops() map[DropReason]uint64 {
	var out map[DropReason]uint64
	if m.inDriver() {
		out = m.core.dropCounts() // a delegate asking: this goroutine holds the core already
	} else if err := m.runOnLoop(func() { out = m.core.dropCounts() }); err != nil {
		return nil
	}
	// Datagrams the transport could not hand to the loop never reached the core.
	if t, ok := m.transport.(interface{ DroppedPackets() uint64 }); ok {
		if n := t.DroppedPackets(); n > 0 {
			out[DropQueueFull] += n
		}
	}
	return out
}

// HealthScore returns Lifeguard's local health score: 0 is healthy; higher means this member
// has recently seemed slow and is stretching its probe timeouts. It reads the value the
// protocol loop last published, so it never waits for the loop.
func (m *Memberlist) HealthScore() int { return int(m.health.Load()) }

// WaitEvents waits until every event and user message queued for the application when it
// was called has been delivered (its callback has returned), ctx is done, or the member shut
// down. Membership changes a call such as Join or UpdateNode made are queued by the time the
// call returns, so WaitEvents after it is where their callbacks have run, as they have when
// memberlist's Join returns. Called from an event callback it returns nil at once, since it
// would wait for itself.
func (m *Memberlist) WaitEvents(ctx context.Context) error {
	if m.stopped.Load() {
		return ErrNotRunning
	}
	done := m.events.caughtUp()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-m.stop:
		return ErrNotRunning
	}
}

// Shutdown stops the member without announcing anything (use Leave first to leave
// gracefully), closes the transport and waits for the protocol's goroutines to end. It is
// idempotent and may be called from a callback. Events not yet delivered are dropped; a
// callback still running (or blocked, like a ChannelEventDelegate whose channel nobody
// reads) keeps its goroutine until it returns, and does not delay Shutdown. Called from a
// Delegate (or another delegate that runs inside the protocol), it returns nil at once and
// finishes once that delegate has returned.
func (m *Memberlist) Shutdown() error {
	if m.inDriver() {
		// A delegate inside the protocol's step: the step cannot end while Shutdown waits
		// for it, so the rest happens once the delegate has returned.
		m.stopped.Store(true)
		go m.Shutdown()
		return nil
	}
	var err error
	m.stopOnce.Do(func() {
		m.stopped.Store(true)
		close(m.stop)
		<-m.loopDone
		err = m.transport.Shutdown()
		m.connMu.Lock()
		for c := range m.conns {
			c.Close()
		}
		m.connMu.Unlock()
		m.streams.Wait()
		m.events.close()
	})
	return err
}
