package main

// -calibrate puts the simulator's predictions next to real measurements: the swim rows of a
// run of internal/interop/cmd/compare saved with -json (real members on loopback sockets,
// Local timings), and, for each of their sizes, the same figures from the simulator with
// the same timings:
//
//   - join: members joining through one seed at once (within 1 ms), from the last one's
//     start until the median and the last member see everyone (compare: from the last Join's
//     return);
//   - crash: until every survivor holds a crashed member dead, the median over seeds
//     (compare: the median of its crashes);
//   - steady: UDP and stream bytes, and packets, per member per second in a converged
//     cluster, over 20 s after 30 s of settling (compare: the same windows after its join).

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/swim-go/swim"
)

// realRun is the part of a compare -json line the calibration reads.
type realRun struct {
	Library     string  `json:"library"`
	Nodes       int     `json:"nodes"`
	Loss        float64 `json:"loss"`
	MedianS     float64 `json:"converged_median_s"`
	LastS       float64 `json:"converged_last_s"`
	AllDeadS    float64 `json:"all_see_dead_s"`
	Bytes       float64 `json:"bytes_per_node_per_s"`
	StreamBytes float64 `json:"stream_bytes_per_node_per_s"`
	Packets     float64 `json:"packets_per_node_per_s"`
}

func readRealRuns(path string) ([]realRun, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []realRun
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.Contains(line, `"library":"swim"`) || strings.Contains(line, `"scenario":`) {
			continue
		}
		var r realRun
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		if r.Loss == 0 {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no swim run without loss (save one with compare -json)", path)
	}
	return out, nil
}

// predicted is the simulator's figures for one size: medians over seeds.
type predicted struct {
	median, last, allDead, bytes, streamBytes, packets float64
	firstSuspect, firstDead                            float64
	state                                              float64 // bytes of one push/pull state
}

// predictSpec says what predict simulates: the timings, the network, how spread out the
// joins are, and whether to run the join at all (it is the costly scenario at large n).
type predictSpec struct {
	config          func() *swim.Config
	latency, jitter time.Duration
	joinSpread      time.Duration
	join            bool
}

// predict runs, for each of seeds seeds, a join and a crash, and one converged cluster for
// its push/pull state size (its first PushPullInterval) and its steady traffic: 20 s after
// at least 30 s of settling.
func predict(n, seeds int, spec predictSpec) (predicted, error) {
	var p predicted
	var medians, lasts, suspects, firstDeads, deads []float64
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		if spec.join {
			j, err := swim.Simulate(swim.SimConfig{Nodes: n, Seed: seed, Scenario: swim.ScenarioJoin, Config: spec.config(),
				Latency: spec.latency, Jitter: spec.jitter, JoinSpread: spec.joinSpread})
			if err != nil {
				return p, err
			}
			medians, lasts = append(medians, j.MedianMemberS), append(lasts, j.LastMemberS)
		}
		f, err := swim.Simulate(swim.SimConfig{Nodes: n, Seed: seed, Scenario: swim.ScenarioFail, Config: spec.config(),
			Latency: spec.latency, Jitter: spec.jitter})
		if err != nil {
			return p, err
		}
		suspects, firstDeads, deads = append(suspects, f.FirstSuspectS), append(firstDeads, f.FirstDeadS), append(deads, f.AllDeadS)
	}
	p.median, p.last = median(medians), median(lasts)
	p.firstSuspect, p.firstDead, p.allDead = median(suspects), median(firstDeads), median(deads)

	s := swim.NewSimulation(swim.SimOptions{Seed: 1, Config: spec.config(), Latency: spec.latency, Jitter: spec.jitter})
	for range n {
		s.AddNode()
	}
	s.Bootstrap()
	// In its first PushPullInterval each member starts exactly one push/pull (the first at a
	// random point of the interval, the next pushPullScale(n) intervals later), and nothing
	// changes to start follow-ups: the stream bytes of that interval are n exchanges of two
	// whole states each.
	boot := s.Stats()
	settle := 30 * time.Second
	if first := spec.config().PushPullInterval; first > 0 {
		s.RunFor(first)
		p.state = float64(s.Stats().StreamBytes-boot.StreamBytes) / float64(2*n)
		settle = max(settle, first) - first
	}
	s.RunFor(settle)
	before := s.Stats()
	const window = 20 * time.Second
	s.RunFor(window)
	after := s.Stats()
	per := float64(n) * window.Seconds()
	p.bytes = float64(after.Bytes-before.Bytes) / per
	p.streamBytes = float64(after.StreamBytes-before.StreamBytes) / per
	p.packets = float64(after.Packets-before.Packets) / per
	return p, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return -1
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// calibrate prints the table.
func calibrate(path string, seeds int, latency, jitter time.Duration) error {
	runs, err := readRealRuns(path)
	if err != nil {
		return err
	}
	fmt.Printf("The simulator (Local timings, %v one-way latency, %d seeds) against real members on loopback (%s):\n\n", latency, seeds, path)
	fmt.Println("| n | figure | simulator | real | error |")
	fmt.Println("| ---: | --- | ---: | ---: | ---: |")
	for _, r := range runs {
		p, err := predict(r.Nodes, seeds, predictSpec{config: swim.DefaultLocalConfig, latency: latency, jitter: jitter, joinSpread: time.Millisecond, join: true})
		if err != nil {
			return err
		}
		for _, row := range []struct {
			name      string
			sim, real float64
			unit      string
		}{
			{"join: median member sees everyone", p.median, r.MedianS, "s"},
			{"join: last member sees everyone", p.last, r.LastS, "s"},
			{"crash: every survivor holds it dead", p.allDead, r.AllDeadS, "s"},
			{"steady: UDP bytes per member per s", p.bytes, r.Bytes, ""},
			{"steady: stream bytes per member per s", p.streamBytes, r.StreamBytes, ""},
			{"steady: packets per member per s", p.packets, r.Packets, ""},
		} {
			errPct := "-"
			if row.real > 0 {
				errPct = fmt.Sprintf("%+.0f%%", 100*(row.sim-row.real)/row.real)
			}
			fmt.Printf("| %d | %s | %s | %s | %s |\n", r.Nodes, row.name, num(row.sim, row.unit), num(row.real, row.unit), errPct)
		}
	}
	return nil
}

func num(v float64, unit string) string {
	if v < 0 || math.IsNaN(v) {
		return "never"
	}
	switch {
	case unit == "s":
		return fmt.Sprintf("%.2f s", v)
	case unit == "B" && v >= 1e6:
		return fmt.Sprintf("%.2f MB", v/1e6)
	case unit == "B" && v >= 1e4:
		return fmt.Sprintf("%.1f kB", v/1e3)
	case unit == "B":
		return fmt.Sprintf("%.0f B", v)
	}
	return fmt.Sprintf("%.1f", v)
}
