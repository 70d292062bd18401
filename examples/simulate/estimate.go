package main

// -estimate predicts clusters larger than one machine can simulate, the way serf's
// convergence calculator does, but from measurements: it simulates a range of sizes, fits
// each figure to the law the protocol says it follows, and evaluates the laws at the sizes
// asked for. The laws (n is the cluster size):
//
//   - first suspicion of a crashed member: a constant, about a probe interval: some member
//     probes it within an interval, and the probe fails after ProbeTimeout plus the
//     indirect round.
//   - first death: a + b·log10 n. The suspicion timeout is SuspicionMult·log10(n) probe
//     intervals at its shortest, which confirmations bring it to quickly in a large cluster.
//   - every survivor holds it dead: a + b·log10 n: the first death plus an epidemic of
//     c·log n gossip rounds.
//   - join, the last member to see everyone: a + b·log10 n, gossip rounds again.
//   - UDP bytes and packets per member per second: constants (one probe per interval, the
//     same at any size).
//   - one push/pull state: a + b·n bytes, the whole table. It is measured directly (every
//     member of a converged cluster starts one push/pull in its first PushPullInterval),
//     since a steady window of a few seconds holds no periodic push/pull at all once the
//     interval has grown with the cluster.
//   - stream bytes per member per second follow from it: a member sends its state for the
//     push/pull it starts and for one it answers, once per scale(n) = ceil(log2 n - 5) + 1
//     push/pull intervals past 32 members: 2·state(n) / (scale(n)·PushPullInterval).
//
// Each law is fitted by least squares on every simulated size, and once more without the
// largest: how far that second fit misses the largest size is the error printed, a test of
// the law on a size it has not seen.

import (
	"fmt"
	"math"
	"time"
)

// law is one figure and the form it is fitted to: y = a + b·x(n), or y = a when x is nil.
type law struct {
	figure string
	unit   string
	form   string
	x      func(n float64) float64
	y      func(p predicted) float64
	join   bool // needs the join scenario
}

// fit is a law's constants.
type fit struct{ a, b float64 }

func (f fit) at(l law, n float64) float64 {
	if l.x == nil {
		return f.a
	}
	return f.a + f.b*l.x(n)
}

// leastSquares fits y = a + b·x, or y = a when x is nil.
func leastSquares(l law, ns, ys []float64) fit {
	if l.x == nil {
		var s float64
		for _, y := range ys {
			s += y
		}
		return fit{a: s / float64(len(ys))}
	}
	var sx, sy, sxx, sxy float64
	for i, n := range ns {
		x := l.x(n)
		sx, sy, sxx, sxy = sx+x, sy+ys[i], sxx+x*x, sxy+x*ys[i]
	}
	k := float64(len(ns))
	den := k*sxx - sx*sx
	if den == 0 {
		return fit{a: sy / k}
	}
	b := (k*sxy - sx*sy) / den
	return fit{a: (sy - b*sx) / k, b: b}
}

// pushPullScale is how many push/pull intervals pass between one member's push/pulls at n.
func pushPullScale(n float64) float64 {
	if n <= 32 {
		return 1
	}
	return math.Ceil(math.Log2(n)-5) + 1
}

func estimateLaws() []law {
	log10 := math.Log10
	return []law{
		{"crash: first suspected", "s", "a", nil, func(p predicted) float64 { return p.firstSuspect }, false},
		{"crash: first declared dead", "s", "a + b·log10 n", log10, func(p predicted) float64 { return p.firstDead }, false},
		{"crash: every survivor holds it dead", "s", "a + b·log10 n", log10, func(p predicted) float64 { return p.allDead }, false},
		{"join: last member sees everyone", "s", "a + b·log10 n", log10, func(p predicted) float64 { return p.last }, true},
		{"steady: UDP bytes per member per s", "B", "a", nil, func(p predicted) float64 { return p.bytes }, false},
		{"steady: packets per member per s", "", "a", nil, func(p predicted) float64 { return p.packets }, false},
		{"push/pull: one state", "B", "a + b·n", func(n float64) float64 { return n },
			func(p predicted) float64 { return p.state }, false},
	}
}

