package main

// The two libraries behind one interface, each on its default UDP/TCP transport wrapped to
// count what it sends, with events and logs feeding the tally.

import (
	"bufio"
	"context"
	"io"
	"log"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-metrics"
	"github.com/hashicorp/memberlist"

	"github.com/swim-go/swim"
)

// member is one running member of either library.
type member interface {
	Addr() string
	Join(seed string) error
	Kill() // stop without a word, as a crashed process
}

// library starts members of one implementation.
type library struct {
	name  string
	start func(name string, t *tally) (member, error)
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

// swimEvents feeds a swim member's events to the tally.
type swimEvents struct {
	self string
	t    *tally
}

func (e swimEvents) NotifyJoin(n swim.Node)  { e.t.join(e.self, n.Name) }
func (e swimEvents) NotifyUpdate(swim.Node)  {}
func (e swimEvents) NotifyLeave(n swim.Node) { e.t.leave(e.self, n.Name, n.State == swim.StateDead) }

// swimLog counts the suspicions a swim member originates and the ones that run out.
type swimLog struct{ t *tally }

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
		h.t.suspected(peer)
	case "suspect declared dead":
		h.t.timedOut(peer)
	}
	return nil
}
func (h swimLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h swimLog) WithGroup(string) slog.Handler      { return h }

// swimCounted is swim's transport, counting what it sends.
type swimCounted struct {
	*swim.NetTransport
	t       *tally
	streams chan net.Conn
}

func (c *swimCounted) WriteTo(b []byte, to netip.AddrPort) (time.Time, error) {
	c.t.packets.Add(1)
	c.t.bytes.Add(int64(len(b)))
	return c.NetTransport.WriteTo(b, to)
}

func (c *swimCounted) DialTimeout(to netip.AddrPort, d time.Duration) (net.Conn, error) {
	conn, err := c.NetTransport.DialTimeout(to, d)
	if err != nil {
		return nil, err
	}
	return countedConn{conn, c.t}, nil
}

func (c *swimCounted) StreamCh() <-chan net.Conn { return c.streams }

// swimSuspects counts a swim member's suspect observations.
type swimSuspects struct{ t *tally }

func (s swimSuspects) IncrCounter(name string, _ float64, _ []swim.Label) {
	if name == swim.MetricMemberSuspect {
		s.t.suspectObs.Add(1)
	}
}
func (swimSuspects) SetGauge(string, float64, []swim.Label)  {}
func (swimSuspects) AddSample(string, float64, []swim.Label) {}

func startSwim(name string, t *tally) (member, error) {
	nt, err := swim.NewNetTransport("127.0.0.1", 0, 1024, nil)
	if err != nil {
		return nil, err
	}
	tr := &swimCounted{NetTransport: nt, t: t, streams: make(chan net.Conn)}
	go func() {
		for conn := range nt.StreamCh() {
			tr.streams <- countedConn{conn, t}
		}
	}()
	c := swim.DefaultLocalConfig()
	c.Name = name
	c.Transport = tr
	c.Events = swimEvents{name, t}
	c.Logger = slog.New(swimLog{t})
	c.Metrics = swimSuspects{t}
	m, err := swim.Create(c)
	if err != nil {
		nt.Shutdown()
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

// mlLog counts, from memberlist's log lines, the suspicions a member originates
// ("Suspect X has failed, no acks received") and the ones that run out ("Marking X as
// failed, suspect timeout reached").
func mlLog(t *tally) io.Writer {
	r, w := io.Pipe()
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			line := sc.Text()
			if i := strings.Index(line, "memberlist: Suspect "); i >= 0 && strings.Contains(line, "has failed, no acks received") {
				t.suspected(strings.Fields(line[i+len("memberlist: Suspect "):])[0])
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
	conn, err := c.NetTransport.DialAddressTimeout(a, d)
	if err != nil {
		return nil, err
	}
	return countedConn{conn, c.t}, nil
}

func (c *mlCounted) DialTimeout(addr string, d time.Duration) (net.Conn, error) {
	conn, err := c.NetTransport.DialTimeout(addr, d)
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

func startMemberlist(name string, t *tally) (member, error) {
	mlSuspectSink.t.Store(t)
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
		BindAddrs: []string{"127.0.0.1"}, BindPort: 0, Logger: log.New(io.Discard, "", 0)})
	if err != nil {
		return nil, err
	}
	tr := &mlCounted{NetTransport: nt, t: t, streams: make(chan net.Conn)}
	go func() {
		for conn := range nt.StreamCh() {
			tr.streams <- countedConn{conn, t}
		}
	}()
	c := memberlist.DefaultLocalConfig()
	c.Name = name
	c.BindAddr = "127.0.0.1"
	c.BindPort = nt.GetAutoBindPort()
	c.Transport = tr
	c.Events = mlEvents{name, t}
	c.LogOutput = mlLog(t)
	m, err := memberlist.Create(c)
	if err != nil {
		nt.Shutdown()
		return nil, err
	}
	return mlMember{m}, nil
}
