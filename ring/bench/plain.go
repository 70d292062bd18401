// Package bench compares ring.Ring's lookups with a textbook ring and with two widely used
// consistent hashing libraries. It is a module of its own so that the library does not
// depend on the libraries it is measured against. Run it with
//
//	cd ring/bench && go test -run '^$' -bench Lookup -benchmem -benchtime=1s
package bench

import (
	"encoding/binary"
	"sort"

	"github.com/cespare/xxhash/v2"
	"github.com/swim-go/swim"
)

// plainRing is the textbook consistent hash ring, the baseline: the members' points sorted
// in a []uint64, sort.Search for a key's hash, and a map from point to member. It places
// points exactly as ring.Ring does (xxhash64 of the name followed by the point number,
// little-endian, in four bytes), so the two answer alike and differ only in how they search.
type plainRing struct {
	points []uint64
	owner  map[uint64]swim.Node
}

func newPlainRing(nodes []swim.Node, virtualNodes int) *plainRing {
	p := &plainRing{owner: make(map[uint64]swim.Node, len(nodes)*virtualNodes)}
	for _, n := range nodes {
		buf := append([]byte(n.Name), 0, 0, 0, 0)
		for j := range virtualNodes {
			binary.LittleEndian.PutUint32(buf[len(buf)-4:], uint32(j))
			h := xxhash.Sum64(buf)
			p.points = append(p.points, h)
			p.owner[h] = n
		}
	}
	sort.Slice(p.points, func(i, j int) bool { return p.points[i] < p.points[j] })
	return p
}

func (p *plainRing) lookup(key string) (swim.Node, bool) {
	if len(p.points) == 0 {
		return swim.Node{}, false
	}
	h := xxhash.Sum64String(key)
	i := sort.Search(len(p.points), func(i int) bool { return p.points[i] >= h })
	if i == len(p.points) {
		i = 0
	}
	return p.owner[p.points[i]], true
}
