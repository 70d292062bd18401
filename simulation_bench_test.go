package swim

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/swim-go/swim/internal/hugepages"
)

// The simulator's speed and memory, at the sizes users ask about. Sizes past 1,000 take
// minutes and gigabytes, so they run only when asked for, best one size per process (peak
// memory is the process's):
//
//	go test -c -o swim.test .
//	SWIM_BENCH_LARGE=1 ./swim.test -test.run '^$' -test.bench '^BenchmarkSimulator$/^n=10000$' -test.benchtime 1x
//	SWIM_BENCH_LARGE=1 ./swim.test -test.run '^$' -test.bench '^BenchmarkSimulatorJoin$/^n=2000$' -test.benchtime 1x
//
// (Anchor the names: 'Simulator/n=10000' also matches BenchmarkSimulatorJoin/n=10000.)
//
// Each size reports wall seconds, virtual seconds per wall second, wall microseconds per
// member per virtual second, the process's peak resident memory while it ran (Linux), and
// what each member sent. BenchmarkSimulator also reports the seconds spent building the
// converged tables (setup_s, n² entries however long the run) and the microseconds per
// member per virtual second of the run alone (run_us/node/virtual_s: the cost curve), the
// run's wall nanoseconds per byte its members sent (run_ns/byte), the events it ran (timers
// fired, datagrams and streams handed over) per member per virtual second
// (events/node/virtual_s: the members' work), and its wall nanoseconds per event
// (run_ns/event: what that work costs the machine). A real member's work
// grows with n too: its push/pulls carry n entries, every PushPullInterval stretched by only
// log n, so at 10,000 members each merges about six times the entries per second it does at
// 1,000. Per byte sent, the simulator's cost should stay flat where per member it cannot.
//
// Like examples/simulate, the benchmarks ask for transparent huge pages for the heap
// (internal/hugepages); SWIM_BENCH_HUGEPAGES=0 measures without them.

// benchSizes returns the sizes to run: small ones always, large ones with SWIM_BENCH_LARGE.
func benchSizes(small, large []int) []int {
	if os.Getenv("SWIM_BENCH_LARGE") != "" {
		return append(small, large...)
	}
	return small
}

// BenchmarkSimulator runs a converged cluster with LAN timings for 60 virtual seconds, one
// member crashing after 5 s.
func BenchmarkSimulator(b *testing.B) {
	for _, n := range benchSizes([]int{100, 1000}, []int{2000, 5000, 10000}) {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			const virtual = 60 * time.Second
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				adviseHugePages(b, int64(n)*int64(n)*heapPerEntry)
				resetPeakRSS()
				start := time.Now()
				s := NewSimulation(SimOptions{Seed: uint64(i + 1), Config: DefaultLANConfig(), Latency: time.Millisecond, Jitter: time.Millisecond})
				for range n {
					s.AddNode()
				}
				s.Bootstrap()
				setup := time.Since(start)
				events := s.net.Counters().Events
				b.StartTimer()
				s.RunFor(5 * time.Second)
				s.Crash(n / 2)
				s.RunFor(virtual - 5*time.Second)
				b.StopTimer()
				wall := time.Since(start)
				events = s.net.Counters().Events - events
				st := s.Stats()
				reportSimulatorRun(b, n, wall, virtual)
				// Building n converged tables of n entries is the same work whatever the
				// run's length; what a virtual second costs is the run alone.
				b.ReportMetric(setup.Seconds(), "setup_s")
				b.ReportMetric(float64((wall-setup).Microseconds())/float64(n)/virtual.Seconds(), "run_us/node/virtual_s")
				b.ReportMetric(float64(st.Bytes+st.StreamBytes)/float64(n)/virtual.Seconds(), "bytes/node/s")
				b.ReportMetric(float64(st.Packets)/float64(n)/virtual.Seconds(), "packets/node/s")
				b.ReportMetric(float64((wall-setup).Nanoseconds())/float64(st.Bytes+st.StreamBytes), "run_ns/byte")
				b.ReportMetric(float64(events)/float64(n)/virtual.Seconds(), "events/node/virtual_s")
				b.ReportMetric(float64((wall-setup).Nanoseconds())/float64(events), "run_ns/event")
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				b.ReportMetric(float64(ms.HeapInuse)/float64(n*n), "heap_bytes/entry")
				if st.Deaths < n-1 {
					b.Fatalf("the crashed member was declared dead %d times among %d survivors", st.Deaths, n-1)
				}
			}
		})
	}
}

