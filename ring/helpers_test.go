package ring

import (
	"fmt"
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/swim-go/swim"
)

// members returns n members named prefix-000, prefix-001, ..., each at its own address.
func members(prefix string, n int) []swim.Node {
	out := make([]swim.Node, n)
	for i := range out {
		out[i] = swim.Node{
			Name: fmt.Sprintf("%s-%03d", prefix, i),
			Addr: net.IPv4(10, 0, byte(i>>8), byte(i)),
			Port: 7946,
		}
	}
	return out
}

// names returns the names of nodes, in order.
func names(nodes []swim.Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.Name
	}
	return out
}

// key returns the i-th test key, appended to buf.
func key(buf []byte, i int) []byte {
	return strconv.AppendInt(append(buf[:0], "key-"...), int64(i), 10)
}

// owners returns who owns each of the first n test keys, by key number.
func owners(r *Ring, n int) []string {
	out := make([]string, n)
	var buf []byte
	for i := range out {
		buf = key(buf, i)
		node, ok := r.Lookup(string(buf))
		if ok {
			out[i] = node.Name
		}
	}
	return out
}

// loadsOf counts the first n test keys per member, every member of the ring included.
func loadsOf(r *Ring, n int) map[string]int {
	s := r.snap.Load()
	counts := make([]int, len(s.slots))
	var buf []byte
	for i := range n {
		buf = key(buf, i)
		counts[s.points[s.search(r.hash(buf))].owner]++
	}
	out := make(map[string]int)
	for _, o := range s.sorted {
		out[s.slots[o].node.Name] = counts[o]
	}
	return out
}

// maxOverMean returns the largest count divided by the mean count.
func maxOverMean(counts map[string]int) float64 {
	total, most := 0, 0
	for _, c := range counts {
		total += c
		most = max(most, c)
	}
	return float64(most) / (float64(total) / float64(len(counts)))
}

// requireSameLookups fails unless a and b give the same owner for the first n test keys.
func requireSameLookups(t *testing.T, a, b *Ring, n int, why string) {
	t.Helper()
	oa, ob := owners(a, n), owners(b, n)
	for i := range oa {
		if oa[i] != ob[i] {
			require.Failf(t, why, "key %d: %s on one ring, %s on the other", i, oa[i], ob[i])
		}
	}
}
