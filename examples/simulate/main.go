// Command simulate runs a swim cluster in the deterministic simulator and reports how the
// protocol behaves for a given cluster size, network and configuration: how fast members
// converge, how fast a failure is known everywhere, how often a healthy member is wrongly
// accused, and what it costs on the network. Everything runs in virtual time, so a thousand
// members for a few virtual minutes take seconds, and the same seed gives the same run.
//
//	go run ./examples/simulate -n 100 -scenario fail
//	go run ./examples/simulate -n 200 -scenario loss -loss 0.2 -duration 10m -json
//
// With -seeds, or with lists for -n, -config or -scenario, it sweeps instead: every
// combination over that many seeds, reporting the median and the slowest seed of the figure
// that shows stragglers (the last member to see a join, a leave, or a death):
//
//	go run ./examples/simulate -seeds 100 -n 8,32,128,1000 -config local,lan -scenario leave,fail
//
// With -ring, every member keeps a hash ring (package ring) on its own events, and the run
// reports how long after a join and after a crash every live member's ring agrees, next to
// membership's own convergence:
//
//	go run ./examples/simulate -ring -n 100,1000 -config local -seeds 3
//
// With -calibrate, it puts its predictions next to a real run of internal/interop/cmd/compare
// saved with -json:
//
//	go run ./examples/simulate -calibrate compare.json -latency 100us
//
// With -estimate, it simulates a range of sizes, fits each figure to the protocol's scaling
// law and predicts clusters too large to simulate here:
//
//	go run ./examples/simulate -estimate -n 10000,100000
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/swim-go/swim"
)

