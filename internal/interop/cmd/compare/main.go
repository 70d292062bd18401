// Command compare runs the same scenarios on loopback, with the same (Local) timings, for a
// swim cluster and a hashicorp/memberlist cluster, one after the other in one process, and
// prints a table:
//
//	cd internal/interop && go run ./cmd/compare -n 16,64,128 -loss 0.1,0.2
//
// For each n: time until every member holds every other alive after near-simultaneous joins
// (from the last Join's return: the median member and the last), time until every survivor
// holds a crashed member dead (the median of -crashes crashes, one after another), and in the
// steady state bytes, packets and CPU time per member per second (CPU measured apart, both
// libraries at once in child processes of their own: see cpu.go), suspect observations (one
// member seeing another turn suspect, whoever raised it) over the window, and suspicions
// raised by members and deaths, of healthy members, over the run.
//
// With -loss, 64 members run 60 s with that fraction of all packets (UDP and TCP) dropped by
// an nftables rule in a private network namespace (the program re-runs itself under `unshare -n`; it
// needs root and the nft command: `apt-get install nftables`), nobody failing.
//
// With -rapid, the Rapid paper's asymmetric faults run in the namespace too (see rapid.go),
// once per seed, and a second table reports them:
//
//	go run ./cmd/compare -n '' -rapid ingress-loss,flipflop -rapid-seeds 1,2
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// cpuProfile, if set, is where the steady-state windows are profiled.
var cpuProfile string

// settle is the pause between convergence and the steady-state window, so that the window
// does not include the end of the join phase (swim's follow-up push/pulls, memberlist's
// stragglers).
var settle time.Duration

// measure runs the steady-state window, profiled if asked.
func measure(d time.Duration) {
	if cpuProfile == "" {
		time.Sleep(d)
		return
	}
	f, err := os.Create(cpuProfile)
	if err != nil {
		fail("%v", err)
	}
	defer f.Close()
	pprof.StartCPUProfile(f)
	time.Sleep(d)
	pprof.StopCPUProfile()
}

// result is one library's figures for one scenario.
type result struct {
	Library          string    `json:"library"`
	Nodes            int       `json:"nodes"`
	Loss             float64   `json:"loss,omitempty"`
	ConvergedMedianS float64   `json:"converged_median_s"`
	ConvergedLastS   float64   `json:"converged_last_s"` // -1: not all within the limit
	DetectedS        float64   `json:"all_see_dead_s"`   // the median; -1: not all within the limit
	DetectedEach     []float64 `json:"all_see_dead_each_s,omitempty"`
	BytesPerNodeS    float64   `json:"bytes_per_node_per_s"`
	StreamBytesNodeS float64   `json:"stream_bytes_per_node_per_s"`
	PacketsPerNodeS  float64   `json:"packets_per_node_per_s"`
	CPUPerNodeS      float64   `json:"cpu_s_per_node_per_s"`
	CPURatio         float64   `json:"cpu_ratio_to_memberlist,omitempty"` // median per-window ratio, measured at once
	SuspectObs       int64     `json:"suspect_observations"`
	FalseSuspicions  int       `json:"false_suspicions"`
	FalseTimeouts    int       `json:"false_suspicion_timeouts"`
	FalseDeadMembers int       `json:"healthy_members_declared_dead"`
	FalseHeldOut     int       `json:"healthy_members_held_out"` // as flapping (swim's FlapHoldDown)
}

