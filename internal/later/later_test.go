package later

import (
	"sync"
	"testing"
)

// Every Get, from any goroutine, returns the value f worked out, once.
func TestGet(t *testing.T) {
	calls := 0
	l := Start(func() int { calls++; return 42 })
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v := l.Get(); v != 42 {
				t.Errorf("got %d", v)
			}
		}()
	}
	wg.Wait()
	if l.Get() != 42 || calls != 1 {
		t.Fatalf("got %d after %d calls", l.Get(), calls)
	}
}

// A value no worker has started is worked out by Get itself: with every worker busy, Get
// still returns.
func TestGetWorksItOutWhenWorkersAreBusy(t *testing.T) {
	busy, release := occupyWorkers()
	v := Start(func() int { return 7 })
	if got := v.Get(); got != 7 {
		t.Fatalf("got %d", got)
	}
	release()
	for i, b := range busy {
		if got := b.Get(); got != i {
			t.Fatalf("busy value %d: got %d", i, got)
		}
	}
}

// Get, while a worker is on its value, works out other queued values instead of waiting:
// here the only value that can release the busy workers is queued behind them, so a Get that
// only waited would never return (and go test's timeout would report this test hung).
func TestGetHelpsWhileItWaits(t *testing.T) {
	busy, release := occupyWorkers()
	Start(func() int { release(); return 0 })
	if got := busy[0].Get(); got != 0 {
		t.Fatalf("got %d", got)
	}
}

// occupyWorkers returns once every worker is inside a value of its own, busy[i] returning i,
// which waits for release to be called.
func occupyWorkers() (busy []*Value[int], release func()) {
	Start(func() int { return 0 }).Get() // starts the workers
	pool.mu.Lock()
	workers := pool.count
	pool.mu.Unlock()
	gate := make(chan struct{})
	var running sync.WaitGroup
	running.Add(workers)
	busy = make([]*Value[int], workers)
	for i := range busy {
		busy[i] = Start(func() int { running.Done(); <-gate; return i })
	}
	running.Wait()
	return busy, func() { close(gate) }
}