func main() {
	var (
		sizes     = flag.String("n", "50", "number of members (a comma-separated list sweeps)")
		scenario  = flag.String("scenario", "fail", "join, fail, leave, loss, partition, pause, ingress-loss or flipflop (a list sweeps)")
		seeds     = flag.Int("seeds", 1, "sweep over this many seeds, starting at -seed")
		late      = flag.Duration("late", 1500*time.Millisecond, "sweep: count the seeds whose figure is over this")
		duration  = flag.Duration("duration", 0, "longest virtual time the scenario runs (default 60s; ingress-loss 90s, flipflop 120s)")
		loss      = flag.Float64("loss", 0, "packet loss probability on every link, 0..1 (loss scenario: default 0.2)")
		latency   = flag.Duration("latency", time.Millisecond, "one-way link latency")
		jitter    = flag.Duration("jitter", 0, "extra random one-way delay, uniform in [0, jitter)")
		preset    = flag.String("config", "lan", "timing preset: lan, wan or local (a list sweeps)")
		seed      = flag.Uint64("seed", 1, "random seed; the same seed gives the same run")
		asJSON    = flag.Bool("json", false, "print one JSON object instead of a report")
		partition = flag.Duration("partition-for", 60*time.Second, "partition scenario: how long the halves stay apart")
		faulty    = flag.Int("faulty", 0, "ingress-loss and flipflop: members afflicted (default 1 and 3)")
		ingress   = flag.Float64("ingress-loss", 0.8, "ingress-loss: share of the packets into a faulty member lost")
		flipEvery = flag.Duration("flip-every", 20*time.Second, "flipflop: how long a faulty member's ingress stays cut, then restored")
	)
	timelinePath := flag.String("timeline", "", "write the run's timeline to this CSV file: per 100 ms of virtual time, members holding the full view, suspicions, deaths, packets and bytes (draw it with examples/plot)")
	calibrateFrom := flag.String("calibrate", "", "instead of -scenario: the simulator's join, crash and steady figures (Local timings, -seeds seeds, default 7) next to the swim rows of this compare -json file")
	ringMode := flag.Bool("ring", false, "instead of -scenario: every member keeps a hash ring on its events; time until the rings agree after a join and after a crash, for each -n and seed")
	ringVnodes := flag.Int("ring-vnodes", 16, "-ring: points per member (when rings agree does not depend on it; 16 keeps 1,000 rings of 1,000 members small)")
	ringStep := flag.Duration("ring-step", 10*time.Millisecond, "-ring: how often the rings are compared, in virtual time")
	estimateMode := flag.Bool("estimate", false, "instead of -scenario: simulate the sizes of -estimate-from, fit the protocol's scaling laws and predict the figures at the sizes of -n")
	estimateFrom := flag.String("estimate-from", "100,200,500,1000,2000", "-estimate: the sizes simulated")
	estimateJoinMax := flag.Int("estimate-join-max", 2000, "-estimate: simulate the join only up to this size")
	hugePages := flag.Bool("hugepages", true, "on Linux, ask for transparent huge pages for the heap of runs of 1,000 members or more (10,000 converged members run about 15% faster)")
	flag.DurationVar(&flapHoldDown, "flap-hold-down", -1, "replace the preset's Config.FlapHoldDown (0 turns flap damping off, as in memberlist)")
	flag.Parse()
	limitMemory()

	ns, err := parseSizes(*sizes)
	if err != nil {
		fmt.Fprintln(os.Stderr, "simulate:", err)
		os.Exit(2)
	}
	if *hugePages {
		adviseHugePages(slices.Max(ns))
	}
	presets, scenarios := splitList(*preset), splitList(*scenario)
	if *loss < 0 || *loss > 1 {
		fmt.Fprintln(os.Stderr, "simulate: -loss must be between 0 and 1")
		os.Exit(2)
	}
	base := swim.SimConfig{Duration: *duration, Latency: *latency, Jitter: *jitter, Loss: *loss, PartitionFor: *partition,
		Faulty: *faulty, IngressLoss: *ingress, FlipEvery: *flipEvery}
	if *calibrateFrom != "" {
		k := *seeds
		if k <= 1 {
			k = 7
		}
		if err := calibrate(*calibrateFrom, k, *latency, *jitter); err != nil {
			fmt.Fprintln(os.Stderr, "simulate:", err)
			os.Exit(1)
		}
		return
	}
	if *estimateMode {
		from, err := parseSizes(*estimateFrom)
		if err == nil && len(presets) != 1 {
			err = fmt.Errorf("-estimate takes one -config")
		}
		if err == nil {
			_, err = presetConfig(presets[0]) // checks the name; spec.config makes a fresh one per run
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "simulate:", err)
			os.Exit(2)
		}
		spec := predictSpec{config: func() *swim.Config { c, _ := presetConfig(presets[0]); return c },
			latency: *latency, jitter: *jitter, joinSpread: 2 * time.Second}
		if err := estimate(from, ns, *estimateJoinMax, max(1, *seeds), presets[0], spec); err != nil {
			fmt.Fprintln(os.Stderr, "simulate:", err)
			os.Exit(1)
		}
		return
	}
	if *ringMode {
		cfg, err := presetConfig(presets[0])
		if err != nil {
			fmt.Fprintln(os.Stderr, "simulate:", err)
			os.Exit(2)
		}
		var runs []ringRun
		for _, n := range ns {
			for k := range max(1, *seeds) {
				r, err := ringScenario(n, *seed+uint64(k), cfg, *latency, *jitter, *loss, *ringVnodes, *ringStep)
				if err != nil {
					fmt.Fprintln(os.Stderr, "simulate:", err)
					os.Exit(1)
				}
				if *asJSON {
					json.NewEncoder(os.Stdout).Encode(r)
				}
				runs = append(runs, r)
			}
		}
		if !*asJSON {
			printRingTable(runs, presets[0], *ringVnodes, *ringStep)
		}
		return
	}
	if *seeds > 1 || len(ns) > 1 || len(presets) > 1 || len(scenarios) > 1 {
		if err := sweep(presets, ns, scenarios, *seed, max(1, *seeds), late.Seconds(), base); err != nil {
			fmt.Fprintln(os.Stderr, "simulate:", err)
			os.Exit(2)
		}
		return
	}
	if len(presets) != 1 || len(scenarios) != 1 {
		fmt.Fprintln(os.Stderr, "simulate: -config and -scenario need a value")
		os.Exit(2)
	}
	cfg, err := presetConfig(presets[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, "simulate:", err)
		os.Exit(2)
	}
	sc := base
	sc.Nodes, sc.Seed, sc.Scenario, sc.Config = ns[0], *seed, scenarios[0], cfg
	prog := newProgress(fmt.Sprintf("%s n=%d", sc.Scenario, sc.Nodes))
	sc.Progress = prog.update
	var tl *timeline
	if *timelinePath != "" {
		if tl, err = newTimeline(*timelinePath); err != nil {
			fmt.Fprintln(os.Stderr, "simulate:", err)
			os.Exit(1)
		}
		sc.Timeline = tl.add
	}
	r, err := swim.Simulate(sc)
	prog.done()
	if tl != nil {
		if cerr := tl.close(); cerr != nil {
			fmt.Fprintln(os.Stderr, "simulate:", cerr)
			os.Exit(1)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "simulate:", err)
		os.Exit(2)
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			fmt.Fprintln(os.Stderr, "simulate:", err)
			os.Exit(1)
		}
		return
	}
	report(r, presets[0])
}

