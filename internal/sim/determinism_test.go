package sim

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"
)

// workload runs a randomized cluster-like load on a network seeded with seed: size
// endpoints with jittery periodic timers that send packets and request/reply streams to
// random peers, while a chaos timer pauses, resumes, crashes, restarts, partitions, heals and
// re-links them. Every random choice comes from the network's own generator. At the end the
// load stops, everyone resumes and the network drains, so every packet is accounted for.
func workload(seed uint64, size int, d time.Duration) *Network {
	n := New(Config{Seed: seed, RecvQueue: 16, Link: Link{
		Latency: ms(2), Jitter: ms(3), Loss: 0.02, Duplicate: 0.01, Reorder: 0.05,
	}})
	r := n.Rand()
	addrs := make([]netip.AddrPort, size)
	for i := range addrs {
		addrs[i] = addr(i)
	}
	stopped := false
	boot := func(i int) {
		self := addrs[i]
		var msg [16]byte
		n.Attach(self, func(now time.Time, from netip.AddrPort, buf []byte) {
			if !stopped && buf[0] == 'p' && r.IntN(4) == 0 {
				n.Send(self, from, []byte("ack"))
			}
		})
		var tick func(now time.Time)
		tick = func(now time.Time) {
			if stopped {
				return
			}
			to := addrs[r.IntN(size)]
			binary.BigEndian.PutUint64(msg[:], uint64(i))
			binary.BigEndian.PutUint64(msg[8:], uint64(now.UnixNano()))
			msg[0] = 'p'
			n.Send(self, to, msg[:])
			if r.IntN(20) == 0 {
				n.Stream(self, to, bytes.Clone(msg[:]), func(now time.Time, buf []byte) {
					n.Record(buf)
					n.Stream(to, self, []byte("reply"), func(now time.Time, buf []byte) { n.Record(buf) })
				})
			}
			n.At(self, now.Add(ms(100+r.IntN(100))), tick)
		}
		n.At(self, n.Now().Add(ms(r.IntN(200))), tick)
	}
	for i := range addrs {
		boot(i)
	}
	var chaos func(now time.Time)
	chaos = func(now time.Time) {
		if stopped {
			return
		}
		for range 5 {
			i := r.IntN(size)
			switch a := addrs[i]; r.IntN(7) {
			case 0:
				n.Pause(a)
			case 1:
				n.Resume(a)
			case 2:
				n.Detach(a)
			case 3:
				boot(i)
			case 4:
				n.SetLink(a, addrs[r.IntN(size)], Link{Latency: ms(r.IntN(50)), Loss: 0.5})
			case 5:
				var g [3][]netip.AddrPort
				for k := range size / 2 {
					j := r.IntN(size)
					g[k%3] = append(g[k%3], addrs[j])
				}
				n.Partition(g[:]...)
			case 6:
				n.Heal()
			}
		}
		n.At(netip.AddrPort{}, now.Add(ms(50)), chaos)
	}
	n.At(netip.AddrPort{}, n.Now(), chaos)
	n.RunFor(d)
	stopped = true
	for _, a := range addrs {
		n.Resume(a)
	}
	n.RunFor(10 * time.Second)
	return n
}

func TestSameSeedSameRun(t *testing.T) {
	const size = 1000
	d := 3 * time.Second
	if testing.Short() {
		d = time.Second
	}
	a, b := workload(42, size, d), workload(42, size, d)
	if a.TraceSum() != b.TraceSum() {
		t.Fatalf("seed 42 gave two different traces; rerun: go test -run TestSameSeedSameRun ./internal/sim/")
	}
	ca, cb := a.Counters(), b.Counters()
	if ca != cb {
		t.Fatalf("seed 42 gave two different counters:\n%+v\n%+v", ca, cb)
	}
	for i := range size {
		if x, y := a.EndpointCounters(addr(i)), b.EndpointCounters(addr(i)); x != y {
			t.Fatalf("seed 42: endpoint %d counters differ: %+v vs %+v", i, x, y)
		}
	}
	if ca.PacketsDelivered < 10000 || ca.PacketsLost == 0 || ca.PacketsDuplicated == 0 ||
		ca.PacketsBlocked == 0 || ca.PacketsUndeliverable == 0 || ca.PacketsQueueDropped == 0 ||
		ca.StreamsSent == 0 || ca.StreamsRefused == 0 || ca.StreamsBlocked == 0 {
		t.Fatalf("the workload does not exercise every path: %+v", ca)
	}
	// Every packet copy is accounted for once the network has drained.
	if in, out := ca.PacketsSent+ca.PacketsDuplicated,
		ca.PacketsBlocked+ca.PacketsLost+ca.PacketsUndeliverable+ca.PacketsDelivered+ca.PacketsQueueDropped; in != out {
		t.Fatalf("sent+duplicated = %d but blocked+lost+undeliverable+delivered+queue-dropped = %d: %+v", in, out, ca)
	}
	if a.Pending() != 0 {
		t.Fatalf("%d events pending after the drain", a.Pending())
	}

	if c := workload(43, size, d); c.TraceSum() == a.TraceSum() {
		t.Fatalf("seeds 42 and 43 gave the same trace")
	}
}

func TestRandIsSeeded(t *testing.T) {
	x, y, z := New(Config{Seed: 9}), New(Config{Seed: 9}), New(Config{Seed: 10})
	if x.Rand().Uint64() != y.Rand().Uint64() {
		t.Fatalf("the same seed gave different Rand streams")
	}
	if New(Config{Seed: 9}).Rand().Uint64() == z.Rand().Uint64() {
		t.Fatalf("different seeds gave the same Rand stream")
	}
	// The driver's draws do not shift link decisions.
	run := func(draws int) [32]byte {
		n := New(Config{Seed: 1, Link: Link{Latency: ms(1), Jitter: ms(5), Loss: 0.3}})
		for range draws {
			n.Rand().Uint64()
		}
		attachSink(n, addr(1))
		attachSink(n, addr(2))
		for range 100 {
			n.Send(addr(1), addr(2), []byte{1})
		}
		n.RunFor(time.Second)
		return n.TraceSum()
	}
	if run(0) != run(5) {
		t.Fatalf("drawing from Rand changed the link model's decisions")
	}
}
