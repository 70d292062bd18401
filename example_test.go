package swim_test

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"

	"github.com/swim-go/swim"
)

// Two members in one process, on the in-memory transport: one joins the other, and both see
// the cluster. With the default UDP/TCP transport, leave Config.Transport nil and join
// "host:port".
func Example() {
	network := swim.NewMemNetwork()
	start := func(name string, ip string) (*swim.Memberlist, chan swim.NodeEvent) {
		tr, err := network.NewTransport(netip.MustParseAddrPort(ip + ":7946"))
		if err != nil {
			panic(err)
		}
		events := make(chan swim.NodeEvent, 16)
		cfg := swim.DefaultLocalConfig()
		cfg.Name = name
		cfg.Transport = tr
		cfg.Events = &swim.ChannelEventDelegate{Ch: events}
		m, err := swim.Create(cfg)
		if err != nil {
			panic(err)
		}
		return m, events
	}
	a, _ := start("alpha", "10.0.0.1")
	b, bEvents := start("beta", "10.0.0.2")
	defer a.Shutdown()
	defer b.Shutdown()

	n, err := b.Join([]string{a.LocalNode().Address()})
	fmt.Println("reached", n, "member(s), error:", err)

	// Events are asynchronous: wait for beta to hear of alpha.
	for e := range bEvents {
		if e.Type == swim.EventJoin && e.Node.Name == "alpha" {
			break
		}
	}
	var names []string
	for _, node := range b.Members() {
		names = append(names, node.Name+" "+node.State.String())
	}
	slices.Sort(names)
	fmt.Println(names)
	// Output:
	// reached 1 member(s), error: <nil>
	// [alpha alive beta alive]
}

// A BroadcastQueue implements Delegate.GetBroadcasts: each message is handed out a limited
// number of times, fewest-sent first, and a newer message with the same name replaces an
// older one.
func ExampleBroadcastQueue() {
	q := swim.BroadcastQueue{NumNodes: func() int { return 10 }, RetransmitMult: 1}
	q.QueueBroadcast("config", []byte("v1"), nil)
	q.QueueBroadcast("config", []byte("v2"), func() { fmt.Println("v2 fully sent") })
	// With 10 members each message goes out 1*ceil(log10(11)) = 2 times; notify runs as
	// the last copy is handed out.
	for range 3 {
		fmt.Printf("%q\n", q.GetBroadcasts(3, 1400))
	}
	// Output:
	// ["v2"]
	// v2 fully sent
	// ["v2"]
	// []
}

// Simulate predicts how a cluster behaves before it is deployed: here, how fast 50 members
// on a LAN learn that one of them crashed. The same seed always gives the same run.
func ExampleSimulate() {
	r, err := swim.Simulate(swim.SimConfig{Nodes: 50, Seed: 1, Scenario: swim.ScenarioFail})
	if err != nil {
		panic(err)
	}
	fmt.Println("every survivor knew within 15 s:", r.AllDeadS > 0 && r.AllDeadS < 15)
	fmt.Println("false deaths:", r.FalseDead)
	// Output:
	// every survivor knew within 15 s: true
	// false deaths: 0
}

// Rotating the cluster key: every member installs the new key, then every member makes it
// primary, then every member removes the old one. Each step must be done on all members
// before the next starts; decryption tries every installed key, so no traffic is lost.
func ExampleKeyring() {
	oldKey := []byte("0123456789abcdef")                 // AES-128
	newKey := []byte("0123456789abcdef0123456789abcdef") // AES-256
	kr, err := swim.NewKeyring(nil, oldKey)
	if err != nil {
		panic(err)
	}
	// A member's keyring is Config.Keyring (or Memberlist.Keyring() after Create).
	fmt.Println(kr.AddKey(newKey), len(kr.Keys()))
	fmt.Println(kr.UseKey(newKey), len(kr.PrimaryKey()))
	fmt.Println(kr.RemoveKey(oldKey), len(kr.Keys()))
	fmt.Println(kr.RemoveKey(newKey))
	// Output:
	// <nil> 2
	// <nil> 32
	// <nil> 1
	// swim: cannot remove the primary key
}

// A member that only talks to members in two networks, in a cluster isolated by a label and
// encrypted with a shared key.
func ExampleParseCIDRs() {
	allowed, err := swim.ParseCIDRs([]string{"10.0.0.0/8", "fd00::/8"})
	if err != nil {
		panic(err)
	}
	cfg := swim.DefaultLANConfig()
	cfg.Name = "node-1"
	cfg.CIDRsAllowed = allowed
	cfg.Label = "payments-prod"
	cfg.SecretKey = []byte("0123456789abcdef")
	fmt.Println(cfg.Validate())
	fmt.Println(allowed)
	// Output:
	// <nil>
	// [10.0.0.0/8 fd00::/8]
}

// totals is a Metrics that adds up counters by name.
type totals struct {
	mu       sync.Mutex
	counters map[string]float64
}

func (t *totals) IncrCounter(name string, delta float64, _ []swim.Label) {
	t.mu.Lock()
	t.counters[name] += delta
	t.mu.Unlock()
}
func (t *totals) SetGauge(string, float64, []swim.Label)  {}
func (t *totals) AddSample(string, float64, []swim.Label) {}

// A Metrics receives what members do, as counters, gauges and samples; package
// github.com/swim-go/swim/memberlist forwards them to go-metrics under memberlist's names.
// Here every member of a simulated cluster of 20 reports to one sink, and one member crashes.
func ExampleMetrics() {
	sink := &totals{counters: map[string]float64{}}
	cfg := swim.DefaultLANConfig()
	cfg.Metrics = sink
	cfg.MetricLabels = []swim.Label{{Name: "cluster", Value: "example"}}
	if _, err := swim.Simulate(swim.SimConfig{Nodes: 20, Seed: 1, Scenario: swim.ScenarioFail, Config: cfg}); err != nil {
		panic(err)
	}
	fmt.Println("members marked dead:", sink.counters[swim.MetricMemberDead])
	fmt.Println("suspicions refuted:", sink.counters[swim.MetricRefute])
	// Output:
	// members marked dead: 19
	// suspicions refuted: 0
}
