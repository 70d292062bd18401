package main

// Steady-state CPU time, measured apart from the other figures: each library's cluster runs in
// a child process of its own, both at once, and each child samples its own CPU time over the
// same wall-clock windows. On a small VM the cost of a system call or a thread wake-up drifts
// (identical work measured 0.33 to 2.9 ms per member per second within a minute here), and
// windows measured at the same time see the same drift: the median of the per-window ratios
// is steady where figures taken one after the other are not.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// cpuRun is one child's figures: CPU ms per member per second in each window, and what the
// heap allocated over all windows (allocation drives the garbage collector, whose background
// workers are a wake-up of their own).
type cpuRun struct {
	Library    string    `json:"library"`
	Nodes      int       `json:"nodes"`
	Windows    []float64 `json:"cpu_ms_per_node_per_s"`
	AllocBytes float64   `json:"alloc_bytes_per_node_per_s"`
	GCs        uint32    `json:"gc_cycles"`
}

// cpuFigures is the outcome of one concurrent measurement for one n.
type cpuFigures struct {
	median map[string]float64 // per library, ms per member per s
	ratio  float64            // median over windows of swim's / memberlist's; 0 if not both ran
}

// measureCPU runs every library's cluster of n members in its own child process, at once, and
// samples their CPU time over the same k windows of d.
func measureCPU(libs string, n, k int, d time.Duration) (cpuFigures, error) {
	self, err := os.Executable()
	if err != nil {
		return cpuFigures{}, err
	}
	type child struct {
		cmd *exec.Cmd
		in  io.WriteCloser
		out *bufio.Reader
	}
	var children []child
	defer func() {
		for _, c := range children {
			c.in.Close()
			c.cmd.Process.Kill()
			c.cmd.Wait()
		}
	}()
	for _, lib := range pick(libs) {
		cmd := exec.Command(self, "-settle", settle.String())
		cmd.Env = append(os.Environ(), fmt.Sprintf("COMPARE_CPU_CHILD=%s:%d:%d:%s", lib.name, n, k, d))
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			return cpuFigures{}, err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return cpuFigures{}, err
		}
		if err := cmd.Start(); err != nil {
			return cpuFigures{}, err
		}
		c := child{cmd, in, bufio.NewReader(out)}
		children = append(children, c)
		// One cluster joins at a time: 128 memberlist members joining one seed time out
		// when the other library's join competes for the two cores.
		if line, err := c.out.ReadString('\n'); err != nil || line != "ready\n" {
			return cpuFigures{}, fmt.Errorf("the %s CPU child did not come up: %q %v", lib.name, line, err)
		}
	}
	start := time.Now().Add(500 * time.Millisecond)
	for _, c := range children {
		fmt.Fprintf(c.in, "%d\n", start.UnixNano())
	}
	runs := map[string][]float64{}
	for _, c := range children {
		var r cpuRun
		if err := json.NewDecoder(c.out).Decode(&r); err != nil {
			return cpuFigures{}, fmt.Errorf("reading a CPU child: %v", err)
		}
		runs[r.Library] = r.Windows
		fmt.Fprintf(os.Stderr, "  %s n=%d: %.0f bytes allocated per member per s, %d GC cycles in %v\n",
			r.Library, n, r.AllocBytes, r.GCs, time.Duration(k)*d)
	}
	f := cpuFigures{median: map[string]float64{}}
	for lib, ws := range runs {
		f.median[lib] = median(ws)
	}
	if s, m := runs["swim"], runs["memberlist"]; len(s) == k && len(m) == k {
		ratios := make([]float64, k)
		for i := range k {
			ratios[i] = s[i] / m[i]
		}
		f.ratio = median(ratios)
	}
	return f, nil
}

// cpuChild is the child's side: start the cluster, wait for it to converge and settle, say
// ready, wait for the start time, then sample k windows and print them.
func cpuChild(spec string) {
	parts := strings.Split(spec, ":")
	if len(parts) != 4 {
		fail("bad COMPARE_CPU_CHILD %q", spec)
	}
	n, _ := strconv.Atoi(parts[1])
	k, _ := strconv.Atoi(parts[2])
	d, err := time.ParseDuration(parts[3])
	libs := pick(parts[0])
	if err != nil || n < 3 || k < 1 || len(libs) != 1 {
		fail("bad COMPARE_CPU_CHILD %q", spec)
	}
	lib := libs[0]
	t := newTally(n)
	var r result
	ms, err := joinAndSettle(lib, n, t, &r)
	defer killAll(ms)
	if err != nil {
		fail("%s n=%d: %v", lib.name, n, err)
	}
	if r.ConvergedLastS < 0 {
		fail("%s n=%d did not converge", lib.name, n)
	}
	fmt.Println("ready")
	var startNS int64
	if _, err := fmt.Scanln(&startNS); err != nil {
		fail("reading the start time: %v", err)
	}
	run := cpuRun{Library: lib.name, Nodes: n}
	at := time.Unix(0, startNS)
	time.Sleep(time.Until(at))
	var mem0, mem1 runtime.MemStats
	runtime.ReadMemStats(&mem0)
	c0 := cpuTime()
	for range k {
		at = at.Add(d)
		time.Sleep(time.Until(at))
		c1 := cpuTime()
		run.Windows = append(run.Windows, (c1-c0).Seconds()*1000/(d.Seconds()*float64(n)))
		c0 = c1
	}
	runtime.ReadMemStats(&mem1)
	run.AllocBytes = float64(mem1.TotalAlloc-mem0.TotalAlloc) / (float64(k) * d.Seconds() * float64(n))
	run.GCs = mem1.NumGC - mem0.NumGC
	json.NewEncoder(os.Stdout).Encode(run)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
