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
