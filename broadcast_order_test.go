package swim

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// The order holds what a plain sorted list would, in its order (class ascending, then id
// descending), through inserts at any id, deletes anywhere, block splits and classes that
// come and go.
func TestQueueOrderIsSorted(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 1))
	var o queueOrder
	var want []queued
	for step := range 30000 {
		if len(want) > 0 && rng.IntN(100) < 45 {
			i := rng.IntN(len(want))
			o.delete(want[i])
			want = slices.Delete(want, i, i+1)
		} else {
			// Mostly new ids, some older ones (an item moving up a class keeps its id).
			id := uint64(step)
			if rng.IntN(4) == 0 {
				id = uint64(rng.IntN(step+1)) << 20
			}
			id = id<<16 | uint64(step&0xFFFF) // unique
			k := queued{ord: uint64(rng.IntN(6))<<48 | uint64(rng.IntN(3))<<32 | uint64(step), id: id}
			o.insert(k)
			want = append(want, k)
		}
		if step%500 == 0 || step == 29999 {
			slices.SortFunc(want, func(a, b queued) int {
				if c := cmp.Compare(a.class(), b.class()); c != 0 {
					return c
				}
				return cmp.Compare(b.id, a.id)
			})
			require.Equal(t, len(want), o.Len())
			require.Equal(t, want, o.all(), "step %d", step)
			for _, c := range o.classes {
				require.Positive(t, c.n)
				for b, blk := range c.blocks {
					require.LessOrEqual(t, len(blk), orderBlockSize)
					require.Equal(t, blk[len(blk)-1].id, c.maxes[b])
				}
			}
		}
	}
}