// BenchmarkSimulatorJoin has n members join through one seed within 2 s, LAN timings, and
// runs until every member sees every other alive.
func BenchmarkSimulatorJoin(b *testing.B) {
	// 10,000 members joining at once take about twenty minutes and 13 GB live: every
	// member queues an alive for every member it learns of, 10^8 queued broadcasts in all,
	// and the queues drain slowly (each alive goes out 20 times; a member sends about 300 a
	// second). With the collector's default the heap doubles past this machine's 24 GB, so
	// the figure comes from examples/simulate, which sets a soft memory limit:
	//
	//	go run ./examples/simulate -n 10000 -scenario join -duration 120s
	//
	// SWIM_BENCH_JOIN10K=1 adds it here (give it GOMEMLIMIT=18GiB or so).
	large := []int{2000, 5000}
	if os.Getenv("SWIM_BENCH_JOIN10K") != "" {
		large = append(large, 10000)
	}
	for _, n := range benchSizes([]int{500, 1000}, large) {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				adviseHugePages(b, int64(n)*int64(n)*heapPerEntry)
				resetPeakRSS()
				start := time.Now()
				r, err := Simulate(SimConfig{Nodes: n, Seed: uint64(i + 1), Scenario: ScenarioJoin, Duration: 120 * time.Second})
				if err != nil {
					b.Fatal(err)
				}
				if r.ConvergedS < 0 {
					b.Fatalf("%d members had not converged after %.0f virtual s", n, r.VirtualS)
				}
				reportSimulatorRun(b, n, time.Since(start), time.Duration(r.VirtualS*float64(time.Second)))
				b.ReportMetric(r.ConvergedS, "converged_virtual_s")
			}
		})
	}
}

// BenchmarkMemoryLatency measures this machine, not the library: the time of one load that
// depends on the one before, over a randomly ordered cycle of cache lines spread across
// size bytes, on huge pages where the simulation benchmarks get them. An event of the
// simulator starts with its member's state out of the caches once the members' state
// outgrows them, and what that costs is what makes a simulated member dearer at 10,000
// members (5.4 GiB of state) than at 1,000 (0.11 GiB), while it does the same work
// (events/node/virtual_s).
func BenchmarkMemoryLatency(b *testing.B) {
	for _, mb := range benchSizes([]int{1, 8, 80}, []int{512, 5120}) {
		b.Run(fmt.Sprintf("size=%dMB", mb), func(b *testing.B) {
			lines := mb << 20 / 64
			adviseHugePages(b, int64(mb)<<20) // as the simulation benchmarks do
			next := make([]uint32, lines*16)  // the first word of each 64-byte line is used
			perm := rand.Perm(lines)
			for i, l := range perm {
				next[l*16] = uint32(perm[(i+1)%lines] * 16)
			}
			at := uint32(perm[0] * 16)
			b.ResetTimer()
			for range b.N {
				at = next[at]
			}
			latencySink = at // the loads must not be left out as unused
		})
	}
}

var latencySink uint32

// heapPerEntry is about the most heap a simulation holds per table entry, as
// examples/simulate reckons it: a 2,000-member join peaks at 340 bytes per entry.
const heapPerEntry = 384

// adviseHugePages asks for transparent huge pages for the next size bytes of heap, as
// examples/simulate does (internal/hugepages), unless SWIM_BENCH_HUGEPAGES=0 asks to
// measure without them.
func adviseHugePages(b *testing.B, size int64) {
	if os.Getenv("SWIM_BENCH_HUGEPAGES") == "0" {
		return
	}
	if _, err := hugepages.Heap(size); err != nil {
		b.Fatal(err)
	}
}

func reportSimulatorRun(b *testing.B, n int, wall, virtual time.Duration) {
	b.ReportMetric(wall.Seconds(), "wall_s")
	b.ReportMetric(virtual.Seconds()/wall.Seconds(), "virtual_s/wall_s")
	b.ReportMetric(float64(wall.Microseconds())/float64(n)/virtual.Seconds(), "wall_us/node/virtual_s")
	if peak, ok := peakRSS(); ok {
		b.ReportMetric(float64(peak)/(1<<30), "peak_rss_GiB")
	}
}

// resetPeakRSS restarts the kernel's count of this process's peak resident memory, so that
// each run reports its own (Linux; elsewhere nothing is reported). Memory an earlier run
// left resident counts, so a size is best run in a process of its own.
func resetPeakRSS() {
	debug.FreeOSMemory()
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// peakRSS returns the process's peak resident memory since resetPeakRSS, in bytes.
func peakRSS() (uint64, bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}
