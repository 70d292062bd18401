package sim_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/swim-go/swim/internal/sim"
)

func Example() {
	n := sim.New(sim.Config{Seed: 1, Link: sim.Link{Latency: 5 * time.Millisecond}})
	a := netip.MustParseAddrPort("10.0.0.1:7946")
	b := netip.MustParseAddrPort("10.0.0.2:7946")
	n.Attach(a, func(now time.Time, from netip.AddrPort, buf []byte) {
		fmt.Printf("%s: %s from %s\n", now.Format("15:04:05.000"), buf, from)
	})
	n.Attach(b, func(now time.Time, from netip.AddrPort, buf []byte) {
		fmt.Printf("%s: %s from %s\n", now.Format("15:04:05.000"), buf, from)
		n.Send(b, from, []byte("ack"))
	})
	n.At(a, n.Now().Add(time.Second), func(now time.Time) { n.Send(a, b, []byte("ping")) })
	n.RunFor(2 * time.Second)
	fmt.Println(n.Counters().PacketsDelivered, "delivered")
	// Output:
	// 00:00:01.005: ping from 10.0.0.1:7946
	// 00:00:01.010: ack from 10.0.0.2:7946
	// 2 delivered
}
