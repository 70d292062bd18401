package main

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/swim-go/swim"
	"github.com/swim-go/swim/ring"
)

// fastFailure shortens the protocol's timings so that a crash is detected in a second or
// two rather than several.
func fastFailure(c *swim.Config) {
	c.ProbeInterval = 200 * time.Millisecond
	c.ProbeTimeout = 100 * time.Millisecond
	c.GossipInterval = 50 * time.Millisecond
	c.SuspicionMaxTimeoutMult = 2
}

// waitUntil polls cond until it holds, failing the test with reason after 15 s.
func waitUntil(t *testing.T, reason string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", reason)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testCluster is a few instances on loopback and the keys written to them.
type testCluster struct {
	t      *testing.T
	rng    *rand.Rand
	client *http.Client
	live   []*instance
	next   int
	keys   map[string]string
}

func newTestCluster(t *testing.T, n int) *testCluster {
	c := &testCluster{t: t, rng: rand.New(rand.NewPCG(1, 2)), client: &http.Client{Timeout: 5 * time.Second}, keys: map[string]string{}}
	t.Cleanup(func() {
		for _, in := range c.live {
			in.crash()
		}
	})
	for range n {
		c.start()
	}
	c.waitSettled("the first instances' rings agree")
	return c
}

func (c *testCluster) start() *instance {
	c.t.Helper()
	o := options{name: fmt.Sprintf("node-%d", c.next), bindAddr: "127.0.0.1", httpAddr: "127.0.0.1:0", tune: fastFailure}
	if len(c.live) > 0 {
		o.join = []string{c.live[0].memberAddr()}
	}
	in, err := startInstance(o)
	require.NoError(c.t, err, "start %s", o.name)
	c.next++
	c.live = append(c.live, in)
	return in
}

func (c *testCluster) crash(in *instance) {
	in.crash()
	c.live = slices.DeleteFunc(c.live, func(x *instance) bool { return x == in })
}

// waitSettled waits until every live instance's ring holds exactly the live instances and
// every instance has placed its keys for it.
func (c *testCluster) waitSettled(reason string) {
	c.t.Helper()
	var names []string
	for _, in := range c.live {
		names = append(names, in.name)
	}
	slices.Sort(names)
	waitUntil(c.t, reason, func() bool {
		for _, in := range c.live {
			var got []string
			for _, n := range in.ring.Members() {
				got = append(got, n.Name)
			}
			if !slices.Equal(got, names) || in.ring.Checksum() != c.live[0].ring.Checksum() || in.placed.Load() != in.ring.Checksum() {
				return false
			}
		}
		return true
	})
}

func (c *testCluster) via() *instance { return c.live[c.rng.IntN(len(c.live))] }

// readAll reads every key through a random instance and wants its value.
func (c *testCluster) readAll(reason string) {
	c.t.Helper()
	for k, v := range c.keys {
		in := c.via()
		o := request(c.client, http.MethodGet, in.httpAddr, k, v, http.StatusOK)
		require.Truef(c.t, o.ok, "%s: GET %s through %s should give its value, got status %d (err %v)", reason, k, in.name, o.status, o.err)
	}
}

// waitPlacedExactly waits until every key is held by exactly the two members the ring names:
// none lost, no copy left behind.
func (c *testCluster) waitPlacedExactly(reason string) {
	c.t.Helper()
	waitUntil(c.t, reason, func() bool {
		r := c.live[0].ring
		for k := range c.keys {
			var want, got []string
			for _, n := range r.LookupN(k, replicationFactor) {
				want = append(want, n.Name)
			}
			for _, in := range c.live {
				if _, ok := in.store.get(k); ok {
					got = append(got, in.name)
				}
			}
			slices.Sort(want)
			if !slices.Equal(want, got) {
				return false
			}
		}
		return true
	})
}

// "Each key is kept in memory on its owner and on the next distinct member of the ring (two
// replicas), so one crash loses nothing." (main.go)
func TestEveryKeyReadableThroughJoinAndCrash(t *testing.T) {
	c := newTestCluster(t, 3)
	for i := range 300 {
		k, v := fmt.Sprintf("key-%d", i), fmt.Sprintf("value-%d", i)
		in := c.via()
		o := request(c.client, http.MethodPut, in.httpAddr, k, v, http.StatusNoContent)
		require.Truef(t, o.ok, "PUT %s through %s: status %d (err %v)", k, in.name, o.status, o.err)
		owner, _ := in.ring.Lookup(k)
		require.Equal(t, owner.Name, o.owner, "the answer names the key's owner")
		if owner.Name == in.name {
			require.Equal(t, "0", o.hops, "the owner answers without a hop")
		} else {
			require.Equal(t, "1", o.hops, "a request to a non-owner is forwarded in one hop")
		}
		c.keys[k] = v
	}
	c.readAll("after the writes")
	c.waitPlacedExactly("every key is on its two replicas after the writes")

	joined := c.start()
	c.waitSettled("every ring holds the newcomer")
	c.readAll("after node-3 joined")
	c.waitPlacedExactly("every key is on its two replicas after the join")
	require.NotZero(t, joined.store.len(), "the newcomer was handed keys")

	c.crash(c.live[1])
	c.waitSettled("every survivor's ring has dropped the crashed instance")
	c.readAll("after node-1 crashed")
	c.waitPlacedExactly("every key is back on two replicas after the crash")

	// The loop guard on a running instance: a request marked as forwarded, sent to one
	// that does not own the key, is answered 421 there and goes no further.
	k := "key-7"
	owner, _ := c.live[0].ring.Lookup(k)
	other := c.live[slices.IndexFunc(c.live, func(in *instance) bool { return in.name != owner.Name })]
	forwards := other.stats.forwarded.Load()
	req, err := http.NewRequest(http.MethodGet, "http://"+other.httpAddr+"/kv/"+k, nil)
	require.NoError(t, err)
	req.Header.Set(headerForwardedBy, "a-test")
	resp, err := c.client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMisdirectedRequest, resp.StatusCode, "%s does not own %s", other.name, k)
	require.Equal(t, owner.Name, resp.Header.Get(headerOwner), "the 421 names the owner %s believes", other.name)
	require.Equal(t, forwards, other.stats.forwarded.Load(), "%s did not forward it again", other.name)
}

