//go:build !linux

package hugepages

// Heap does nothing outside Linux.
func Heap(size int64) (int64, error) { return 0, nil }
