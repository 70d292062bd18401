package swim

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkSimulator measures simulator speed: virtual seconds of a converged cluster with
// LAN timings per wall second, and what each member sends. Run the 10,000-member case with
//
//	go test -run '^$' -bench 'Simulator/n=10000' -benchtime 1x -timeout 30m .
func BenchmarkSimulator(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			if n > 1000 && testing.Short() {
				b.Skip("10,000 members: run explicitly")
			}
			const virtual = 60 * time.Second
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				s := NewSimulation(SimOptions{Seed: uint64(i + 1), Config: DefaultLANConfig(), Latency: time.Millisecond, Jitter: time.Millisecond})
				for range n {
					s.AddNode()
				}
				s.Bootstrap()
				b.StartTimer()
				start := time.Now()
				s.RunFor(virtual)
				wall := time.Since(start)
				st := s.Stats()
				b.ReportMetric(virtual.Seconds()/wall.Seconds(), "virtual_s/wall_s")
				b.ReportMetric(float64(st.Bytes+st.StreamBytes)/float64(n)/virtual.Seconds(), "bytes/node/s")
				b.ReportMetric(float64(st.Packets)/float64(n)/virtual.Seconds(), "packets/node/s")
			}
		})
	}
}