// staticNode is a server with a ring set by hand, behind a test HTTP server that records
// the requests it gets.
type staticNode struct {
	*server
	http  *httptest.Server
	got   atomic.Int64
	mu    sync.Mutex
	froms []string // X-Shard-Forwarded-By of each request
}

func startStatic(t *testing.T, name string) *staticNode {
	n := &staticNode{server: newServer(name, ring.New(ring.Config{}), slog.New(slog.DiscardHandler))}
	h := n.handler()
	n.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.got.Add(1)
		n.mu.Lock()
		n.froms = append(n.froms, r.Header.Get(headerForwardedBy))
		n.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(n.http.Close)
	return n
}

func (n *staticNode) node() swim.Node {
	return swim.Node{Name: n.name, Meta: []byte(n.addr())}
}

func (n *staticNode) addr() string { return strings.TrimPrefix(n.http.URL, "http://") }

// keyOwnedBy returns a key that r places on want, and, if other is not nil, other on.
func keyOwnedBy(t *testing.T, r *ring.Ring, want string, other *ring.Ring, otherWant string) string {
	t.Helper()
	for i := range 100000 {
		k := fmt.Sprintf("key-%d", i)
		if o, _ := r.Lookup(k); o.Name != want {
			continue
		}
		if other != nil {
			if o, _ := other.Lookup(k); o.Name != otherWant {
				continue
			}
		}
		return k
	}
	t.Fatalf("no key owned by %s", want)
	return ""
}

