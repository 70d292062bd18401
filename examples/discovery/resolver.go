package main

// The client side of service discovery: a Resolver follows membership events and keeps, per
// service, the endpoints of the members that advertise it. It never polls: join and update
// events add or change an endpoint, leave events (a failure or a graceful leave) remove it.

import (
	"cmp"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sync"

	"github.com/swim-go/swim"
)

// Service is what an instance advertises in its metadata.
type Service struct {
	Name    string // the service, e.g. "api"
	Addr    string // where clients reach it, host:port
	Version string // what it runs, e.g. "1.4.2"
}

// errNoService marks metadata that advertises no service (a client-only member, say).
var errNoService = errors.New("no service advertised")

// encodeService packs s into node metadata: a sorted query string, compact and readable.
func encodeService(s Service) ([]byte, error) {
	if s.Name == "" {
		return nil, nil
	}
	b := []byte(url.Values{"s": {s.Name}, "a": {s.Addr}, "v": {s.Version}}.Encode())
	if len(b) > swim.MetaMaxSize {
		return nil, fmt.Errorf("service metadata is %d bytes, the limit is %d", len(b), swim.MetaMaxSize)
	}
	return b, nil
}

// decodeService unpacks metadata written by encodeService.
func decodeService(meta []byte) (Service, error) {
	if len(meta) == 0 {
		return Service{}, errNoService
	}
	v, err := url.ParseQuery(string(meta))
	if err != nil {
		return Service{}, err
	}
	s := Service{Name: v.Get("s"), Addr: v.Get("a"), Version: v.Get("v")}
	if s.Name == "" {
		return Service{}, errNoService
	}
	return s, nil
}

// Endpoint is one instance of a service, as a client sees it.
type Endpoint struct {
	Node    string `json:"node"`
	Addr    string `json:"addr"`
	Version string `json:"version"`
	// Suspect is set when the member is suspected of having failed: still listed (it may be
	// fine) but best avoided.
	Suspect bool `json:"suspect,omitempty"`
}

// Resolver is a swim.EventDelegate that keeps the endpoints of every service. It is safe for
// concurrent use.
type Resolver struct {
	mu     sync.RWMutex
	byNode map[string]Service // the service each member advertises
}

// NewResolver returns an empty resolver; pass it as Config.Events.
func NewResolver() *Resolver { return &Resolver{byNode: make(map[string]Service)} }

// NotifyJoin adds the member's endpoint, if it advertises a service.
func (r *Resolver) NotifyJoin(n swim.Node) { r.set(n) }

// NotifyUpdate replaces the member's endpoint: a new version, a new address, or no service.
func (r *Resolver) NotifyUpdate(n swim.Node) { r.set(n) }

// NotifyLeave removes the member's endpoint, whether it failed or left.
func (r *Resolver) NotifyLeave(n swim.Node) {
	r.mu.Lock()
	delete(r.byNode, n.Name)
	r.mu.Unlock()
}

func (r *Resolver) set(n swim.Node) {
	s, err := decodeService(n.Meta)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		delete(r.byNode, n.Name)
		return
	}
	r.byNode[n.Name] = s
}

// Services returns every service's endpoints, sorted by node name. Members named in suspect
// are marked as such.
func (r *Resolver) Services(suspect map[string]bool) map[string][]Endpoint {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make(map[string][]Endpoint)
	for node, s := range r.byNode {
		out[s.Name] = append(out[s.Name], Endpoint{Node: node, Addr: s.Addr, Version: s.Version, Suspect: suspect[node]})
	}
	for _, eps := range out {
		slices.SortFunc(eps, func(a, b Endpoint) int { return cmp.Compare(a.Node, b.Node) })
	}
	return out
}

// Healthy returns the endpoints of one service that are not suspected, sorted by node name.
func (r *Resolver) Healthy(service string, suspect map[string]bool) []Endpoint {
	var out []Endpoint
	for _, e := range r.Services(suspect)[service] {
		if !e.Suspect {
			out = append(out, e)
		}
	}
	return out
}

// suspects lists the members m currently suspects. Suspicion has no event of its own (it is
// usually refuted within seconds), so it is read from the member list when asked.
func suspects(m *swim.Memberlist) map[string]bool {
	out := map[string]bool{}
	for _, n := range m.Members() {
		if n.State == swim.StateSuspect {
			out[n.Name] = true
		}
	}
	return out
}
