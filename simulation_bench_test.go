package swim

import (
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"
)

// BenchmarkSimulator measures simulator speed: virtual seconds of a converged cluster with
// LAN timings per wall second, and what each member sends. Every simulated member holds a
// full member table, so memory grows as n²: about 135 heap bytes per entry, 13.5 GB at
// 10,000 members. Run the large cases with the collector held back until memory is short:
//
//	SWIM_BENCH_LARGE=1 GOGC=off GOMEMLIMIT=20GiB go test -run '^$' -bench 'Simulator/n=10000' -benchtime 1x -timeout 60m .
func BenchmarkSimulator(b *testing.B) {
	for _, n := range []int{100, 1000, 3000, 10000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			if n > 1000 && os.Getenv("SWIM_BENCH_LARGE") == "" {
				b.Skip("large simulation: set SWIM_BENCH_LARGE=1")
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
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				b.ReportMetric(float64(ms.HeapInuse)/float64(n*n), "heap_bytes/entry")
			}
		})
	}
}