func main() {
	sizes := flag.String("n", "16,64,128", "cluster sizes")
	steady := flag.Duration("steady", 20*time.Second, "steady-state window for traffic and CPU")
	flag.DurationVar(&settle, "settle", 30*time.Second, "wait this long after convergence before the steady-state window")
	loss := flag.String("loss", "", "packet loss fractions to run the loss scenario at, e.g. 0.1,0.2")
	lossN := flag.Int("loss-n", 64, "members in the loss scenario")
	lossFor := flag.Duration("loss-duration", 60*time.Second, "length of the loss scenario")
	asJSON := flag.Bool("json", false, "print JSON lines instead of a table")
	libs := flag.String("libs", "swim,memberlist", "libraries to run")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the steady-state windows to this file")
	rapid := flag.String("rapid", "", "asymmetric fault scenarios to run: ingress-loss, flipflop")
	var rc rapidConfig
	flag.IntVar(&rc.Nodes, "rapid-n", 64, "members in the rapid scenarios")
	flag.IntVar(&rc.Faulty, "rapid-faulty", 0, "faulty members (0: 1 for ingress-loss, 3 for flipflop)")
	flag.Float64Var(&rc.Loss, "ingress-loss", 0.8, "ingress-loss: the share of packets to a faulty member dropped")
	flag.DurationVar(&rc.FlipEvery, "flip-every", 20*time.Second, "flipflop: how long each cut and each restore lasts")
	flag.DurationVar(&rc.Duration, "rapid-duration", 0, "length of a rapid scenario (0: 90 s for ingress-loss, 120 s for flipflop)")
	seeds := flag.String("rapid-seeds", "1,2", "seeds picking the faulty members, one run per seed")
	cpuWindows := flag.Int("cpu-windows", 12, "steady-state CPU: windows sampled, both libraries at once in child processes (0: in process, one library after the other)")
	cpuWindow := flag.Duration("cpu-window", 5*time.Second, "steady-state CPU: length of each window")
	crashes := flag.Int("crashes", 7, "crashes, one after another, whose median time until all see the member dead is reported (odd)")
	fromJSON := flag.String("from-json", "", "print the tables of a run saved with -json, from this file, and exit")
	cpuOnly := flag.Bool("cpu-only", false, "measure only the steady-state CPU for each n (with -cpu-windows)")
	flag.Parse()

	if *crashes < 1 || *crashes%2 == 0 || *crashes > 15 {
		fail("-crashes must be odd, 1 to 15")
	}
	if *fromJSON != "" {
		printSaved(*fromJSON)
		return
	}
	if spec := os.Getenv("COMPARE_CPU_CHILD"); spec != "" {
		cpuChild(spec)
		return
	}

	if mode := os.Getenv("COMPARE_INSIDE_NETNS"); mode != "" {
		// The re-run inside the namespace: one loss level or one rapid run, JSON out.
		scenario, arg, _ := strings.Cut(mode, ":")
		for _, lib := range pick(*libs) {
			var r any
			var err error
			if scenario == "loss" {
				p, _ := strconv.Atoi(arg)
				r, err = runLoss(lib, *lossN, p, *lossFor)
			} else {
				c := rc
				c.Scenario = scenario
				c.Seed, _ = strconv.ParseUint(arg, 10, 64)
				r, err = runRapid(lib, c.defaults())
			}
			if err != nil {
				fail("%s: %v", lib.name, err)
			}
			json.NewEncoder(os.Stdout).Encode(r)
		}
		return
	}

	var results []result
	for _, s := range strings.Split(*sizes, ",") {
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 3 {
			fail("bad -n %q", s)
		}
		var cpu cpuFigures
		if *cpuWindows > 0 {
			fmt.Fprintf(os.Stderr, "CPU n=%d, %s at once in child processes ...\n", n, *libs)
			if cpu, err = measureCPU(*libs, n, *cpuWindows, *cpuWindow); err != nil {
				fail("CPU n=%d: %v", n, err)
			}
		}
		if *cpuOnly {
			fmt.Printf("n=%d CPU ms/member/s (median of %d windows of %v):", n, *cpuWindows, *cpuWindow)
			for _, lib := range pick(*libs) {
				fmt.Printf(" %s %.3f", lib.name, cpu.median[lib.name])
			}
			fmt.Printf(", swim/memberlist %.2f\n", cpu.ratio)
			continue
		}
		for _, lib := range pick(*libs) {
			fmt.Fprintf(os.Stderr, "%s n=%d ...\n", lib.name, n)
			r, err := runNormal(lib, n, *steady, *crashes)
			if err != nil {
				fail("%s n=%d: %v", lib.name, n, err)
			}
			if *cpuWindows > 0 {
				r.CPUPerNodeS = cpu.median[lib.name] / 1000
				if lib.name == "swim" {
					r.CPURatio = cpu.ratio
				}
			}
			results = append(results, r)
		}
	}
	for _, f := range strings.Split(*loss, ",") {
		if f == "" {
			continue
		}
		frac, err := strconv.ParseFloat(f, 64)
		if err != nil || frac <= 0 || frac >= 1 {
			fail("bad -loss %q", f)
		}
		fmt.Fprintf(os.Stderr, "loss %.0f%% n=%d in a network namespace ...\n", frac*100, *lossN)
		out, err := inNamespace(fmt.Sprintf("loss:%d", int(frac*100+0.5)), *libs,
			"-loss-n", strconv.Itoa(*lossN), "-loss-duration", lossFor.String())
		if err != nil {
			fail("loss %v: %v", f, err)
		}
		results = append(results, decodeAll[result](out)...)
	}
	var rapids []rapidResult
	for _, sc := range strings.Split(*rapid, ",") {
		if sc == "" {
			continue
		}
		if sc != rapidIngressLoss && sc != rapidFlipflop {
			fail("bad -rapid %q: ingress-loss or flipflop", sc)
		}
		for _, seed := range strings.Split(*seeds, ",") {
			fmt.Fprintf(os.Stderr, "%s n=%d seed %s in a network namespace ...\n", sc, rc.Nodes, seed)
			out, err := inNamespace(sc+":"+seed, *libs, "-rapid-n", strconv.Itoa(rc.Nodes),
				"-rapid-faulty", strconv.Itoa(rc.Faulty), "-ingress-loss", strconv.FormatFloat(rc.Loss, 'g', -1, 64),
				"-flip-every", rc.FlipEvery.String(), "-rapid-duration", rc.Duration.String())
			if err != nil {
				fail("%s seed %s: %v", sc, seed, err)
			}
			rapids = append(rapids, decodeAll[rapidResult](out)...)
		}
	}
	if *asJSON {
		for _, r := range results {
			json.NewEncoder(os.Stdout).Encode(r)
		}
		for _, r := range rapids {
			json.NewEncoder(os.Stdout).Encode(r)
		}
		return
	}
	if len(results) > 0 {
		printTable(results)
	}
	if len(rapids) > 0 {
		if len(results) > 0 {
			fmt.Println()
		}
		printRapidTable(rapids)
	}
}

