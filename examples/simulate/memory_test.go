package main

import (
	"os"
	"testing"
)

// The memory limit is read from the machine, where it can be.
func TestPhysicalMemory(t *testing.T) {
	total, ok := physicalMemory()
	if _, err := os.Stat("/proc/meminfo"); err != nil {
		t.Skip("no /proc/meminfo here")
	}
	if !ok || total < 64<<20 {
		t.Fatalf("physicalMemory() = %d, %v", total, ok)
	}
}
