// Package sim is a deterministic discrete-event network simulator: a virtual clock, one
// event heap and a link model that moves opaque datagrams and one-shot streams between
// addresses. It knows nothing about SWIM; the driver in the root package attaches protocol
// cores to it and runs whole clusters in virtual time.
//
// Everything runs on the caller's goroutine. Nothing reads the wall clock, nothing sleeps,
// and every random decision comes from a PCG generator seeded from [Config.Seed], so the
// same seed and the same calls give the same run, byte for byte ([Network.TraceSum] proves
// it).
//
// A driver uses it in this order:
//
//  1. [New] a network with a seed and a default [Link].
//  2. [Network.Attach] one [PacketHandler] per endpoint (a process starting).
//  3. From handlers and timers, [Network.Send] datagrams, start [Network.Stream] transfers
//     and schedule callbacks with [Network.At]. Every callback is owned by an endpoint, so a
//     paused endpoint's callbacks wait for [Network.Resume] and a detached endpoint's
//     callbacks never run.
//  4. Break things: [Network.SetLink], [Network.Partition], [Network.Pause],
//     [Network.Detach]; mend them with [Network.Heal], [Network.Resume], [Network.Attach].
//  5. Run virtual time forward with [Network.RunFor], [Network.RunUntil] or
//     [Network.Step], and read [Network.Counters] and [Network.TraceSum].
//
// For example:
//
//	n := sim.New(sim.Config{Seed: 1, Link: sim.Link{Latency: time.Millisecond}})
//	a := netip.MustParseAddrPort("10.0.0.1:7946")
//	b := netip.MustParseAddrPort("10.0.0.2:7946")
//	n.Attach(a, func(now time.Time, from netip.AddrPort, buf []byte) {})
//	n.Attach(b, func(now time.Time, from netip.AddrPort, buf []byte) {
//		n.Send(b, from, buf) // echo
//	})
//	n.At(a, n.Now(), func(now time.Time) { n.Send(a, b, []byte("ping")) })
//	n.RunFor(time.Second)
//
// The package has one file per concern: network.go (the clock and the run loop), heap.go
// (the event heap and the event slab), link.go (the link model, partitions, sends and
// streams), endpoint.go (attach, detach, pause, resume, owned events) and trace.go (the
// running hash).
package sim
