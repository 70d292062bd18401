package main

// How a request for a key is served, in order. The instance looks the key up on its own
// ring. If it is the key's primary it answers from its store; a PUT is also copied to the
// second replica before the answer, so the crash of either loses nothing. If it is not, and
// a client sent the request, it forwards it to the primary: one hop, marked with
// X-Shard-Forwarded-By. If the request was itself forwarded, the sender's ring and this
// one disagree about the key; forwarding again could bounce it between members until their
// views converge, so it answers 421 Misdirected Request naming the owner it believes, and
// the first instance passes that to the client, who may retry. Replicas talk to each other
// with X-Shard-Replica: such a request is served from the local store and never forwarded.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/swim-go/swim"
	"github.com/swim-go/swim/ring"
)

// replicationFactor is how many members hold each key: its primary and the next distinct
// member on the ring. The rebalancing code is written for exactly two (see rebalance).
const replicationFactor = 2

// maxValue bounds a value, in bytes.
const maxValue = 1 << 20

// The headers that carry routing between instances and back to the client.
const (
	headerForwardedBy = "X-Shard-Forwarded-By" // the instance that forwarded a client's request
	headerReplica     = "X-Shard-Replica"      // the instance copying to or reading from a replica
	headerCopiedTo    = "X-Shard-Copied-To"    // on a copy to a primary: its second replica has the key already
	headerOwner       = "X-Shard-Owner"        // the primary that answered, or that was believed to own the key
	headerHops        = "X-Shard-Hops"         // 0 when the first instance owned the key, 1 when it forwarded
	headerReplicas    = "X-Shard-Replicas"     // on a PUT: how many members hold the value now
)

// errNoHTTP is returned for a member whose metadata names no HTTP address.
var errNoHTTP = errors.New("member advertises no HTTP address")

// server answers HTTP requests for the keys of one instance. Its ring says who owns what;
// how the ring is kept in step with membership is the instance's business (instance.go).
type server struct {
	name   string
	ring   *ring.Ring
	client *http.Client
	log    *slog.Logger
	store  store
	stats  stats

	// placed is the ring checksum the last rebalancing pass placed every key for
	// (rebalance.go); it is reported by GET /ring so that a watcher knows handoff is done.
	placed atomic.Uint64
}

// stats counts what an instance did, for GET /ring and the tests.
type stats struct {
	forwarded   atomic.Uint64 // client requests forwarded to their primary
	misdirected atomic.Uint64 // forwarded requests answered 421 because the views disagreed
	readThrough atomic.Uint64 // GETs the primary missed and found on the second replica
	handedOff   atomic.Uint64 // keys given to their new replicas and dropped here
	copied      atomic.Uint64 // keys this primary copied to a new second replica
}

func newServer(name string, r *ring.Ring, log *slog.Logger) *server {
	// The default transport keeps two idle connections per host; instances talk to each
	// other a lot, and a connection per request would run loopback out of ports.
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return &server{
		name:   name,
		ring:   r,
		client: &http.Client{Transport: t, Timeout: 2 * time.Second},
		log:    log.With("node", name),
		store:  store{m: make(map[string]entry)},
	}
}

func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /kv/{key}", s.serveKey)
	mux.HandleFunc("PUT /kv/{key}", s.serveKey)
	mux.HandleFunc("GET /ring", s.serveRing)
	return mux
}

func (s *server) serveKey(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	var value []byte
	if r.Method == http.MethodPut {
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxValue))
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		value = b
	}
	if r.Header.Get(headerReplica) != "" {
		s.serveReplica(w, r, key, value)
		return
	}
	replicas := s.ring.LookupN(key, replicationFactor)
	if len(replicas) == 0 {
		http.Error(w, "the ring is empty", http.StatusServiceUnavailable)
		return
	}
	owner, others := replicas[0], replicas[1:]
	switch {
	case owner.Name == s.name:
		w.Header().Set(headerOwner, s.name)
		w.Header().Set(headerHops, "0")
		if r.Method == http.MethodPut {
			s.putPrimary(r.Context(), w, key, value, others)
		} else {
			s.getPrimary(r.Context(), w, key, others)
		}
	case r.Header.Get(headerForwardedBy) != "":
		s.misdirected(w, r.Header.Get(headerForwardedBy), key, owner)
	default:
		s.forward(w, r, owner, key, value)
	}
}

// putPrimary stores value and copies it to the other replicas before answering. A replica
// that does not answer is logged, not an error: the value is stored here, the answer says
// how many hold it, and the next rebalancing pass copies it again (the copy is not marked
// done), to the member that replaces the replica if it crashed.
func (s *server) putPrimary(ctx context.Context, w http.ResponseWriter, key string, value []byte, others []swim.Node) {
	s.store.put(key, value)
	holders := 1
	for _, n := range others {
		if err := s.putReplica(ctx, n, key, value, ""); err != nil {
			s.log.Warn("copy to replica failed", "peer", n.Name, "key", key, "err", err)
			continue
		}
		s.store.markCopied(key, value, n.Name)
		holders++
	}
	w.Header().Set(headerReplicas, strconv.Itoa(holders))
	w.WriteHeader(http.StatusNoContent)
}

