package ring

import (
	"strconv"
	"testing"

	"github.com/cespare/xxhash/v2"
)

var benchKeys = func() []string {
	s := make([]string, 1<<16)
	for i := range s {
		s[i] = "user:" + strconv.Itoa(i*7919)
	}
	return s
}()

var benchSink int

// BenchmarkLookup measures Lookup at 10, 100 and 1,000 members; hash-only is the floor:
// hashing the same keys, read from the same array, and nothing else.
func BenchmarkLookup(b *testing.B) {
	b.Run("hash-only", func(b *testing.B) {
		i := 0
		for b.Loop() {
			benchSink += int(xxhash.Sum64String(benchKeys[i&(len(benchKeys)-1)]) & 1)
			i++
		}
	})
	for _, n := range []int{10, 100, 1000} {
		r := New(Config{})
		r.Add(members("node", n)...)
		b.Run("members="+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				node, _ := r.Lookup(benchKeys[i&(len(benchKeys)-1)])
				benchSink += len(node.Name)
				i++
			}
		})
	}
}

// BenchmarkRebuild measures what a change costs: one member joining or leaving a ring of
// 100 or 1,000 members (each op one rebuild, alternately adding and removing it), and a
// ring of 100 or 1,000 members built in one Add.
func BenchmarkRebuild(b *testing.B) {
	for _, n := range []int{100, 1000} {
		nodes := members("node", n)
		b.Run("join-or-leave/members="+strconv.Itoa(n), func(b *testing.B) {
			r := New(Config{})
			r.Add(nodes...)
			newcomer := members("newcomer", 1)[0]
			i := 0
			for b.Loop() {
				if i%2 == 0 {
					r.Add(newcomer)
				} else {
					r.Remove(newcomer.Name)
				}
				i++
			}
		})
		b.Run("all-at-once/members="+strconv.Itoa(n), func(b *testing.B) {
			for b.Loop() {
				New(Config{}).Add(nodes...)
			}
		})
	}
}
