package bench

import (
	"fmt"
	"net"
	"strconv"
	"testing"

	buraksezer "github.com/buraksezer/consistent"
	"github.com/cespare/xxhash/v2"
	"github.com/stretchr/testify/require"
	"github.com/swim-go/swim"
	"github.com/swim-go/swim/ring"
	stathat "stathat.com/c/consistent"
)

// sizes are the member counts every ring is measured at.
var sizes = []int{10, 100, 1000}

func members(n int) []swim.Node {
	out := make([]swim.Node, n)
	for i := range out {
		out[i] = swim.Node{Name: fmt.Sprintf("node-%04d", i), Addr: net.IPv4(10, 0, byte(i>>8), byte(i)), Port: 7946}
	}
	return out
}

// keys are the looked-up keys, cycled through: many, so that lookups wander over the
// whole ring as real ones do, rather than hitting one cached path.
var keys, keyBytes = func() ([]string, [][]byte) {
	s := make([]string, 1<<16)
	b := make([][]byte, len(s))
	for i := range s {
		s[i] = "user:" + strconv.Itoa(i*7919)
		b[i] = []byte(s[i])
	}
	return s, b
}()

// member is a buraksezer/consistent Member.
type member string

func (m member) String() string { return string(m) }

type xxhasher struct{}

func (xxhasher) Sum64(b []byte) uint64 { return xxhash.Sum64(b) }

var sink int

// BenchmarkLookup measures one lookup at 10, 100 and 1,000 members in each ring:
//
//   - ring: ring.Ring, DefaultVirtualNodes (512) points a member.
//   - plain: the textbook ring (plain.go) on the same points, searched with sort.Search,
//     then a map from point to member.
//   - buraksezer: github.com/buraksezer/consistent v0.10.0 with xxhash64. Its lookup does
//     not search the ring: it hashes the key to one of PartitionCount partitions and reads
//     the partition's owner from a map, so its points a member (ReplicationFactor) change
//     only its balance and its build time, and it keeps its default, 20. PartitionCount is
//     7919, a prime: its default, 271, cannot hold 1,000 members at its load factor (it
//     panics). It is given each key as []byte, its API's type, so no conversion is counted
//     against it.
//   - stathat: github.com/stathat/consistent v1.0.0 in its default configuration, 20
//     points a member and CRC-32; stathat-512 gives it ring's 512 points, at 10 and 100
//     members only: it sorts all its points again on every member added, so building 1,000
//     members of 512 points takes it about 40 s.
func BenchmarkLookup(b *testing.B) {
	v := ring.DefaultVirtualNodes
	for _, n := range sizes {
		nodes := members(n)
		b.Run(fmt.Sprintf("members=%d/ring", n), func(b *testing.B) {
			r := ring.New(ring.Config{})
			r.Add(nodes...)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				node, _ := r.Lookup(keys[i&(len(keys)-1)])
				sink += len(node.Name)
				i++
			}
		})
		b.Run(fmt.Sprintf("members=%d/plain", n), func(b *testing.B) {
			p := newPlainRing(nodes, v)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				node, _ := p.lookup(keys[i&(len(keys)-1)])
				sink += len(node.Name)
				i++
			}
		})
		b.Run(fmt.Sprintf("members=%d/buraksezer", n), func(b *testing.B) {
			c := newBuraksezer(nodes, buraksezer.DefaultReplicationFactor)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				m := c.LocateKey(keyBytes[i&(len(keys)-1)])
				sink += len(m.String())
				i++
			}
		})
		for _, points := range []int{20, v} {
			name := fmt.Sprintf("members=%d/stathat", n)
			if points != 20 {
				if n > 100 {
					continue
				}
				name += "-" + strconv.Itoa(points)
			}
			b.Run(name, func(b *testing.B) {
				c := newStathat(nodes, points)
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					name, _ := c.Get(keys[i&(len(keys)-1)])
					sink += len(name)
					i++
				}
			})
		}
	}
}

func newBuraksezer(nodes []swim.Node, virtualNodes int) *buraksezer.Consistent {
	ms := make([]buraksezer.Member, len(nodes))
	for i, n := range nodes {
		ms[i] = member(n.Name)
	}
	return buraksezer.New(ms, buraksezer.Config{
		Hasher:            xxhasher{},
		PartitionCount:    7919,
		ReplicationFactor: virtualNodes,
		Load:              buraksezer.DefaultLoad,
	})
}

func newStathat(nodes []swim.Node, virtualNodes int) *stathat.Consistent {
	c := stathat.New()
	c.NumberOfReplicas = virtualNodes
	names := make([]string, len(nodes))
	for i, n := range nodes {
		names[i] = n.Name
	}
	c.Set(names)
	return c
}

// The plain ring is a fair baseline: it answers exactly as ring.Ring does.
func TestPlainRingAgreesWithRing(t *testing.T) {
	nodes := members(100)
	r := ring.New(ring.Config{})
	r.Add(nodes...)
	p := newPlainRing(nodes, ring.DefaultVirtualNodes)
	for _, k := range keys[:10_000] {
		want, _ := r.Lookup(k)
		got, _ := p.lookup(k)
		require.Equalf(t, want.Name, got.Name, "key %s: the plain ring places it as ring.Ring does", k)
	}
}

// TestBalanceAcrossRings logs, for the configurations BenchmarkLookup measures, how evenly
// each spreads 200,000 keys over 100 members: the busiest member's keys over the mean. A
// faster lookup is only worth having at a balance one can live with.
func TestBalanceAcrossRings(t *testing.T) {
	nodes := members(100)
	r := ring.New(ring.Config{})
	r.Add(nodes...)
	b := newBuraksezer(nodes, buraksezer.DefaultReplicationFactor)
	s20, s512 := newStathat(nodes, 20), newStathat(nodes, ring.DefaultVirtualNodes)
	owners := map[string]func(k string) string{
		"ring (and plain)": func(k string) string { n, _ := r.Lookup(k); return n.Name },
		"buraksezer":       func(k string) string { return b.LocateKey([]byte(k)).String() },
		"stathat":          func(k string) string { n, _ := s20.Get(k); return n },
		"stathat-512":      func(k string) string { n, _ := s512.Get(k); return n },
	}
	for _, name := range []string{"ring (and plain)", "buraksezer", "stathat", "stathat-512"} {
		counts := map[string]int{}
		for i := range 200_000 {
			counts[owners[name]("key-"+strconv.Itoa(i))]++
		}
		most := 0
		for _, c := range counts {
			most = max(most, c)
		}
		t.Logf("%-17s max/mean keys per member over 100 members: %.3f", name, float64(most)/(200_000/100.0))
	}
}