// printSaved prints the tables of a run saved with -json: rapid results are the lines with a
// scenario.
func printSaved(path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	var results []result
	var rapids []rapidResult
	for _, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		if strings.Contains(line, `"scenario":`) {
			rapids = append(rapids, decodeAll[rapidResult]([]byte(line))...)
		} else {
			results = append(results, decodeAll[result]([]byte(line))...)
		}
	}
	if len(results) > 0 {
		printTable(results)
		fmt.Println()
		for _, r := range results {
			if len(r.DetectedEach) > 0 {
				fmt.Printf("%s n=%d, each crash until all see it dead (s): %v\n", r.Library, r.Nodes, r.DetectedEach)
			}
		}
	}
	if len(rapids) > 0 {
		fmt.Println()
		printRapidTable(rapids)
	}
}

// decodeAll decodes a run's JSON lines.
func decodeAll[T any](out []byte) []T {
	var rs []T
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var r T
		if err := dec.Decode(&r); err != nil {
			fail("reading a namespace run's output: %v", err)
		}
		rs = append(rs, r)
	}
	return rs
}

func pick(names string) []library {
	var out []library
	for _, l := range libraries {
		if strings.Contains(","+names+",", ","+l.name+",") {
			out = append(out, l)
		}
	}
	return out
}

// startCluster starts n members, member i bound to addr(i), and joins them all, at once, to
// the first. It returns the members and when the last Join returned.
func startCluster(lib library, n int, t *tally, addr func(int) string) ([]member, time.Time, error) {
	ms := make([]member, n)
	for i := range n {
		m, err := lib.start(fmt.Sprintf("%s-%03d", lib.name, i), addr(i), t)
		if err != nil {
			return nil, time.Time{}, err
		}
		ms[i] = m
	}
	seed := ms[0].Addr()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 1; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = ms[i].Join(seed)
		}()
	}
	wg.Wait()
	joined := time.Now()
	for _, err := range errs {
		if err != nil {
			return ms, joined, err
		}
	}
	return ms, joined, nil
}

