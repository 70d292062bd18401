package hugepages

import (
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
)

// minSize is the least worth asking for: a few huge pages do not change a run.
const minSize = 64 << 20

// Heap advises the next size bytes of heap the process will use, and returns how many it
// advised: none for a size under 64 MiB, where the kernel has no transparent huge pages,
// where GODEBUG=disablethp=1 asks for none, or where the kernel commits memory strictly
// (vm.overcommit_memory=2), under which mapping a heap that size at once could fail. It
// never advises more than half of the machine's memory. It runs a garbage collection and
// returns the memory it mapped to the system (debug.FreeOSMemory) before it returns, so
// call it before building the simulation, not while one runs.
func Heap(size int64) (int64, error) {
	if size < minSize || !available() {
		return 0, nil
	}
	var si syscall.Sysinfo_t
	if syscall.Sysinfo(&si) == nil {
		size = min(size, int64(si.Totalram)*int64(si.Unit)/2)
	}
	b := make([]byte, size)
	// A fresh allocation this large is mapped for it and not yet touched (the runtime
	// knows fresh pages are zero), so no page of it is resident to advise too late.
	err := syscall.Madvise(b, syscall.MADV_HUGEPAGE)
	runtime.KeepAlive(b) // b is garbage from here: the collection below frees it
	runtime.GC()
	debug.FreeOSMemory()
	if err != nil {
		return 0, err
	}
	return size, nil
}

// available says whether advising huge pages can help and cannot hurt here.
func available() bool {
	if _, err := os.Stat("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil {
		return false
	}
	for _, kv := range strings.Split(os.Getenv("GODEBUG"), ",") {
		if strings.TrimSpace(kv) == "disablethp=1" {
			return false
		}
	}
	mode, err := os.ReadFile("/proc/sys/vm/overcommit_memory")
	return err == nil && strings.TrimSpace(string(mode)) != "2"
}
