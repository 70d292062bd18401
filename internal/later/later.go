// Package later holds a value worked out on another core, for whoever needs it later: the
// simulator starts work that depends only on bytes already made (compressing, decoding,
// hashing) ahead of the members that will use it.
//
// The work runs on a few long-lived workers, one fewer than GOMAXPROCS, and never on a
// goroutine of its own: the members run on one goroutine, and a goroutine per piece of work
// would queue that one behind hundreds of others whenever the work got ahead of the cores,
// so that work meant to fill idle cores would slow the run it was to speed up. A value
// nobody has started yet when it is needed is worked out by the goroutine that needs it,
// and one a worker is on, it waits for by working out others that are queued.
package later

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Value is a value being worked out, or worked out.
type Value[T any] struct {
	claimed atomic.Bool   // set by whoever works it out: a worker or Get
	done    chan struct{} // closed when v is set
	f       func() T
	v       T
}

// Start queues f() to be worked out on a worker. f must depend on nothing that changes
// meanwhile.
func Start[T any](f func() T) *Value[T] {
	l := &Value[T]{done: make(chan struct{}), f: f}
	pool.put(l)
	return l
}

// Get returns the value, working it out here if no worker has started on it yet. While a
// worker is on it, Get works out other queued values instead of waiting idle: the caller
// is the members' goroutine, whose core would otherwise sit still while work waits.
func (l *Value[T]) Get() T {
	l.run()
	for {
		select {
		case <-l.done:
			return l.v
		default:
		}
		t := pool.take()
		if t == nil {
			<-l.done
			return l.v
		}
		t.run()
	}
}

// run works the value out unless somebody else has claimed it.
func (l *Value[T]) run() {
	if !l.claimed.CompareAndSwap(false, true) {
		return
	}
	l.v = l.f()
	l.f = nil
	close(l.done)
}

// task is a value to work out, whatever its type.
type task interface{ run() }

// pool is the queue of values waiting for a worker.
var pool workers

type workers struct {
	mu    sync.Mutex
	wake  sync.Cond
	queue []task // first in, first out: the values started first are needed first
	head  int
	count int // workers started: none until the first put
}

// put queues t, starting the workers the first time.
func (w *workers) put(t task) {
	w.mu.Lock()
	if w.count == 0 {
		w.wake.L = &w.mu
		w.count = max(1, runtime.GOMAXPROCS(0)-1)
		for range w.count {
			go w.work()
		}
	}
	w.queue = append(w.queue, t)
	w.mu.Unlock()
	w.wake.Signal()
}

// work runs queued values, forever: the workers are few and idle ones cost nothing.
func (w *workers) work() {
	for {
		w.mu.Lock()
		for w.head == len(w.queue) {
			w.wake.Wait()
		}
		t := w.pop()
		w.mu.Unlock()
		t.run()
	}
}

// take returns the value queued first, or nil if none is.
func (w *workers) take() task {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.head == len(w.queue) {
		return nil
	}
	return w.pop()
}

// pop takes the value queued first off the queue, which must hold one; w.mu is held.
func (w *workers) pop() task {
	t := w.queue[w.head]
	w.queue[w.head] = nil
	w.head++
	if w.head == len(w.queue) {
		w.queue, w.head = w.queue[:0], 0
	} else if w.head >= 1024 && w.head*2 >= len(w.queue) {
		// A queue never empty must not grow forever: move what is left to the front.
		n := copy(w.queue, w.queue[w.head:])
		clear(w.queue[n:])
		w.queue, w.head = w.queue[:n], 0
	}
	return t
}
