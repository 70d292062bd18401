package sim

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/swim-go/swim/internal/later"
)

// addr is test endpoint i: 10.x.y.z:7946.
func addr(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 7946)
}

// ms is a shorthand for a number of milliseconds.
func ms(v int) time.Duration { return time.Duration(v) * time.Millisecond }

// at is the virtual time d after n's epoch.
func at(n *Network, d time.Duration) time.Time { return n.start.Add(d) }

// elapsed is n's virtual time since its epoch.
func elapsed(n *Network) time.Duration { return n.Now().Sub(n.start) }

// sink attaches addr with a handler that records arrivals.
type sink struct {
	times []time.Duration
	froms []netip.AddrPort
	bufs  [][]byte
}

func attachSink(n *Network, a netip.AddrPort) *sink {
	s := &sink{}
	n.Attach(a, func(now time.Time, from netip.AddrPort, buf []byte) {
		s.times = append(s.times, now.Sub(n.start))
		s.froms = append(s.froms, from)
		s.bufs = append(s.bufs, slices.Clone(buf))
	})
	return s
}

// within fails unless got is within tol of want.
func within(t *testing.T, why string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Fatalf("%s: got %.4f, want %.4f ± %.4f", why, got, want, tol)
	}
}

// equal fails unless got == want.
func equal[T comparable](t *testing.T, why string, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got %v, want %v", why, got, want)
	}
}