// "One that does not own the key forwards the request to the owner, one hop, marked
// X-Shard-Forwarded-By; answers say who owned the key (X-Shard-Owner) and how many hops it
// took (X-Shard-Hops, 0 or 1). An instance that receives a forwarded request for a key it
// does not think it owns ... answers 421 Misdirected Request naming the owner it believes,
// instead of forwarding again" (main.go)
func TestForwardedRequestIsMarkedAndNotForwardedAgain(t *testing.T) {
	a, b, c := startStatic(t, "a"), startStatic(t, "b"), startStatic(t, "c")
	for _, n := range []*staticNode{a, b, c} {
		n.ring.Add(a.node(), b.node(), c.node())
	}
	client := &http.Client{Timeout: 5 * time.Second}

	k := keyOwnedBy(t, a.ring, "c", nil, "")
	o := request(client, http.MethodPut, a.addr(), k, "v", http.StatusNoContent)
	require.True(t, o.ok, "a PUT through a non-owner succeeds, status %d", o.status)
	require.Equal(t, "1", o.hops, "a forwarded request says it took one hop")
	require.Equal(t, "c", o.owner, "and names the owner")
	c.mu.Lock()
	require.Contains(t, c.froms, "a", "the owner is told who forwarded the request")
	c.mu.Unlock()

	// The loop guard, directly: a request marked as forwarded, to a member that does not own
	// the key, is refused, not passed on.
	forwardsBefore, cGot := b.stats.forwarded.Load(), c.got.Load()
	req, err := http.NewRequest(http.MethodGet, b.http.URL+"/kv/"+k, nil)
	require.NoError(t, err)
	req.Header.Set(headerForwardedBy, "a")
	resp, err := client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMisdirectedRequest, resp.StatusCode, "a forwarded request to a non-owner is misdirected")
	require.Equal(t, "c", resp.Header.Get(headerOwner), "the answer names the owner the non-owner believes")
	require.Equal(t, forwardsBefore, b.stats.forwarded.Load(), "the non-owner did not forward it again")
	require.Equal(t, cGot, c.got.Load(), "the owner never saw it")
}

// "... and the first instance passes that to the client" (main.go)
func TestDisagreeingViewsGive421ThroughTheFirstInstance(t *testing.T) {
	a, b, c := startStatic(t, "a"), startStatic(t, "b"), startStatic(t, "c")
	// a has not heard of c yet; b has.
	a.ring.Add(a.node(), b.node())
	b.ring.Add(a.node(), b.node(), c.node())
	client := &http.Client{Timeout: 5 * time.Second}

	k := keyOwnedBy(t, a.ring, "b", b.ring, "c")
	o := request(client, http.MethodGet, a.addr(), k, "", http.StatusOK)
	require.Equal(t, http.StatusMisdirectedRequest, o.status, "the first instance passes the 421 to the client")
	require.Equal(t, "1", o.hops, "after one hop")
	require.Equal(t, "c", o.owner, "naming the owner the second instance believes")
	require.Zero(t, c.got.Load(), "the request went no further than b")
	require.Equal(t, uint64(1), b.stats.misdirected.Load())
}

// "A forward to an owner that does not answer is 502." (main.go)
func TestForwardToADeadOwnerIs502(t *testing.T) {
	a, b := startStatic(t, "a"), startStatic(t, "b")
	a.ring.Add(a.node(), b.node())
	k := keyOwnedBy(t, a.ring, "b", nil, "")
	b.http.Close() // b crashed; a's ring does not know yet

	o := request(&http.Client{Timeout: 5 * time.Second}, http.MethodGet, a.addr(), k, "", http.StatusOK)
	require.Equal(t, http.StatusBadGateway, o.status, "a forward to an owner that does not answer fails")
	require.Equal(t, "b", o.owner, "naming the owner that did not answer")
	require.Equal(t, "1", o.hops)
}

// "When its ring changes, an instance hands the keys it should no longer hold to their new
// replicas" (main.go); told that the second replica has the key, the primary does not copy
// it again (rebalance.go).
func TestRebalanceHandsOffWhatIsNoLongerHeld(t *testing.T) {
	a, b, c := startStatic(t, "a"), startStatic(t, "b"), startStatic(t, "c")
	for _, n := range []*staticNode{a, b, c} {
		n.ring.Add(a.node(), b.node(), c.node())
	}
	// A key whose replicas are b and c, held only by a, as if a had just lost it to them.
	var k string
	for i := 0; k == ""; i++ {
		key := fmt.Sprintf("key-%d", i)
		if !holds(a.ring.LookupN(key, replicationFactor), "a") {
			k = key
		}
	}
	a.store.put(k, []byte("v"))
	require.True(t, a.rebalance(t.Context()), "every copy succeeds")
	_, ok := a.store.get(k)
	require.False(t, ok, "a dropped the key once its replicas had it")
	require.Equal(t, uint64(1), a.stats.handedOff.Load())
	replicas := a.ring.LookupN(k, replicationFactor)
	for _, n := range []*staticNode{b, c} {
		_, ok := n.store.get(k)
		require.True(t, ok, "%s, a replica, holds the key", n.name)
	}
	primary := map[string]*staticNode{"b": b, "c": c}[replicas[0].Name]
	require.True(t, primary.rebalance(t.Context()))
	require.Zero(t, primary.stats.copied.Load(), "the primary was told its second replica has the key, and copies nothing")
}
