package main

// The two libraries behind one interface, each on its default UDP/TCP transport, with what
// it sends counted (swim's from its metrics, memberlist's by wrapping its transport), and
// events and logs feeding the tally.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/hashicorp/go-metrics"
	"github.com/hashicorp/memberlist"

	"github.com/swim-go/swim"
)

// member is one running member of either library.
type member interface {
	Addr() string
	Join(seed string) error
	Kill() // stop without a word, as a crashed process
	// States returns the members in this member's view (what Members() returns), each
	// "alive" or "suspect" as its table holds it.
	States() map[string]string
}

// library starts members of one implementation, each bound to (and dialing from) ip.
type library struct {
	name  string
	start func(name, ip string, t *tally) (member, error)
}

var libraries = []library{{"swim", startSwim}, {"memberlist", startMemberlist}}

// ---- swim ----

type swimMember struct{ m *swim.Memberlist }

func (s swimMember) Addr() string { return s.m.LocalNode().Address() }
func (s swimMember) Join(seed string) error {
	_, err := s.m.Join([]string{seed})
	return err
}
func (s swimMember) Kill() { s.m.Shutdown() }
func (s swimMember) States() map[string]string {
	out := map[string]string{}
	for _, n := range s.m.Members() {
		out[n.Name] = n.State.String()
	}
	return out
}

// swimEvents feeds a swim member's events to the tally.
type swimEvents struct {
	self string
	t    *tally
}

func (e swimEvents) NotifyJoin(n swim.Node) { e.t.join(e.self, n.Name) }
func (e swimEvents) NotifyUpdate(swim.Node) {}
func (e swimEvents) NotifyLeave(n swim.Node) {
	if n.HeldOut {
		e.t.heldOut(e.self, n.Name)
		return
	}
	e.t.leave(e.self, n.Name, n.State == swim.StateDead)
}

// swimLog counts the suspicions a swim member originates and the ones that run out.
type swimLog struct {
	t    *tally
	self string
}

func (h swimLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (h swimLog) Handle(_ context.Context, r slog.Record) error {
	var peer string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "peer" {
			peer = a.Value.String()
		}
		return true
	})
	switch r.Message {
	case "suspecting member: no ack":
		h.t.suspected(h.self, peer)
	case "suspect declared dead":
		h.t.timedOut(peer)
	}
	return nil
}
func (h swimLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h swimLog) WithGroup(string) slog.Handler      { return h }

// swimCounters counts what a swim member sends, and its suspect observations, from its
// metrics: so swim runs on the transport it makes itself, as a program that sets no
// Config.Transport does.
type swimCounters struct{ t *tally }

func (s swimCounters) IncrCounter(name string, v float64, _ []swim.Label) {
	switch name {
	case swim.MetricMemberSuspect:
		s.t.suspectObs.Add(1)
	case swim.MetricPacketSent:
		s.t.packets.Add(1)
		s.t.bytes.Add(int64(v))
	case swim.MetricStreamSent:
		s.t.streamBytes.Add(int64(v))
	}
}
func (swimCounters) SetGauge(string, float64, []swim.Label)  {}
func (swimCounters) AddSample(string, float64, []swim.Label) {}

func startSwim(name, ip string, t *tally) (member, error) {
	c := swim.DefaultLocalConfig()
	c.Name = name
	c.BindAddr, c.BindPort = ip, 0
	c.Events = swimEvents{name, t}
	c.Logger = slog.New(swimLog{t, name})
	c.Metrics = swimCounters{t}
	m, err := swim.Create(c)
	if err != nil {
		return nil, err
	}
	return swimMember{m}, nil
}

// ---- memberlist ----

type mlMember struct{ m *memberlist.Memberlist }

func (s mlMember) Addr() string { return s.m.LocalNode().Address() }
func (s mlMember) Join(seed string) error {
	_, err := s.m.Join([]string{seed})
	return err
}
func (s mlMember) Kill() { s.m.Shutdown() }

// mlNodeState mirrors memberlist v0.7.0's unexported nodeState, whose first field is the Node
// that Members() and LocalNode() point into: memberlist keeps a member's state in the
// nodeState field and never sets Node.State, so this is the only way to see a suspect. The
// reads race with memberlist's writes, which a benchmark sampling the state can live with;
// checkMirror makes sure the layout still matches.
type mlNodeState struct {
	memberlist.Node
	Incarnation uint32
	State       memberlist.NodeStateType
	StateChange time.Time
}

func mirror(n *memberlist.Node) *mlNodeState { return (*mlNodeState)(unsafe.Pointer(n)) }

// checkMirror fails unless a member just started reads as alive, with a state change in the
// last minute: a changed layout would read garbage there.
func checkMirror(m *memberlist.Memberlist) error {
	st := mirror(m.LocalNode())
	if st.State != memberlist.StateAlive || time.Since(st.StateChange) < 0 || time.Since(st.StateChange) > time.Minute {
		return fmt.Errorf("memberlist's nodeState layout is not v0.7.0's: state %v, changed %v", st.State, st.StateChange)
	}
	return nil
}

