package ring

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/swim-go/swim"
)

// FuzzBatchesMatchFresh reads ops from the input, two bytes each (what, whom), applies them
// in batches, and checks after each batch that the ring holds exactly the points, members
// and checksum of a ring built at once from the members it should hold. Weights 0 to 3 come
// from the member's metadata, so reweighing and draining are exercised too.
func FuzzBatchesMatchFresh(f *testing.F) {
	f.Add([]byte{0x01, 0x02, 0x11, 0x02, 0x80, 0x00, 0x21, 0x03})
	f.Add([]byte{0x00, 0x00, 0x40, 0x00, 0x00, 0x00})
	weight := func(n swim.Node) float64 { return float64(n.Meta[0]) }
	cfg := Config{VirtualNodes: 4, Weight: weight}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := New(cfg)
		want := map[string]swim.Node{}
		b := &Batch{}
		for len(data) >= 2 {
			what, whom := data[0], data[1]
			data = data[2:]
			name := string(rune('a' + whom%16))
			switch {
			case what&0x80 != 0: // end of batch
				r.submit(b.ops, true)
				b = &Batch{}
				checkFresh(t, cfg, r, want)
			case what&0x40 != 0:
				b.Remove(name)
				delete(want, name)
			default:
				n := swim.Node{Name: name, Meta: []byte{what % 4}, Port: uint16(what)}
				b.Add(n)
				want[name] = n
			}
		}
		r.submit(b.ops, true)
		checkFresh(t, cfg, r, want)
	})
}

func checkFresh(t *testing.T, cfg Config, r *Ring, want map[string]swim.Node) {
	t.Helper()
	fresh := New(cfg)
	for _, n := range want {
		fresh.Add(n)
	}
	require.Equal(t, pointsByName(fresh), pointsByName(r), "the same points, with the same owners, as a fresh ring")
	require.Equal(t, fresh.Members(), r.Members(), "the same members, with the same Nodes")
	require.Equal(t, fresh.Checksum(), r.Checksum(), "the same checksum")
	require.Equal(t, fresh.snap.Load().holders, r.snap.Load().holders, "the same members owning points")
}
