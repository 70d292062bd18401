package sim

import (
	"net/netip"
	"testing"
	"time"
)

// BenchmarkSendDeliver measures one datagram from Send to its handler, with about a
// thousand packets in flight (ns/op and allocs/op are per packet).
func BenchmarkSendDeliver(b *testing.B) {
	n := New(Config{Seed: 1, Link: Link{Latency: ms(1), Jitter: ms(1)}})
	const peers = 100
	for i := range peers {
		n.Attach(addr(i), func(time.Time, netip.AddrPort, []byte) {})
	}
	buf := make([]byte, 100)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		n.Send(addr(i%peers), addr((i+1)%peers), buf)
		if i%1024 == 1023 {
			n.RunFor(ms(2))
		}
	}
	n.RunFor(time.Second)
	b.StopTimer()
	if got := n.Counters().PacketsDelivered; got != uint64(b.N) {
		b.Fatalf("delivered %d of %d", got, b.N)
	}
}

// BenchmarkTimers measures one owned timer event firing and rescheduling itself, among
// 10,000 endpoints' timers (ns/op and allocs/op are per timer event).
func BenchmarkTimers(b *testing.B) {
	n := New(Config{Seed: 1})
	const size = 10_000
	fired := 0
	for i := range size {
		a := addr(i)
		n.Attach(a, func(time.Time, netip.AddrPort, []byte) {})
		period := ms(100 + i%100)
		var tick func(now time.Time)
		tick = func(now time.Time) {
			fired++
			n.At(a, now.Add(period), tick)
		}
		n.At(a, n.Now().Add(time.Duration(i)*time.Microsecond), tick)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		n.Step()
	}
	b.StopTimer()
	if fired != b.N {
		b.Fatalf("fired %d of %d", fired, b.N)
	}
}

// BenchmarkGossipLike runs 10,000 endpoints, each with a 200 ms periodic timer that sends a
// 100-byte packet to a random peer over a 1 ms ± 1 ms link with 1% loss. One op is one
// virtual second; it reports virtual seconds per wall second and events per wall second.
func BenchmarkGossipLike(b *testing.B) {
	const size = 10_000
	n := New(Config{Seed: 1, Link: Link{Latency: ms(1), Jitter: ms(1), Loss: 0.01}})
	r := n.Rand()
	payload := make([]byte, 100)
	var received uint64
	for i := range size {
		a := addr(i)
		n.Attach(a, func(_ time.Time, _ netip.AddrPort, buf []byte) { received += uint64(len(buf)) })
		var tick func(now time.Time)
		tick = func(now time.Time) {
			n.Send(a, addr(r.IntN(size)), payload)
			n.At(a, now.Add(ms(200)), tick)
		}
		n.At(a, n.Now().Add(time.Duration(r.Int64N(int64(ms(200))))), tick)
	}
	n.RunFor(time.Second) // warm up: the slab and heap reach their working size
	c0 := n.Counters()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		n.RunFor(time.Second)
	}
	wall := time.Since(start).Seconds()
	b.StopTimer()
	c := n.Counters()
	events := float64(c.PacketsDelivered-c0.PacketsDelivered) + float64(c.PacketsSent-c0.PacketsSent) // one timer per send
	b.ReportMetric(float64(b.N)/wall, "vsec/s")
	b.ReportMetric(events/wall, "events/s")
	b.ReportMetric(wall*1e9/events, "ns/event")
}
