package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/swim-go/swim/internal/hugepages"
)

// A simulation of n members holds n² table entries and, while they join, as many queued
// broadcasts: about 13 GB live at 10,000 members joining at once. Left to its defaults the
// Go collector lets the heap grow to twice what is live before it collects, which there is
// more than this 24 GB machine has. Unless GOMEMLIMIT says otherwise, the command asks the
// collector to work harder as the heap nears 3/4 of the machine's memory. A run that fits
// in half of it is not affected.
func limitMemory() {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	if total, ok := physicalMemory(); ok {
		debug.SetMemoryLimit(int64(total / 4 * 3))
	}
}

// physicalMemory reads the machine's memory from /proc/meminfo (Linux; elsewhere it says
// it does not know).
func physicalMemory() (uint64, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}

// heapPerEntry is about the most heap a simulation holds per table entry (n² of them): a
// 2,000-member join peaks at 1.3 GiB, 340 bytes per entry; a converged cluster holds 55.
const heapPerEntry = 384

// adviseHugePages asks for transparent huge pages for the heap a run of up to n members will
// grow into (internal/hugepages): the member tables of large runs are read at random, and
// with 4 KiB pages each of those reads also misses the TLB. Below 1,000 members the tables
// fit the caches well enough for it not to matter.
func adviseHugePages(n int) {
	if n < 1000 {
		return
	}
	if _, err := hugepages.Heap(int64(n) * int64(n) * heapPerEntry); err != nil {
		fmt.Fprintln(os.Stderr, "simulate: huge pages:", err)
	}
}