func (s mlMember) States() map[string]string {
	out := map[string]string{}
	for _, n := range s.m.Members() {
		if mirror(n).State == memberlist.StateSuspect {
			out[n.Name] = "suspect"
		} else {
			out[n.Name] = "alive"
		}
	}
	return out
}

// mlEvents feeds a memberlist member's events to the tally.
type mlEvents struct {
	self string
	t    *tally
}

func (e mlEvents) NotifyJoin(n *memberlist.Node) { e.t.join(e.self, n.Name) }
func (e mlEvents) NotifyUpdate(*memberlist.Node) {}

// NotifyLeave counts every leave as a death: the benchmark has no graceful leaves, and
// memberlist's Node.State is not updated before this call.
func (e mlEvents) NotifyLeave(n *memberlist.Node) { e.t.leave(e.self, n.Name, true) }

// mlLog counts, from memberlist's log lines, the suspicions member self originates
// ("Suspect X has failed, no acks received") and the ones that run out ("Marking X as
// failed, suspect timeout reached").
func mlLog(t *tally, self string) io.Writer {
	r, w := io.Pipe()
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			line := sc.Text()
			if i := strings.Index(line, "memberlist: Suspect "); i >= 0 && strings.Contains(line, "has failed, no acks received") {
				t.suspected(self, strings.Fields(line[i+len("memberlist: Suspect "):])[0])
			} else if i := strings.Index(line, "memberlist: Marking "); i >= 0 && strings.Contains(line, "suspect timeout reached") {
				t.timedOut(strings.Fields(line[i+len("memberlist: Marking "):])[0])
			}
		}
	}()
	return w
}

// mlCounted is memberlist's transport, counting what it sends.
type mlCounted struct {
	*memberlist.NetTransport
	t       *tally
	streams chan net.Conn
	dialer  net.Dialer // from the member's own address, as memberlist's transport does not
}

func (c *mlCounted) WriteTo(b []byte, addr string) (time.Time, error) {
	c.t.packets.Add(1)
	c.t.bytes.Add(int64(len(b)))
	return c.NetTransport.WriteTo(b, addr)
}

// WriteToAddress and DialAddressTimeout are what memberlist actually calls on its own
// transport type (it is node-aware).
func (c *mlCounted) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	c.t.packets.Add(1)
	c.t.bytes.Add(int64(len(b)))
	return c.NetTransport.WriteToAddress(b, a)
}

func (c *mlCounted) DialAddressTimeout(a memberlist.Address, d time.Duration) (net.Conn, error) {
	return c.DialTimeout(a.Addr, d)
}

func (c *mlCounted) DialTimeout(addr string, d time.Duration) (net.Conn, error) {
	dialer := c.dialer
	dialer.Timeout = d
	conn, err := dialer.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return countedConn{conn, c.t}, nil
}

func (c *mlCounted) StreamCh() <-chan net.Conn { return c.streams }

// mlSuspects counts memberlist's suspect observations ("memberlist.msg.suspect", counted
// where a member applies a suspicion) for the cluster running now: go-metrics is global,
// and one cluster runs at a time.
type mlSuspects struct {
	metrics.BlackholeSink
	t atomic.Pointer[tally]
}

var mlSuspectSink = func() *mlSuspects {
	s := &mlSuspects{}
	cfg := metrics.DefaultConfig("")
	cfg.EnableHostname, cfg.EnableRuntimeMetrics = false, false
	if _, err := metrics.NewGlobal(cfg, s); err != nil {
		panic(err)
	}
	return s
}()

func (s *mlSuspects) IncrCounterWithLabels(key []string, _ float32, _ []metrics.Label) {
	if t := s.t.Load(); t != nil && strings.Join(key, ".") == "memberlist.msg.suspect" {
		t.suspectObs.Add(1)
	}
}

func startMemberlist(name, ip string, t *tally) (member, error) {
	mlSuspectSink.t.Store(t)
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
		BindAddrs: []string{ip}, BindPort: 0, Logger: log.New(io.Discard, "", 0)})
	if err != nil {
		return nil, err
	}
	tr := &mlCounted{NetTransport: nt, t: t, streams: make(chan net.Conn),
		dialer: net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}}
	go func() {
		for conn := range nt.StreamCh() {
			tr.streams <- countedConn{conn, t}
		}
	}()
	c := memberlist.DefaultLocalConfig()
	c.Name = name
	c.BindAddr = ip
	c.BindPort = nt.GetAutoBindPort()
	c.Transport = tr
	c.Events = mlEvents{name, t}
	c.LogOutput = mlLog(t, name)
	m, err := memberlist.Create(c)
	if err != nil {
		nt.Shutdown()
		return nil, err
	}
	if err := checkMirror(m); err != nil {
		m.Shutdown()
		return nil, err
	}
	return mlMember{m}, nil
}
