// Package later holds a value worked out on a goroutine of its own, for whoever needs it
// later: the simulator starts work that depends only on bytes already made (compressing,
// decoding, hashing) on the machine's other cores, ahead of the members that will use it.
package later

// Value is a value being worked out, or worked out.
type Value[T any] struct {
	done chan struct{} // closed when v is set
	v    T
}

// Start starts working out f() on a goroutine of its own. f must depend on nothing that
// changes meanwhile.
func Start[T any](f func() T) *Value[T] {
	l := &Value[T]{done: make(chan struct{})}
	go func() {
		l.v = f()
		close(l.done)
	}()
	return l
}

// Get returns the value, waiting for it if it is not worked out yet.
func (l *Value[T]) Get() T {
	<-l.done
	return l.v
}