func TestDefaults(t *testing.T) {
	n := New(Config{})
	equal(t, "the zero Start is 2020-01-01 UTC", n.Now(), time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	equal(t, "the zero RecvQueue is the default", n.recvQueue, DefaultRecvQueue)
	equal(t, "an empty network has nothing to step", n.Step(), false)
	start := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	equal(t, "Start is the epoch", New(Config{Start: start}).Now(), start)
}

func TestEventsRunInOrderOfTimeThenInsertion(t *testing.T) {
	n := New(Config{Seed: 1})
	var got []int
	add := func(id int, d time.Duration) {
		n.At(netip.AddrPort{}, at(n, d), func(time.Time) { got = append(got, id) })
	}
	add(0, ms(30))
	add(1, ms(10))
	add(2, ms(20))
	add(3, ms(10))
	add(4, ms(20))
	add(5, 0)
	add(6, ms(10))
	for n.Step() {
	}
	want := []int{5, 1, 3, 6, 2, 4, 0}
	if !slices.Equal(got, want) {
		t.Fatalf("events ran in order %v, want %v (by time, then insertion)", got, want)
	}
	equal(t, "the clock stops at the last event", elapsed(n), ms(30))
}

func TestAtInThePastRunsNow(t *testing.T) {
	n := New(Config{})
	n.RunFor(time.Second)
	var ran time.Duration = -1
	n.At(netip.AddrPort{}, at(n, ms(100)), func(now time.Time) { ran = now.Sub(n.start) })
	var order []string
	n.At(netip.AddrPort{}, at(n, time.Second), func(time.Time) { order = append(order, "now") })
	n.At(netip.AddrPort{}, at(n, 0), func(time.Time) { order = append(order, "past") })
	n.RunFor(0)
	equal(t, "an event in the past runs at Now", ran, time.Second)
	if !slices.Equal(order, []string{"now", "past"}) {
		t.Fatalf("a past event is ordered as if scheduled at Now, by insertion: got %v", order)
	}
}

func TestRunUntil(t *testing.T) {
	n := New(Config{})
	g := netip.AddrPort{}
	var ran []time.Duration
	var tick func(now time.Time)
	tick = func(now time.Time) {
		ran = append(ran, now.Sub(n.start))
		n.At(g, now.Add(ms(100)), tick)
	}
	n.At(g, at(n, ms(100)), tick)
	n.RunUntil(at(n, ms(350)))
	if !slices.Equal(ran, []time.Duration{ms(100), ms(200), ms(300)}) {
		t.Fatalf("RunUntil ran the events it scheduled itself up to the limit: got %v", ran)
	}
	equal(t, "RunUntil leaves the clock at its limit", elapsed(n), ms(350))
	equal(t, "the next tick is still pending", n.Pending(), 1)

	n.RunUntil(at(n, ms(400)))
	equal(t, "an event exactly at the limit runs", len(ran), 4)

	n.RunUntil(at(n, ms(10)))
	equal(t, "RunUntil in the past never moves the clock back", elapsed(n), ms(400))

	n.RunFor(ms(250))
	equal(t, "RunFor runs relative to Now", elapsed(n), ms(650))
	equal(t, "RunFor ran ticks at 500 and 600", len(ran), 6)

	equal(t, "Step runs one event", n.Step(), true)
	equal(t, "Step moves the clock to the event", elapsed(n), ms(700))
}

func TestHeapMatchesSort(t *testing.T) {
	n := New(Config{})
	r := rand.New(rand.NewPCG(1, 2))
	var want []entry
	var got []entry
	for round := range 50 {
		for range r.IntN(200) {
			at := r.Int64N(100)
			s := n.alloc()
			n.push(at, s)
			want = append(want, entry{at: at, seq: n.seq, slot: s})
		}
		n.checkHeap()
		for range r.IntN(len(n.heap) + 1) {
			got = append(got, n.pop())
		}
		if round == 49 {
			for len(n.heap) > 0 {
				got = append(got, n.pop())
			}
		}
	}
	// Everything popped in one batch must be in order; overall the multiset must match.
	sort.Slice(want, func(i, j int) bool { return want[i].seq < want[j].seq })
	gs := slices.Clone(got)
	sort.Slice(gs, func(i, j int) bool { return gs[i].seq < gs[j].seq })
	if !slices.Equal(gs, want) {
		t.Fatalf("the heap lost or invented entries")
	}

	// A pure sort check: push all, pop all.
	n = New(Config{})
	want = want[:0]
	for range 10000 {
		at := r.Int64N(1000)
		n.push(at, 0)
		want = append(want, entry{at: at, seq: n.seq})
	}
	sort.Slice(want, func(i, j int) bool { return want[i].before(&want[j]) })
	for i := range want {
		if e := n.pop(); e != want[i] {
			t.Fatalf("pop %d: got %+v, want %+v", i, e, want[i])
		}
	}
}

func TestSendDeliversAfterLatencyWithACopy(t *testing.T) {
	n := New(Config{Link: Link{Latency: ms(5)}})
	a, b := addr(1), addr(2)
	attachSink(n, a)
	sb := attachSink(n, b)
	buf := []byte("hello")
	n.Send(a, b, buf)
	buf[0] = 'J'
	n.RunFor(time.Second)
	equal(t, "one packet arrives", len(sb.bufs), 1)
	equal(t, "Send copies the payload", string(sb.bufs[0]), "hello")
	equal(t, "it arrives after the latency", sb.times[0], ms(5))
	equal(t, "it comes from the sender", sb.froms[0], a)
	c := n.Counters()
	equal(t, "counted sent", c.PacketsSent, 1)
	equal(t, "counted bytes", c.BytesSent, 5)
	equal(t, "counted delivered", c.PacketsDelivered, 1)
	ea, eb := n.EndpointCounters(a), n.EndpointCounters(b)
	equal(t, "sender counters", ea, EndpointCounters{PacketsSent: 1, BytesSent: 5})
	equal(t, "receiver counters", eb, EndpointCounters{PacketsReceived: 1, BytesReceived: 5})
	equal(t, "unknown address has zero counters", n.EndpointCounters(addr(99)), EndpointCounters{})

	n.Send(a, addr(99), buf)
	equal(t, "a packet to nobody is undeliverable", n.Counters().PacketsUndeliverable, 1)
}

func TestLossRate(t *testing.T) {
	const total = 100_000
	for _, loss := range []float64{0, 0.01, 0.1, 0.5, 1} {
		n := New(Config{Seed: 7, Link: Link{Latency: ms(1), Loss: loss}})
		a, b := addr(1), addr(2)
		attachSink(n, a)
		var got int
		n.Attach(b, func(time.Time, netip.AddrPort, []byte) { got++ })
		for range total {
			n.Send(a, b, []byte{1})
		}
		n.RunFor(time.Second)
		c := n.Counters()
		sd := math.Sqrt(total * loss * (1 - loss))
		within(t, "packets lost", float64(c.PacketsLost), total*loss, 5*sd)
		equal(t, "every packet is delivered or lost", c.PacketsDelivered+c.PacketsLost, uint64(total))
		equal(t, "the handler saw every delivered packet", uint64(got), c.PacketsDelivered)
	}
}

func TestDuplicate(t *testing.T) {
	const total, dup = 100_000, 0.2
	n := New(Config{Seed: 3, Link: Link{Latency: ms(10), Jitter: ms(10), Duplicate: dup}})
	a, b := addr(1), addr(2)
	attachSink(n, a)
	seen := make(map[uint32]int)
	n.Attach(b, func(_ time.Time, _ netip.AddrPort, buf []byte) {
		seen[uint32(buf[0])|uint32(buf[1])<<8|uint32(buf[2])<<16]++
	})
	for i := range total {
		n.Send(a, b, []byte{byte(i), byte(i >> 8), byte(i >> 16)})
	}
	n.RunFor(time.Second)
	c := n.Counters()
	within(t, "duplicates", float64(c.PacketsDuplicated), total*dup, 5*math.Sqrt(total*dup*(1-dup)))
	equal(t, "each duplicate is delivered", c.PacketsDelivered, total+c.PacketsDuplicated)
	twice := 0
	for _, k := range seen {
		if k > 2 {
			t.Fatalf("a packet was delivered %d times", k)
		}
		if k == 2 {
			twice++
		}
	}
	equal(t, "packets delivered twice", uint64(twice), c.PacketsDuplicated)
	equal(t, "every packet arrived", len(seen), total)
}

func TestJitterReorders(t *testing.T) {
	n := New(Config{Seed: 5, Link: Link{Latency: ms(10), Jitter: ms(5)}})
	a, b := addr(1), addr(2)
	attachSink(n, a)
	sb := attachSink(n, b)
	const total = 1000
	sent := make([]time.Duration, total)
	g := netip.AddrPort{}
	for i := range total {
		d := time.Duration(i) * 100 * time.Microsecond
		sent[i] = d
		n.At(g, at(n, d), func(time.Time) { n.Send(a, b, []byte{byte(i), byte(i >> 8)}) })
	}
	n.RunFor(time.Second)
	equal(t, "every packet arrives", len(sb.bufs), total)
	inversions := 0
	prev := -1
	for k, buf := range sb.bufs {
		i := int(buf[0]) | int(buf[1])<<8
		if i < prev {
			inversions++
		}
		prev = i
		delay := sb.times[k] - sent[i]
		if delay < ms(10) || delay >= ms(15) {
			t.Fatalf("packet %d took %v, want within [10ms, 15ms)", i, delay)
		}
	}
	if inversions < total/10 {
		t.Fatalf("jitter of 5ms over packets 0.1ms apart reordered only %d of %d", inversions, total)
	}

	n = New(Config{Seed: 5, Link: Link{Latency: ms(10)}})
	attachSink(n, a)
	sb = attachSink(n, b)
	for i := range total {
		n.At(g, at(n, time.Duration(i)*time.Microsecond), func(time.Time) { n.Send(a, b, []byte{byte(i), byte(i >> 8)}) })
	}
	n.RunFor(time.Second)
	for k, buf := range sb.bufs {
		if i := int(buf[0]) | int(buf[1])<<8; i != k {
			t.Fatalf("without jitter packets arrive in order: got %d at position %d", i, k)
		}
	}
}

func TestReorderProbability(t *testing.T) {
	const total, p = 100_000, 0.3
	lat := ms(10)
	n := New(Config{Seed: 11, Link: Link{Latency: lat, Reorder: p}})
	a, b := addr(1), addr(2)
	attachSink(n, a)
	held := 0
	n.Attach(b, func(now time.Time, _ netip.AddrPort, _ []byte) {
		d := now.Sub(n.start)
		if d < lat || d >= lat+4*lat {
			t.Fatalf("a packet took %v, want within [%v, %v)", d, lat, 5*lat)
		}
		if d > lat {
			held++
		}
	})
	for range total {
		n.Send(a, b, []byte{0})
	}
	n.RunFor(time.Second)
	within(t, "share of packets held back", float64(held)/total, p, 5*math.Sqrt(p*(1-p)/total))

	// With a zero latency the hold-back is still up to 4ms.
	n = New(Config{Seed: 11, Link: Link{Reorder: 1}})
	attachSink(n, a)
	sb := attachSink(n, b)
	for range 1000 {
		n.Send(a, b, []byte{0})
	}
	n.RunFor(time.Second)
	if m := slices.Max(sb.times); m < ms(3) || m >= ms(4) {
		t.Fatalf("the longest hold-back on a zero-latency link was %v, want within [3ms, 4ms)", m)
	}
}

func TestSetLinkOverridesOneDirection(t *testing.T) {
	n := New(Config{Link: Link{Latency: ms(1)}})
	a, b := addr(1), addr(2)
	sa, sb := attachSink(n, a), attachSink(n, b)
	n.SetLink(a, b, Link{Latency: ms(50)})
	n.Send(a, b, []byte{1})
	n.Send(b, a, []byte{1})
	n.RunFor(time.Second)
	equal(t, "the overridden direction", sb.times[0], ms(50))
	equal(t, "the other direction keeps the default", sa.times[0], ms(1))

	n.SetDefaultLink(Link{Latency: ms(7), Loss: 1})
	n.Send(b, a, []byte{1})
	n.Send(a, b, []byte{1})
	n.RunFor(time.Second)
	equal(t, "the new default loses everything", len(sa.times), 1)
	equal(t, "the override is untouched by the default", len(sb.times), 2)
}

func TestPartitionBlocksPacketsAndStreams(t *testing.T) {
	n := New(Config{Link: Link{Latency: ms(1)}})
	a, b, c, d := addr(1), addr(2), addr(3), addr(4)
	var got [5]int
	for i := 1; i <= 4; i++ {
		n.Attach(addr(i), func(time.Time, netip.AddrPort, []byte) { got[i]++ })
	}
	var streamed int
	deliver := func(time.Time, []byte) { streamed++ }

	n.Partition([]netip.AddrPort{a, b}, []netip.AddrPort{c})
	n.Send(a, c, []byte{1})
	n.Send(c, b, []byte{1})
	equal(t, "a stream across the partition", n.Stream(a, c, []byte{1}, deliver), Blocked)
	n.Send(a, b, []byte{1})
	n.Send(d, c, []byte{1})
	n.Send(a, d, []byte{1})
	equal(t, "a stream from an unlisted endpoint", n.Stream(d, c, []byte{1}, deliver), Sent)
	n.RunFor(time.Second)
	equal(t, "c hears only from d", got[3], 1)
	equal(t, "b hears from a in its group", got[2], 1)
	equal(t, "d, unlisted, hears from a", got[4], 1)
	equal(t, "the unlisted stream arrives", streamed, 1)
	cs := n.Counters()
	equal(t, "packets blocked", cs.PacketsBlocked, 2)
	equal(t, "streams blocked", cs.StreamsBlocked, 1)

	n.Partition([]netip.AddrPort{a}, []netip.AddrPort{b})
	n.Send(a, c, []byte{1})
	n.RunFor(time.Second)
	equal(t, "a new partition replaces the old", got[3], 2)

	n.Heal()
	n.Send(a, b, []byte{1})
	equal(t, "a stream after Heal", n.Stream(b, a, []byte{1}, deliver), Sent)
	n.RunFor(time.Second)
	equal(t, "Heal restores packets", got[2], 2)
	equal(t, "Heal restores streams", streamed, 2)
}

func TestStream(t *testing.T) {
	n := New(Config{Seed: 2, Link: Link{Latency: ms(3), Jitter: ms(2), Duplicate: 1, Reorder: 1}})
	a, b := addr(1), addr(2)
	attachSink(n, a)
	attachSink(n, b)
	var when []time.Duration
	var got []string
	buf := []byte("request")
	for range 100 {
		st := n.Stream(a, b, buf, func(now time.Time, buf []byte) {
			when = append(when, now.Sub(n.start))
			got = append(got, string(buf))
		})
		equal(t, "a stream to an attached peer", st, Sent)
	}
	n.RunFor(time.Second)
	equal(t, "streams ignore duplication", len(got), 100)
	for i := range got {
		equal(t, "a stream delivers the payload", got[i], "request")
		if when[i] < ms(3) || when[i] >= ms(5) {
			t.Fatalf("a stream took %v, want within [3ms, 5ms) (no reorder hold-back)", when[i])
		}
	}
	c := n.Counters()
	equal(t, "streams sent", c.StreamsSent, 100)
	equal(t, "stream bytes", c.StreamBytes, 700)
	equal(t, "stream bytes of the sender", n.EndpointCounters(a).StreamBytesSent, 700)
	equal(t, "streams are not packets", c.PacketsSent, 0)

	n.Detach(b)
	equal(t, "a stream to a detached peer", n.Stream(a, b, buf, nil), Refused)
	equal(t, "a stream to an unknown address", n.Stream(a, addr(9), buf, nil), Refused)
	equal(t, "a stream from a detached sender", n.Stream(b, a, buf, nil), Blocked)
	equal(t, "streams refused", n.Counters().StreamsRefused, 2)

	n.Attach(b, nil)
	ran := false
	equal(t, "a stream to a restarted peer", n.Stream(a, b, buf, func(time.Time, []byte) { ran = true }), Sent)
	n.Detach(b)
	n.RunFor(time.Second)
	equal(t, "a stream in flight to a crashed peer is never delivered", ran, false)
	equal(t, "status names", Blocked.String(), "blocked")
}

func TestDetachDiscardsPendingEvents(t *testing.T) {
	n := New(Config{Link: Link{Latency: ms(10)}})
	a, b := addr(1), addr(2)
	attachSink(n, a)
	sb := attachSink(n, b)
	ran := 0
	n.At(b, at(n, ms(5)), func(time.Time) { ran++ })
	n.At(b, at(n, ms(50)), func(time.Time) { ran++ })
	n.Send(a, b, []byte{1})
	n.Send(a, b, []byte{2})
	equal(t, "four events pending", n.Pending(), 4)
	n.RunFor(ms(6))
	equal(t, "the first timer ran", ran, 1)

	n.Detach(b)
	equal(t, "Detach discards b's pending events", n.Pending(), 0)
	n.At(b, at(n, ms(7)), func(time.Time) { ran++ })
	equal(t, "At for a detached endpoint is ignored", n.Pending(), 0)
	n.Send(a, b, []byte{3})
	n.RunFor(time.Second)
	equal(t, "no more of b's timers ran", ran, 1)
	equal(t, "no packets reached b", len(sb.bufs), 0)
	equal(t, "in-flight and later packets are undeliverable", n.Counters().PacketsUndeliverable, 3)
	equal(t, "Detach of a detached endpoint is harmless", func() bool { n.Detach(b); n.Detach(addr(9)); return true }(), true)
}

func TestReattachIsAFreshIncarnation(t *testing.T) {
	n := New(Config{Link: Link{Latency: ms(10)}})
	a, b := addr(1), addr(2)
	attachSink(n, a)
	old := attachSink(n, b)
	var ran []string
	n.At(b, at(n, ms(100)), func(time.Time) { ran = append(ran, "old") })
	n.Send(a, b, []byte("to old"))
	n.RunFor(ms(1))
	n.Detach(b)
	fresh := attachSink(n, b)
	n.At(b, at(n, ms(100)), func(time.Time) { ran = append(ran, "new") })
	n.Send(a, b, []byte("to new"))
	n.RunFor(time.Second)
	if !slices.Equal(ran, []string{"new"}) {
		t.Fatalf("after a restart only the new incarnation's timers run: got %v", ran)
	}
	equal(t, "the old handler got nothing", len(old.bufs), 0)
	equal(t, "the new handler got the packet sent to it", len(fresh.bufs), 1)
	equal(t, "and only that one", string(fresh.bufs[0]), "to new")
	equal(t, "the old incarnation's packet is undeliverable", n.Counters().PacketsUndeliverable, 1)

	// Attach over a live endpoint is a restart too.
	n.At(b, at(n, ms(2000)), func(time.Time) { ran = append(ran, "lost") })
	n.Attach(b, nil)
	n.RunFor(time.Second * 2)
	equal(t, "Attach over an attached endpoint discards its events", len(ran), 1)
	equal(t, "no events left", n.Pending(), 0)
}

func TestPauseDefersEventsInOrder(t *testing.T) {
	n := New(Config{Link: Link{Latency: ms(10)}})
	a, b := addr(1), addr(2)
	attachSink(n, a)
	var log []string
	var when []time.Duration
	note := func(s string, now time.Time) {
		log = append(log, s)
		when = append(when, now.Sub(n.start))
	}
	n.Attach(b, func(now time.Time, _ netip.AddrPort, buf []byte) { note(string(buf), now) })
	n.At(b, at(n, ms(30)), func(now time.Time) { note("t30", now) })
	n.At(b, at(n, ms(5)), func(now time.Time) { note("t5", now) })
	n.At(b, at(n, ms(200)), func(now time.Time) { note("t200", now) })
	n.At(netip.AddrPort{}, at(n, ms(20)), func(now time.Time) { note("global20", now) })
	n.Send(a, b, []byte("p10"))
	n.At(a, at(n, ms(15)), func(time.Time) { n.Send(a, b, []byte("p25")) })

	n.Pause(b)
	equal(t, "Paused", n.Paused(b), true)
	n.RunFor(ms(100))
	if !slices.Equal(log, []string{"global20"}) {
		t.Fatalf("a paused endpoint runs nothing; global events still run: got %v", log)
	}
	equal(t, "set-aside events are still pending", n.Pending(), 5)
	n.At(b, at(n, ms(100)), func(now time.Time) { note("early", now) })
	n.Resume(b)
	n.At(b, at(n, ms(100)), func(now time.Time) { note("later", now) })
	equal(t, "Paused after Resume", n.Paused(b), false)
	n.RunFor(time.Second)
	want := []string{"global20", "early", "t5", "p10", "p25", "t30", "later", "t200"}
	if !slices.Equal(log, want) {
		t.Fatalf("deferred events run at Resume in the order they came due, before anything scheduled later:\ngot  %v\nwant %v", log, want)
	}
	for i := 1; i <= 6; i++ {
		equal(t, "deferred events run at the resume time", when[i], ms(100))
	}
	equal(t, "undeferred events keep their time", when[7], ms(200))
	n.Resume(b)
	n.Resume(addr(9))
	equal(t, "Paused of an unknown address", n.Paused(addr(9)), false)
}

func TestPauseQueuesPacketsUpToRecvQueue(t *testing.T) {
	n := New(Config{RecvQueue: 10, Link: Link{Latency: ms(1)}})
	a, b := addr(1), addr(2)
	attachSink(n, a)
	sb := attachSink(n, b)
	n.Pause(b)
	for i := range 25 {
		n.Send(a, b, []byte{byte(i)})
	}
	// Timers don't count against the receive queue.
	timers := 0
	for range 20 {
		n.At(b, n.Now(), func(time.Time) { timers++ })
	}
	n.RunFor(ms(50))
	equal(t, "nothing reaches a paused endpoint", len(sb.bufs), 0)
	equal(t, "packets beyond the queue are dropped", n.Counters().PacketsQueueDropped, 15)
	n.Resume(b)
	n.RunFor(0)
	equal(t, "the queued packets arrive at Resume", len(sb.bufs), 10)
	equal(t, "all timers run at Resume", timers, 20)
	for i, buf := range sb.bufs {
		equal(t, "queued packets arrive in order", int(buf[0]), i)
	}
	c := n.Counters()
	equal(t, "delivered plus queue-dropped is sent", c.PacketsDelivered+c.PacketsQueueDropped, c.PacketsSent)

	// A crash while paused loses the queue.
	n.Pause(b)
	n.Send(a, b, []byte{1})
	n.RunFor(ms(50))
	n.Detach(b)
	equal(t, "a crash drops queued packets", n.Counters().PacketsUndeliverable, 1)
	equal(t, "a crash clears the pause", n.Paused(b), false)
	equal(t, "nothing pending", n.Pending(), 0)

	// A negative RecvQueue holds nothing.
	n = New(Config{RecvQueue: -1})
	attachSink(n, a)
	attachSink(n, b)
	n.Pause(b)
	n.Send(a, b, []byte{1})
	n.RunFor(ms(1))
	equal(t, "no receive queue", n.Counters().PacketsQueueDropped, 1)
}

func TestPausedSenderSendsNothing(t *testing.T) {
	n := New(Config{})
	a, b := addr(1), addr(2)
	attachSink(n, a)
	sb := attachSink(n, b)
	n.Pause(a)
	n.Send(a, b, []byte{1})
	equal(t, "a paused sender's stream", n.Stream(a, b, []byte{1}, nil), Blocked)
	n.Detach(a)
	n.Send(a, b, []byte{1})
	n.Send(addr(9), b, []byte{1})
	n.RunFor(time.Second)
	equal(t, "nothing arrives", len(sb.bufs), 0)
	equal(t, "nothing counts as sent", n.Counters().PacketsSent, 0)
	equal(t, "Pause of a detached endpoint does nothing", func() bool { n.Pause(a); return n.Paused(a) }(), false)
}

func TestCallbacksMayScheduleWhileRunning(t *testing.T) {
	// Grow the slab from inside a callback: dispatch must not hold a stale pointer.
	n := New(Config{})
	g := netip.AddrPort{}
	count := 0
	n.At(g, n.Now(), func(now time.Time) {
		for range 1000 {
			n.At(g, now, func(time.Time) { count++ })
		}
	})
	for n.Step() {
	}
	equal(t, "all nested events ran", count, 1000)
	equal(t, "nothing pending", n.Pending(), 0)
}

// A lost segment costs a stream a retransmission timeout, so heavy loss makes it late, and a
// segment lost on every try loses the connection. The handshake crosses both directions.
func TestStreamLossDelays(t *testing.T) {
	n := New(Config{Seed: 3, Link: Link{Latency: ms(1), Loss: 0.5}})
	a, b := addr(1), addr(2)
	attachSink(n, a)
	attachSink(n, b)
	var delivered, late, blocked int
	for range 1000 {
		st := n.Stream(a, b, []byte("x"), func(now time.Time, _ []byte) {
			delivered++
			if now.Sub(n.start) >= time.Second {
				late++
			}
		})
		if st == Blocked {
			blocked++
		}
	}
	n.RunFor(10 * time.Minute)
	equal(t, "every stream arrives or is lost", delivered+blocked, 1000)
	equal(t, "lost streams are counted", n.Counters().StreamsLost, uint64(blocked))
	// A handshake try fails with probability 1-(1-0.5)^2 = 0.75; all 7 fail 13% of the time.
	if blocked < 100 || blocked > 170 {
		t.Fatalf("%d of 1000 streams lost at 50%% loss each way, want about 133", blocked)
	}
	// Of those delivered, a first try fails 0.75 of the time: (0.75-0.133)/0.867 = 71% late.
	if late < 560 || late > 670 {
		t.Fatalf("%d of %d delivered streams were delayed by a lost handshake, want about 615", late, delivered)
	}
}

// With the links into b dead, a stream from b fails too: its SYN-ACK never comes back.
func TestStreamOverADeadReturnPathIsLost(t *testing.T) {
	n := New(Config{Seed: 3, Link: Link{Latency: ms(1)}})
	a, b := addr(1), addr(2)
	attachSink(n, a)
	attachSink(n, b)
	n.SetLink(a, b, Link{Latency: ms(1), Loss: 1})
	for _, from := range []netip.AddrPort{a, b} {
		to := a
		if from == a {
			to = b
		}
		st := n.Stream(from, to, []byte("x"), func(time.Time, []byte) { t.Fatalf("a stream %v -> %v arrived", from, to) })
		equal(t, "the stream is lost", st, Blocked)
	}
	n.RunFor(10 * time.Minute)
	equal(t, "both counted", n.Counters().StreamsLost, uint64(2))
}

// A datagram still being worked out when it is sent takes the path a datagram sent whole
// takes: the same losses, copies, times, bytes, counters and trace.
func TestSendLaterIsSend(t *testing.T) {
	run := func(lazy bool) ([32]byte, Counters, EndpointCounters, *sink) {
		n := New(Config{Seed: 9, Link: Link{Latency: ms(1), Jitter: ms(2), Loss: 0.2, Duplicate: 0.2}})
		n.Attach(addr(1), func(time.Time, netip.AddrPort, []byte) {})
		s := attachSink(n, addr(2))
		for i := range 300 {
			payload := []byte{byte(i), byte(i >> 8), 42}
			n.At(addr(1), at(n, ms(i)), func(time.Time) {
				if lazy {
					n.SendLater(addr(1), addr(2), later.Start(func() []byte { return payload }))
				} else {
					n.Send(addr(1), addr(2), payload)
				}
			})
		}
		n.RunFor(ms(400))
		return n.TraceSum(), n.Counters(), n.EndpointCounters(addr(1)), s
	}
	sumA, cA, eA, sA := run(false)
	sumB, cB, eB, sB := run(true)
	if sumA != sumB || cA != cB || eA != eB {
		t.Fatalf("sent whole: %x %+v %+v; sent later: %x %+v %+v", sumA, cA, eA, sumB, cB, eB)
	}
	if !slices.Equal(sA.times, sB.times) || !slices.EqualFunc(sA.bufs, sB.bufs, slices.Equal) {
		t.Fatal("the arrivals differ")
	}
	if cA.PacketsLost == 0 || cA.PacketsDuplicated == 0 || cA.BytesSent != 900 {
		t.Fatalf("the run should lose and duplicate some of 300 datagrams of 3 bytes: %+v", cA)
	}
}
