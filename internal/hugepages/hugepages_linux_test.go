package hugepages

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// TestHeapAdvisesWhatTheHeapUsesNext checks the two things Heap relies on: the mapping it
// advises keeps the advice (VmFlags "hg") after it is freed, and the runtime puts what is
// allocated next there.
func TestHeapAdvisesWhatTheHeapUsesNext(t *testing.T) {
	if !available() {
		t.Skip("no transparent huge pages to advise here")
	}
	const size = 128 << 20
	advised, err := Heap(size)
	if err != nil {
		t.Fatal(err)
	}
	if advised != size {
		t.Fatalf("advised %d bytes, want %d", advised, size)
	}
	b := make([]byte, 64<<20)
	at := uintptr(unsafe.Pointer(&b[0]))
	flags, found := vmFlags(t, at)
	if !found {
		t.Fatalf("no mapping holds %#x", at)
	}
	if !strings.Contains(" "+flags+" ", " hg ") {
		t.Errorf("the mapping holding the next allocation (%#x) has VmFlags %q, without hg", at, flags)
	}
	if got, _ := Heap(minSize - 1); got != 0 {
		t.Errorf("advised %d bytes for less than minSize", got)
	}
}

// vmFlags returns the VmFlags of the mapping of this process that holds addr.
func vmFlags(t *testing.T, addr uintptr) (string, bool) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := sc.Text()
		if span, _, ok := strings.Cut(line, " "); ok && strings.Contains(span, "-") && !strings.HasSuffix(span, ":") {
			lo, hi, _ := strings.Cut(span, "-")
			start, err1 := strconv.ParseUint(lo, 16, 64)
			end, err2 := strconv.ParseUint(hi, 16, 64)
			in = err1 == nil && err2 == nil && uint64(addr) >= start && uint64(addr) < end
			continue
		}
		if v, ok := strings.CutPrefix(line, "VmFlags:"); ok && in {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

func TestHeapLeavesHugePagesAloneWhenGODEBUGSaysSo(t *testing.T) {
	t.Setenv("GODEBUG", "gctrace=0,disablethp=1")
	if got, err := Heap(128 << 20); got != 0 || err != nil {
		t.Errorf("Heap with disablethp=1: %d, %v; want 0, nil", got, err)
	}
}
