package main

// Sweeps: one scenario over many seeds, presets and cluster sizes, reporting the slowest
// seed as well as the median. A median hides stragglers; a user deciding whether a leave or a
// death reaches every member in time wants the worst case over many runs.

import (
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/swim-go/swim"
)

// sweepCase is one preset, size and scenario, run over many seeds.
type sweepCase struct {
	preset   string
	n        int
	scenario string
	figures  []sweepFigure // one per seed, in seed order
}

// sweepFigure is what one seed measured: the scenario's straggler figure and the false
// alarms.
type sweepFigure struct {
	seed      uint64
	s         float64 // -1: did not happen within -duration
	falseDead int
}

// stragglerFigure is the time that tells whether a change reached the last member promptly:
// for a join, the last member seeing everyone; for a crash, the gap from the first member
// declaring it dead to the last; for a leave, the last member seeing it.
func stragglerFigure(r swim.SimReport) float64 {
	switch r.Scenario {
	case swim.ScenarioJoin:
		return r.LastMemberS
	case swim.ScenarioFail:
		if r.AllDeadS < 0 || r.FirstDeadS < 0 {
			return -1
		}
		return r.AllDeadS - r.FirstDeadS
	case swim.ScenarioLeave:
		return r.LeftAllS
	}
	return r.ConvergedS
}

func figureName(scenario string) string {
	switch scenario {
	case swim.ScenarioJoin:
		return "last member saw everyone (s)"
	case swim.ScenarioFail:
		return "first to last declared dead (s)"
	case swim.ScenarioLeave:
		return "leave seen by all (s)"
	}
	return "converged (s)"
}

// sweep runs every case over seeds first..first+seeds-1, on all cores, and prints a table.
// A seed whose figure is over late counts as late.
func sweep(presets []string, sizes []int, scenarios []string, first uint64, seeds int, late float64, base swim.SimConfig) error {
	var cases []*sweepCase
	for _, sc := range scenarios {
		for _, p := range presets {
			for _, n := range sizes {
				cases = append(cases, &sweepCase{preset: p, n: n, scenario: sc, figures: make([]sweepFigure, seeds)})
			}
		}
	}
	type job struct {
		c *sweepCase
		i int
	}
	jobs := make(chan job)
	errs := make(chan error, 1)
	prog := newSweepProgress(len(cases) * seeds)
	defer prog.done()
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				cfg, err := presetConfig(j.c.preset)
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					continue
				}
				sc := base
				sc.Nodes, sc.Scenario, sc.Config, sc.Seed = j.c.n, j.c.scenario, cfg, first+uint64(j.i)
				r, err := swim.Simulate(sc)
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					continue
				}
				j.c.figures[j.i] = sweepFigure{seed: sc.Seed, s: stragglerFigure(r), falseDead: r.FalseDead}
				prog.ranOne()
			}
		}()
	}
	for _, c := range cases {
		for i := range seeds {
			jobs <- job{c, i}
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	fmt.Printf("| scenario: figure | preset | n | seeds | median | p99 | slowest (seed) | over %g s | never | false deaths |\n", late)
	fmt.Println("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, c := range cases {
		var times []float64
		never, falseDead, over := 0, 0, 0
		worst := sweepFigure{s: -1}
		for _, f := range c.figures {
			falseDead += f.falseDead
			if f.s < 0 {
				never++
				continue
			}
			times = append(times, f.s)
			if f.s > late {
				over++
			}
			if f.s > worst.s {
				worst = f
			}
		}
		slices.Sort(times)
		med, p99 := "-", "-"
		if len(times) > 0 {
			med = fmt.Sprintf("%.2f", times[len(times)/2])
			p99 = fmt.Sprintf("%.2f", times[min(len(times)-1, len(times)*99/100)])
		}
		slowest := "-"
		if worst.s >= 0 {
			slowest = fmt.Sprintf("%.2f (%d)", worst.s, worst.seed)
		}
		fmt.Printf("| %s: %s | %s | %d | %d | %s | %s | %s | %d | %d | %d |\n", c.scenario, figureName(c.scenario), c.preset, c.n, seeds, med, p99, slowest, over, never, falseDead)
	}
	return nil
}

// flapHoldDown, when not negative, replaces the presets' Config.FlapHoldDown.
var flapHoldDown time.Duration = -1

// presetConfig returns a fresh config for a preset name.
func presetConfig(name string) (*swim.Config, error) {
	var cfg *swim.Config
	switch name {
	case "lan":
		cfg = swim.DefaultLANConfig()
	case "wan":
		cfg = swim.DefaultWANConfig()
	case "local":
		cfg = swim.DefaultLocalConfig()
	default:
		return nil, fmt.Errorf("unknown -config %q (want lan, wan or local)", name)
	}
	if flapHoldDown >= 0 {
		cfg.FlapHoldDown = flapHoldDown
	}
	return cfg, nil
}

// splitList splits a comma-separated flag value.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// parseSizes parses a comma-separated list of cluster sizes.
func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 2 {
			return nil, fmt.Errorf("bad -n %q: want sizes of at least 2, comma-separated", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-n is empty")
	}
	return out, nil
}
