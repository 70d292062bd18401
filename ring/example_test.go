package ring_test

import (
	"fmt"
	"net"

	"github.com/swim-go/swim"
	"github.com/swim-go/swim/ring"
)

// A ring over three members: who owns a key, who holds its replicas, and what changes when
// a member leaves. In a cluster the ring is fed by events instead: cfg.Events = r.
func ExampleRing() {
	r := ring.New(ring.Config{})
	r.Add(
		swim.Node{Name: "alpha", Addr: net.IPv4(10, 0, 0, 1), Port: 7946},
		swim.Node{Name: "beta", Addr: net.IPv4(10, 0, 0, 2), Port: 7946},
		swim.Node{Name: "gamma", Addr: net.IPv4(10, 0, 0, 3), Port: 7946},
	)
	owner, _ := r.Lookup("user:4")
	fmt.Println("user:4 lives on", owner.Name, "at", owner.Address())
	for _, n := range r.LookupN("user:4", 3) {
		fmt.Print(n.Name, " ")
	}
	fmt.Println("(owner first, then replicas)")

	// The owner leaves (swim would call r.NotifyLeave): its keys go to the next member on
	// the ring, which was the first replica.
	r.Remove(owner.Name)
	next, _ := r.Lookup("user:4")
	fmt.Println("after", owner.Name, "leaves:", next.Name)
	fmt.Println(r.Len(), "members")
	// Output:
	// user:4 lives on beta at 10.0.0.2:7946
	// beta gamma alpha (owner first, then replicas)
	// after beta leaves: gamma
	// 2 members
}

// Installing the ring as a member's event delegate, next to an event channel the
// application reads.
func ExampleRing_events() {
	r := ring.New(ring.Config{})
	events := make(chan swim.NodeEvent, 64)
	cfg := swim.DefaultLANConfig()
	cfg.Name = "node-1"
	cfg.Events = swim.EventDelegates{r, &swim.ChannelEventDelegate{Ch: events}}
	// m, err := swim.Create(cfg) ... m.Join(...)

	// What swim does as members come and go; Sync waits for the ring to take it in.
	cfg.Events.NotifyJoin(swim.Node{Name: "node-1"})
	cfg.Events.NotifyJoin(swim.Node{Name: "node-2"})
	cfg.Events.NotifyLeave(swim.Node{Name: "node-2", State: swim.StateDead})
	r.Sync()
	fmt.Println(r.Len(), "member;", len(events), "events for the application")
	// Output: 1 member; 3 events for the application
}