// getPrimary answers from the store. A primary that misses asks the second replica: right
// after a member joins it is the primary of keys it has not been handed yet, and the member
// that held them before is usually its second replica.
func (s *server) getPrimary(ctx context.Context, w http.ResponseWriter, key string, others []swim.Node) {
	v, ok := s.store.get(key)
	if !ok && len(others) > 0 {
		var err error
		v, ok, err = s.getReplica(ctx, others[0], key)
		if err != nil {
			s.log.Debug("read through to replica failed", "peer", others[0].Name, "key", key, "err", err)
		}
		if ok {
			s.stats.readThrough.Add(1)
			s.store.putIfAbsent(key, v, others[0].Name)
		}
	}
	if !ok {
		http.Error(w, "no such key", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(v)
}

// misdirected answers a forwarded request for a key this instance does not own. It does not
// forward it again: that is the loop guard.
func (s *server) misdirected(w http.ResponseWriter, from, key string, owner swim.Node) {
	s.stats.misdirected.Add(1)
	s.log.Debug("views disagree", "peer", from, "key", key, "owner", owner.Name)
	w.Header().Set(headerOwner, owner.Name)
	w.Header().Set(headerHops, "0")
	msg := fmt.Sprintf("views disagree: %s forwarded %q here, but %s believes %s owns it", from, key, s.name, owner.Name)
	http.Error(w, msg, http.StatusMisdirectedRequest)
}

// forward sends a client's request to the key's primary and relays the answer, marked as
// one hop. An owner that does not answer is 502; one that cannot be addressed is 503.
func (s *server) forward(w http.ResponseWriter, r *http.Request, owner swim.Node, key string, value []byte) {
	s.stats.forwarded.Add(1)
	w.Header().Set(headerOwner, owner.Name)
	w.Header().Set(headerHops, "1")
	u, err := kvURL(owner, key)
	if err != nil {
		http.Error(w, fmt.Sprintf("owner %s: %v", owner.Name, err), http.StatusServiceUnavailable)
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, u, bytes.NewReader(value))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	req.Header.Set(headerForwardedBy, s.name)
	resp, err := s.client.Do(req)
	if err != nil {
		s.log.Debug("owner did not answer", "peer", owner.Name, "key", key, "err", err)
		http.Error(w, fmt.Sprintf("owner %s did not answer: %v", owner.Name, err), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	// The owner's own word on who owns the key wins: on a 421 it names the owner it believes.
	for _, h := range []string{headerOwner, headerReplicas, "Content-Type"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// serveReplica serves a request from another instance copying a key to this one or reading
// it from this one: from the store alone, whoever the ring says owns the key.
func (s *server) serveReplica(w http.ResponseWriter, r *http.Request, key string, value []byte) {
	if r.Method == http.MethodPut {
		s.store.put(key, value)
		if to := r.Header.Get(headerCopiedTo); to != "" {
			s.store.markCopied(key, value, to)
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	v, ok := s.store.get(key)
	if !ok {
		http.Error(w, "no such key", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(v)
}

// putReplica copies key to n's store; copiedTo, if not empty, is the member that has it too.
func (s *server) putReplica(ctx context.Context, n swim.Node, key string, value []byte, copiedTo string) error {
	resp, err := s.replicaRequest(ctx, http.MethodPut, n, key, value, copiedTo)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("%s answered %s", n.Name, resp.Status)
	}
	return nil
}

// getReplica reads key from n's store.
func (s *server) getReplica(ctx context.Context, n swim.Node, key string) ([]byte, bool, error) {
	resp, err := s.replicaRequest(ctx, http.MethodGet, n, key, nil, "")
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	v, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		return nil, false, err
	case resp.StatusCode == http.StatusNotFound:
		return nil, false, nil
	case resp.StatusCode != http.StatusOK:
		return nil, false, fmt.Errorf("%s answered %s", n.Name, resp.Status)
	}
	return v, true, nil
}

func (s *server) replicaRequest(ctx context.Context, method string, n swim.Node, key string, value []byte, copiedTo string) (*http.Response, error) {
	u, err := kvURL(n, key)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(value))
	if err != nil {
		return nil, err
	}
	req.Header.Set(headerReplica, s.name)
	if copiedTo != "" {
		req.Header.Set(headerCopiedTo, copiedTo)
	}
	return s.client.Do(req)
}

// kvURL is the address of key on member n, whose metadata is its HTTP host:port.
func kvURL(n swim.Node, key string) (string, error) {
	if len(n.Meta) == 0 {
		return "", errNoHTTP
	}
	return "http://" + string(n.Meta) + "/kv/" + url.PathEscape(key), nil
}

// ringStatus is what GET /ring answers.
type ringStatus struct {
	Name     string   `json:"name"`
	Checksum string   `json:"checksum"` // hex: a uint64 does not survive JSON readers that use float64
	Members  []string `json:"members"`
	Keys     int      `json:"keys"`
	// Placed is the checksum of the ring this instance last placed every key it holds for;
	// once it equals Checksum, the instance has handed off all it had to.
	Placed      string `json:"placed"`
	Forwarded   uint64 `json:"forwarded"`
	Misdirected uint64 `json:"misdirected"`
	ReadThrough uint64 `json:"read_through"`
	HandedOff   uint64 `json:"handed_off"`
	Copied      uint64 `json:"copied"`
}

func (s *server) serveRing(w http.ResponseWriter, r *http.Request) {
	st := ringStatus{
		Name:        s.name,
		Checksum:    fmt.Sprintf("%016x", s.ring.Checksum()),
		Members:     []string{},
		Keys:        s.store.len(),
		Placed:      fmt.Sprintf("%016x", s.placed.Load()),
		Forwarded:   s.stats.forwarded.Load(),
		Misdirected: s.stats.misdirected.Load(),
		ReadThrough: s.stats.readThrough.Load(),
		HandedOff:   s.stats.handedOff.Load(),
		Copied:      s.stats.copied.Load(),
	}
	for _, n := range s.ring.Members() {
		st.Members = append(st.Members, n.Name)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(st)
}