func killAll(ms []member) {
	var wg sync.WaitGroup
	for _, m := range ms {
		if m != nil {
			wg.Add(1)
			go func() { defer wg.Done(); m.Kill() }()
		}
	}
	wg.Wait()
}

// waitConverged waits (up to limit) for every member to hold every other, and fills in the
// median and last member's times.
func waitConverged(t *tally, n int, joined time.Time, limit time.Duration, r *result) {
	deadline := joined.Add(limit)
	for {
		times, all := t.convergedTimes(joined, n)
		if all || time.Now().After(deadline) {
			if len(times) > 0 {
				r.ConvergedMedianS = times[len(times)/2].Seconds()
			}
			r.ConvergedLastS = -1
			if all {
				r.ConvergedLastS = times[len(times)-1].Seconds()
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// steadyWindow measures traffic and CPU time per member per second over d.
func steadyWindow(t *tally, n int, d time.Duration, r *result) {
	t.resetTraffic()
	cpu0, wall0 := cpuTime(), time.Now()
	measure(d)
	secs := time.Since(wall0).Seconds() * float64(n)
	r.CPUPerNodeS = (cpuTime() - cpu0).Seconds() / secs
	r.BytesPerNodeS = float64(t.bytes.Load()) / secs
	r.StreamBytesNodeS = float64(t.streamBytes.Load()) / secs
	r.PacketsPerNodeS = float64(t.packets.Load()) / secs
	r.SuspectObs = t.suspectObs.Load()
}

// joinAndSettle starts a cluster, records how it converges, and waits for it to settle.
func joinAndSettle(lib library, n int, t *tally, r *result) ([]member, error) {
	ms, joined, err := startCluster(lib, n, t, func(int) string { return "127.0.0.1" })
	if err != nil {
		return ms, err
	}
	waitConverged(t, n, joined, 90*time.Second, r)
	time.Sleep(settle)
	return ms, nil
}

// runNormal is the scenario without injected loss: join, steady state, three crashes.
func runNormal(lib library, n int, steady time.Duration, crashes int) (result, error) {
	r := result{Library: lib.name, Nodes: n}
	t := newTally(n)
	ms, err := joinAndSettle(lib, n, t, &r)
	defer killAll(ms)
	if err != nil {
		return r, err
	}

	steadyWindow(t, n, steady, &r)

	// Crash members one after another, each once the previous one is known dead everywhere,
	// and report the median: one crash says more about where the victim happened to sit in
	// the probe orders than about the protocol (the first probe of a crashed member comes
	// anywhere from at once to a few probe intervals later).
	var detected []float64
	for k := 1; k <= crashes; k++ {
		victim := n - k
		t.mu.Lock()
		t.killed = append(t.killed, fmt.Sprintf("%s-%03d", lib.name, victim))
		t.deadAt = map[string]time.Time{}
		t.mu.Unlock()
		killedAt := time.Now()
		ms[victim].Kill()
		ms[victim] = nil
		d := -1.0
		for deadline := killedAt.Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if last, ok := t.allSeeDead(n - k); ok {
				d = last.Sub(killedAt).Seconds()
				break
			}
		}
		if d < 0 {
			detected = append(detected, 1e9)
		} else {
			detected = append(detected, d)
		}
		name := fmt.Sprintf("%s-%03d", lib.name, victim)
		t.mu.Lock()
		fs, ft := t.firstSuspect[name], t.firstTimeout[name]
		t.mu.Unlock()
		since := func(at time.Time) string {
			if at.IsZero() {
				return "never"
			}
			return fmt.Sprintf("%.2f s", at.Sub(killedAt).Seconds())
		}
		fmt.Fprintf(os.Stderr, "  %s n=%d crash %d: first suspected after %s, first declared dead after %s, by all after %.2f s\n",
			lib.name, n, k, since(fs), since(ft), d)
	}
	r.DetectedEach = slices.Clone(detected)
	slices.Sort(detected)
	r.DetectedS = detected[len(detected)/2]
	if r.DetectedS >= 1e9 {
		r.DetectedS = -1
	}
	r.FalseSuspicions, r.FalseTimeouts, r.FalseDeadMembers = t.falseAlarms()
	r.FalseHeldOut = t.falseHeldOut()
	return r, nil
}

// runLoss runs inside the namespace: join without loss, then drop pct% of packets for d,
// nobody failing, and count the false alarms.
func runLoss(lib library, n, pct int, d time.Duration) (result, error) {
	r := result{Library: lib.name, Nodes: n, Loss: float64(pct) / 100}
	t := newTally(n)
	ms, err := joinAndSettle(lib, n, t, &r)
	defer killAll(ms)
	if err != nil {
		return r, err
	}
	// Every packet on loopback passes the output hook once; drop that share of them all,
	// datagrams and TCP segments alike (TCP then pays its retransmission timeouts).
	if err := nft("add", "rule", "inet", "compare", "out", "numgen", "random", "mod", "100", "<", strconv.Itoa(pct), "drop"); err != nil {
		return r, err
	}
	defer nft("flush", "chain", "inet", "compare", "out")
	t.mu.Lock()
	t.suspicions, t.timeouts, t.deaths = map[string]int{}, map[string]int{}, map[string]map[string]bool{}
	t.mu.Unlock()
	steadyWindow(t, n, d, &r)
	r.DetectedS = -1
	r.FalseSuspicions, r.FalseTimeouts, r.FalseDeadMembers = t.falseAlarms()
	r.FalseHeldOut = t.falseHeldOut()
	return r, nil
}

func nft(args ...string) error {
	out, err := exec.Command("nft", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("nft %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// inNamespace re-runs this program in a new network namespace with loopback up and an empty
// nftables output chain, for one loss level or one rapid run (mode), and returns its output.
func inNamespace(mode, libs string, args ...string) ([]byte, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("the loss scenario needs root (for unshare -n and nft)")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		return nil, fmt.Errorf("the loss scenario needs nft: apt-get install nftables")
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	script := `set -e
ip link set lo up
nft add table inet compare
nft add chain inet compare out '{ type filter hook output priority 0; }'
exec "$@"`
	argv := append([]string{"-n", "sh", "-c", script, "sh", self, "-libs", libs, "-settle", settle.String()}, args...)
	cmd := exec.Command("unshare", argv...)
	cmd.Env = append(os.Environ(), "COMPARE_INSIDE_NETNS="+mode)
	cmd.Stderr = os.Stderr
	return cmd.Output()
}

func printTable(rs []result) {
	fmt.Println("| library | n | loss | converged: median / last (s) | all see crash dead (s) | UDP bytes/node/s (TCP) | packets/node/s | CPU ms/node/s | suspect observations | suspicions raised (ran out) | healthy members declared dead (held out) |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	sec := func(v float64) string {
		if v < 0 {
			return "never"
		}
		return fmt.Sprintf("%.2f", v)
	}
	for _, r := range rs {
		detected := sec(r.DetectedS)
		if r.Loss > 0 {
			detected = "-"
		}
		cpu := fmt.Sprintf("%.2f", r.CPUPerNodeS*1000)
		if r.CPURatio > 0 {
			cpu += fmt.Sprintf(" (%.2f×)", r.CPURatio)
		}
		fmt.Printf("| %s | %d | %.0f%% | %s / %s | %s | %.0f (%.0f) | %.1f | %s | %d | %d (%d) | %d (%d) |\n",
			r.Library, r.Nodes, r.Loss*100, sec(r.ConvergedMedianS), sec(r.ConvergedLastS), detected,
			r.BytesPerNodeS, r.StreamBytesNodeS, r.PacketsPerNodeS, cpu,
			r.SuspectObs, r.FalseSuspicions, r.FalseTimeouts, r.FalseDeadMembers, r.FalseHeldOut)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "compare: "+format+"\n", args...)
	os.Exit(1)
}