// estimate simulates every size in from (the join only up to joinMax members), fits the laws
// and prints their predictions at every size in to.
func estimate(from, to []int, joinMax, seeds int, preset string, spec predictSpec) error {
	if len(from) < 3 {
		return fmt.Errorf("-estimate-from needs at least 3 sizes, to fit two constants and test them on a third")
	}
	cfg := spec.config()
	type point struct {
		n float64
		p predicted
	}
	var points []point
	for _, n := range from {
		s := spec
		s.join = n <= joinMax
		start := time.Now()
		p, err := predict(n, seeds, s)
		if err != nil {
			return err
		}
		fmt.Printf("simulated n=%d in %.1f s\n", n, time.Since(start).Seconds())
		points = append(points, point{float64(n), p})
	}

	fmt.Printf("\nFitted to %d sizes from %d to %d members (%s timings, %d seed(s) each, %v one-way latency):\n\n",
		len(from), from[0], from[len(from)-1], preset, seeds, spec.latency)
	fmt.Print("| figure | law | a | b | error at the largest size, fitted without it |")
	for _, n := range to {
		fmt.Printf(" n=%d |", n)
	}
	fmt.Print("\n| --- | --- | ---: | ---: | ---: |")
	for range to {
		fmt.Print(" ---: |")
	}
	fmt.Println()
	var state fit
	for _, l := range estimateLaws() {
		var ns, ys []float64
		for _, pt := range points {
			if y := l.y(pt.p); y >= 0 && (!l.join || pt.n <= float64(joinMax)) {
				ns, ys = append(ns, pt.n), append(ys, y)
			}
		}
		if len(ns) < 3 {
			fmt.Printf("| %s | %s | - | - | fewer than 3 sizes ran it |\n", l.figure, l.form)
			continue
		}
		all := leastSquares(l, ns, ys)
		held := leastSquares(l, ns[:len(ns)-1], ys[:len(ys)-1])
		last, got := ns[len(ns)-1], ys[len(ys)-1]
		errPct := "-"
		if got != 0 {
			errPct = fmt.Sprintf("%+.0f%% at n=%.0f", 100*(held.at(l, last)-got)/got, last)
		}
		b := "-"
		if l.x != nil {
			b = fmt.Sprintf("%.4g", all.b)
		}
		fmt.Printf("| %s | %s | %.4g | %s | %s |", l.figure, l.form, all.a, b, errPct)
		for _, n := range to {
			fmt.Printf(" %s |", num(all.at(l, float64(n)), l.unit))
		}
		fmt.Println()
		if l.figure == "push/pull: one state" {
			state = all
		}
	}
	interval := cfg.PushPullInterval.Seconds()
	if interval > 0 {
		fmt.Print("| steady: stream bytes per member per s | 2·state(n) / (scale(n)·PushPullInterval) | - | - | - |")
		for _, n := range to {
			perState := state.a + state.b*float64(n)
			fmt.Printf(" %s |", num(2*perState/(pushPullScale(float64(n))*interval), "B"))
		}
		fmt.Println()
	}

	// What the laws leave out, and where they stop holding.
	fmt.Println("\nWhere to stop trusting it:")
	fmt.Printf("- The log10 n laws come from %d to %d members; far past the largest they extrapolate a trend, not a measurement.\n", from[0], from[len(from)-1])
	fmt.Println("- The simulator models latency, jitter and loss, not bandwidth, CPU or socket buffers: a large push/pull is as quick as a small one.")
	for _, n := range to {
		perState := state.a + state.b*float64(n)
		fmt.Printf("- At n=%d one push/pull state is about %s, %.1f ms on a 1 Gbit/s link",
			n, num(perState, "B"), perState*8/1e9*1000)
		if limit := float64(cfg.MaxStreamMessageSize); perState > limit {
			fmt.Printf("; that is over MaxStreamMessageSize (%s): push/pulls fail until it is raised", num(limit, "B"))
		}
		if n > cfg.MaxPushPullNodes {
			fmt.Printf("; it is over MaxPushPullNodes (%d)", cfg.MaxPushPullNodes)
		}
		fmt.Println(".")
	}
	fmt.Printf("- Detection assumes a suspicion gathers its %d confirmations quickly, true past a few dozen members; a lone prober in a small cluster waits up to %d times longer.\n",
		max(0, cfg.SuspicionMult-2), cfg.SuspicionMaxTimeoutMult)
	return nil
}
