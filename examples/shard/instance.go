package main

// An instance is one shard server: an HTTP listener, opened first because its address goes
// into the member's metadata; a swim member whose events feed a ring; the server answering
// on the listener from that ring; and the rebalancing loop. It ends in one of two ways:
// crash (the member stops without a word and the listener closes under its clients) or stop
// (the member leaves, hands its keys to their new replicas, and only then shuts down).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/swim-go/swim"
	"github.com/swim-go/swim/ring"
)

// options say how to start an instance.
type options struct {
	name     string
	bindAddr string   // membership protocol address
	bindPort int      // membership protocol port; 0 picks one
	httpAddr string   // HTTP listen address, advertised as is; port 0 picks one
	join     []string // membership addresses to join; none starts a cluster
	log      *slog.Logger
	tune     func(*swim.Config) // changes to DefaultLocalConfig (the test shortens its timings)
}

type instance struct {
	*server
	m        *swim.Memberlist
	httpAddr string
	http     *http.Server
	cancel   context.CancelFunc // stops the rebalancing loop
	loopDone chan struct{}
}

// httpMeta is the member's Delegate: its metadata is its HTTP address, nothing else.
type httpMeta struct{ addr string }

func (d httpMeta) NodeMeta(int) []byte           { return []byte(d.addr) }
func (httpMeta) NotifyMsg([]byte)                {}
func (httpMeta) GetBroadcasts(int, int) [][]byte { return nil }
func (httpMeta) LocalState(bool) []byte          { return nil }
func (httpMeta) MergeRemoteState([]byte, bool)   {}

func startInstance(o options) (*instance, error) {
	ln, err := net.Listen("tcp", o.httpAddr)
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().(*net.TCPAddr)
	if addr.IP.IsUnspecified() {
		ln.Close()
		return nil, fmt.Errorf("the HTTP address %s is advertised to the other instances: name a host they can reach", o.httpAddr)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	r := ring.New(ring.Config{})
	cfg := swim.DefaultLocalConfig()
	cfg.Name = o.name
	cfg.BindAddr = o.bindAddr
	cfg.BindPort = o.bindPort
	cfg.Delegate = httpMeta{addr.String()}
	cfg.Events = r
	cfg.Logger = o.log
	if o.tune != nil {
		o.tune(cfg)
	}
	m, err := swim.Create(cfg)
	if err != nil {
		ln.Close()
		return nil, err
	}
	s := newServer(o.name, r, o.log)
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{
		server:   s,
		m:        m,
		httpAddr: addr.String(),
		http:     &http.Server{Handler: s.handler(), ReadHeaderTimeout: 5 * time.Second},
		cancel:   cancel,
		loopDone: make(chan struct{}),
	}
	go func() {
		if err := in.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server", "err", err)
		}
	}()
	go func() {
		defer close(in.loopDone)
		s.rebalanceLoop(ctx)
	}()
	if len(o.join) > 0 {
		if _, err := m.Join(o.join); err != nil {
			in.crash()
			return nil, fmt.Errorf("join: %w", err)
		}
	}
	return in, nil
}

// memberAddr is where other instances join this one.
func (in *instance) memberAddr() string { return in.m.LocalNode().Address() }

// crash stops the instance as a crash would: no leave message, connections cut.
func (in *instance) crash() {
	in.m.Shutdown()
	in.http.Close()
	in.cancel()
	<-in.loopDone
}

// stop leaves the cluster gracefully. Once it has left, its own ring no longer holds it, so
// its rebalancing loop hands every key it holds to the key's replicas; stop waits up to
// drain for that, still answering requests from members that have not heard, then shuts
// down. The last member has nobody to hand to: its ring is empty, and it does not wait. It
// returns how many keys it handed off meanwhile.
func (in *instance) stop(drain time.Duration) (uint64, error) {
	before := in.stats.handedOff.Load()
	err := in.m.Leave(5 * time.Second)
	deadline := time.Now().Add(drain)
	for in.store.len() > 0 && in.ring.Len() > 0 && time.Now().Before(deadline) {
		time.Sleep(rebalanceTick)
	}
	in.m.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	in.http.Shutdown(ctx)
	in.cancel()
	<-in.loopDone
	return in.stats.handedOff.Load() - before, err
}