// seconds renders a scenario time, or says it never happened.
func seconds(s float64) string {
	if s < 0 {
		return "never (within -duration)"
	}
	return fmt.Sprintf("%.2f s", s)
}

func report(r swim.SimReport, preset string) {
	fmt.Printf("swim simulation: %d members, scenario %q, %s timings, seed %d\n", r.Nodes, r.Scenario, preset, r.Seed)
	switch r.Scenario {
	case swim.ScenarioJoin:
		fmt.Printf("  members joining through one seed converged (everyone sees everyone alive) %s after the last one started\n", seconds(r.ConvergedS))
		fmt.Printf("  the median member saw the whole cluster after %s, the last one after %s\n", seconds(r.MedianMemberS), seconds(r.LastMemberS))
	case swim.ScenarioFail:
		fmt.Printf("  one member crashed; first suspected after %s, first declared dead after %s\n", seconds(r.FirstSuspectS), seconds(r.FirstDeadS))
		fmt.Printf("  every survivor knew it was dead after %s\n", seconds(r.AllDeadS))
	case swim.ScenarioLeave:
		fmt.Printf("  one member left gracefully; every other member knew after %s\n", seconds(r.LeftAllS))
	case swim.ScenarioLoss:
		fmt.Printf("  %.0f virtual seconds with packet loss on every link; cluster still converged at the end: %v\n", r.VirtualS, r.ConvergedS >= 0)
	case swim.ScenarioPartition:
		fmt.Printf("  the cluster was split in halves, then healed; one cluster again %s after the heal\n", seconds(r.ConvergedS))
	case swim.ScenarioPause:
		fmt.Printf("  one member was paused for three probe intervals; it raised %d false suspicions afterwards\n", r.PausedOriginal)
		fmt.Printf("  the cluster was back to everyone alive %s after it resumed\n", seconds(r.ConvergedS))
	case swim.ScenarioIngressLoss, swim.ScenarioFlipFlop:
		what := "lost most of the packets sent to them"
		if r.Scenario == swim.ScenarioFlipFlop {
			what = "had their ingress cut and restored in turn"
		}
		fmt.Printf("  faulty members %s (%.0f virtual s, settling included); as the healthy members saw them:\n", what, r.VirtualS)
		fmt.Printf("    %d state changes (flaps), %d back to alive (at most %d by one observer of one member)\n", r.Flaps, r.Returns, r.ReturnsMax)
		fmt.Printf("    %d join/leave/update events delivered to healthy members' applications; at most %d distinct view sizes on one member\n", r.AppEvents, r.ViewSizes)
		fmt.Printf("    at the end: %s\n", strings.Join(r.EndStates, "; "))
		fmt.Printf("  the faulty members accused healthy ones %d times\n", r.FaultyAccusations)
	}
	fmt.Printf("  false alarms: %d suspicions, %d deaths and %d holds for flapping of members that were healthy throughout (%d suspicions in all)\n",
		r.FalseSuspect, r.FalseDead, r.FalseHeldOut, r.Suspicions)
	fmt.Printf("  network: %.0f bytes and %.1f packets per member per second\n", r.BytesPerNodePerS, r.PacketsPerNodePerS)
	fmt.Printf("  %.0f virtual seconds in %.2f s of wall time; trace %s\n", r.VirtualS, r.WallS, r.TraceSHA256[:16])
}
