package ring

import (
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/swim-go/swim"
)

var (
	table     = flag.Bool("ring.table", false, "print the balance and memory table against VirtualNodes (about 30 s)")
	tableSets = flag.Int("ring.sets", 20, "name sets of 100 members each for -ring.table's spread columns")
)

// TestBalanceTable prints, for 100 members and 1,000,000 keys, the busiest member's keys
// over the mean against VirtualNodes, measured on the members node-000..node-099 and
// spread over -ring.sets other sets of 100 names, with the snapshot's size; then the same
// for LookupBounded. It is how DefaultVirtualNodes was chosen:
//
//	go test -run TestBalanceTable -v ./ring -args -ring.table
func TestBalanceTable(t *testing.T) {
	if !*table {
		t.Skip("prints a table; run with -ring.table")
	}
	const keys = 1_000_000
	var out strings.Builder
	fmt.Fprintf(&out, "\n100 members, %d keys; spread over %d name sets of 100\n", keys, *tableSets)
	fmt.Fprintf(&out, "| VirtualNodes | points | max/mean node-NNN | median | p95 | worst | snapshot bytes | bytes/point | adding a 101st: moved/ideal |\n")
	fmt.Fprintf(&out, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, v := range []int{16, 32, 64, 128, 256, 384, 512, 1024} {
		r := New(Config{VirtualNodes: v})
		r.Add(members("node", 100)...)
		s := r.snap.Load()
		var spread []float64
		for set := range *tableSets {
			o := New(Config{VirtualNodes: v})
			o.Add(members("set"+strconv.Itoa(set), 100)...)
			spread = append(spread, maxOverMean(loadsOf(o, keys)))
		}
		slices.Sort(spread)
		balance := maxOverMean(loadsOf(r, keys))
		r.Add(swim.Node{Name: "newcomer"})
		moved := loadsOf(r, keys)["newcomer"] // only to the newcomer: TestAddOneMovesOnlyToNewcomer
		fmt.Fprintf(&out, "| %d | %d | %.3f | %.3f | %.3f | %.3f | %d | %.1f | %.2f |\n", v, len(s.points),
			balance, spread[len(spread)/2], spread[(len(spread)-1)*95/100], spread[len(spread)-1],
			s.bytes(), float64(s.bytes())/float64(len(s.points)), float64(moved)/(keys/101.0))
	}

	fmt.Fprintf(&out, "\nLookupBounded, 100 members (node-NNN), %d keys placed in order\n", keys)
	fmt.Fprintf(&out, "| VirtualNodes | LoadFactor | max/mean | keys not on their Lookup owner |\n|---:|---:|---:|---:|\n")
	for _, v := range []int{64, DefaultVirtualNodes} {
		for _, c := range []float64{1.05, 1.1, 1.25} {
			most, displaced := placeBounded(v, c, keys)
			fmt.Fprintf(&out, "| %d | %.2f | %.3f | %.2f%% |\n", v, c, float64(most)/(keys/100.0), 100*float64(displaced)/keys)
		}
	}
	t.Log(out.String())
}

// placeBounded places keys test keys on 100 members with LookupBounded, and returns the
// busiest member's count and how many keys did not land on their Lookup owner.
func placeBounded(virtualNodes int, loadFactor float64, keys int) (most, displaced int) {
	r := New(Config{VirtualNodes: virtualNodes, LoadFactor: loadFactor})
	r.Add(members("node", 100)...)
	var loads Loads
	var buf []byte
	for i := range keys {
		buf = key(buf, i)
		n, _ := r.LookupBounded(string(buf), &loads)
		if plain, _ := r.Lookup(string(buf)); plain.Name != n.Name {
			displaced++
		}
		loads.Add(n.Name, 1)
	}
	for _, n := range r.Members() {
		most = max(most, loads.Load(n.Name))
	}
	return most, displaced
}
