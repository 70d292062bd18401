package swim

import (
	"cmp"
	"slices"
)

// queueOrder holds a broadcast queue's items in the order they are sent (see queued): by
// class (priority, transmissions, length: the top half of ord), then newest first. A packet
// takes from the front and puts what it sent back one class later, so the work is a few
// inserts and deletes per packet, nearly all at the ends of a class.
//
// It replaces a general ordered set for two reasons. A queue holds few classes (a join's
// thousands of alives share a handful of lengths), so a class that cannot fit the space left
// in a packet is passed over whole instead of item by item. And the comparisons are inline:
// with a B-tree and a comparison function, ordering took a sixth of a simulated 2,000-member
// join's member thread.
type queueOrder struct {
	classes []orderClass // by key, ascending; none empty
	n       int
}

// orderClass is the items of one class, in blocks: each block's ids ascend, and every id of
// a block is below every id of the next. The newest item is the last of the last block.
type orderClass struct {
	key    uint32 // the items' ord>>32
	blocks [][]queued
	maxes  []uint64 // the last id of each block
	n      int
}

// itemLen is the length of the class's items, or at most that when it is 0xFFFF or more
// (see BroadcastQueue.key).
func (c *orderClass) itemLen() int { return 0xFFFF - int(c.key&0xFFFF) }

// orderBlockSize bounds a block: an insert or delete moves at most this many items.
const orderBlockSize = 64

func (q queued) class() uint32 { return uint32(q.ord >> 32) }

// Len returns the number of items.
func (o *queueOrder) Len() int { return o.n }

// find returns the index of the class with key, or where it would go.
func (o *queueOrder) find(key uint32) (int, bool) {
	lo, hi := 0, len(o.classes)
	for lo < hi { // written out: the generic search's comparison function is not inlined
		if mid := int(uint(lo+hi) >> 1); o.classes[mid].key < key {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, lo < len(o.classes) && o.classes[lo].key == key
}

// insert adds k, which it must not hold.
func (o *queueOrder) insert(k queued) {
	ci, ok := o.find(k.class())
	if !ok {
		o.classes = slices.Insert(o.classes, ci, orderClass{key: k.class()})
	}
	o.classes[ci].insert(k)
	o.n++
}

// delete removes k, which it must hold.
func (o *queueOrder) delete(k queued) {
	ci, ok := o.find(k.class())
	if !ok {
		panic("swim: broadcast queue: delete of an item it does not hold")
	}
	c := &o.classes[ci]
	c.delete(k)
	if c.n == 0 {
		o.classes = slices.Delete(o.classes, ci, ci+1)
	}
	o.n--
}

// all returns every item, in order.
func (o *queueOrder) all() []queued {
	out := make([]queued, 0, o.n)
	for i := range o.classes {
		c := &o.classes[i]
		for b := len(c.blocks) - 1; b >= 0; b-- {
			for i := len(c.blocks[b]) - 1; i >= 0; i-- {
				out = append(out, c.blocks[b][i])
			}
		}
	}
	return out
}

// block returns the index of the block that holds id or would: the first whose last id is
// not below it, else the last block.
func (c *orderClass) block(id uint64) int {
	b, _ := slices.BinarySearch(c.maxes, id)
	return min(b, len(c.blocks)-1)
}

func (c *orderClass) insert(k queued) {
	c.n++
	if len(c.blocks) == 0 {
		c.blocks, c.maxes = append(c.blocks, []queued{k}), append(c.maxes, k.id)
		return
	}
	b := c.block(k.id)
	blk := c.blocks[b]
	i := len(blk)
	if blk[i-1].id > k.id { // not the newest of its block: an item sent on into a class of newer ones
		i, _ = slices.BinarySearchFunc(blk, k.id, func(q queued, id uint64) int { return cmp.Compare(q.id, id) })
	}
	blk = slices.Insert(blk, i, k)
	if len(blk) <= orderBlockSize {
		c.blocks[b], c.maxes[b] = blk, blk[len(blk)-1].id
		return
	}
	// Split in two; the upper half moves to a block of its own, so appends to a class
	// that only grows leave full blocks behind them.
	half := len(blk) / 2
	upper := slices.Clone(blk[half:])
	clear(blk[half:])
	blk = blk[:half]
	c.blocks[b], c.maxes[b] = blk, blk[half-1].id
	c.blocks = slices.Insert(c.blocks, b+1, upper)
	c.maxes = slices.Insert(c.maxes, b+1, upper[len(upper)-1].id)
}

func (c *orderClass) delete(k queued) {
	b := c.block(k.id)
	blk := c.blocks[b]
	i := len(blk) - 1
	if blk[i].id != k.id {
		var ok bool
		i, ok = slices.BinarySearchFunc(blk, k.id, func(q queued, id uint64) int { return cmp.Compare(q.id, id) })
		if !ok {
			panic("swim: broadcast queue: delete of an item it does not hold")
		}
	}
	blk = slices.Delete(blk, i, i+1)
	c.n--
	if len(blk) == 0 {
		c.blocks = slices.Delete(c.blocks, b, b+1)
		c.maxes = slices.Delete(c.maxes, b, b+1)
		return
	}
	c.blocks[b], c.maxes[b] = blk, blk[len(blk)-1].id
}
