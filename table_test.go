package swim

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// TestMemberTableFindsWhatItHolds adds and removes members at random and checks the table
// against a map after every step: each member held is found at its name, nothing else is.
func TestMemberTableFindsWhatItHolds(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	var tab memberTable
	want := map[string]*member{}
	next := 0
	for step := range 3000 {
		switch {
		case step == 1000:
			tab.grow(len(tab.list) + 2000) // what bootstrap does before adding many
		case rng.IntN(10) < 7 || len(want) == 0:
			m := &member{identity: &identity{name: fmt.Sprintf("m-%d", next)}}
			next++
			if rng.IntN(2) == 0 {
				tab.add(m)
			} else {
				require.True(t, tab.addNew(m), "a new name is added")
			}
			want[m.name] = m
			for name := range want { // one at random, as map order goes
				require.False(t, tab.addNew(&member{identity: &identity{name: name}}), "a known name is not added again")
				break
			}
		default:
			drop := map[string]bool{}
			for name := range want {
				if rng.IntN(4) == 0 {
					drop[name] = true
				}
			}
			removed := tab.removeIf(func(m *member) bool { return drop[m.name] })
			require.Len(t, removed, len(drop))
			for name := range drop {
				delete(want, name)
			}
		}
		require.Len(t, tab.list, len(want))
		for name, m := range want {
			require.Same(t, m, tab.get(name), "step %d: %s", step, name)
		}
		require.Nil(t, tab.get(fmt.Sprintf("m-%d", next)), "a name never added")
		require.Nil(t, tab.get(""))
	}
	require.LessOrEqual(t, len(tab.list)*4, len(tab.index.slots)*3, "the index stays at most 3/4 full")
}

// TestMemberEntryIsSmall keeps a table entry at 32 bytes: the simulator holds n² of them,
// 10^8 at 10,000 members, and every 8 bytes more is 800 MB.
func TestMemberEntryIsSmall(t *testing.T) {
	require.LessOrEqual(t, unsafe.Sizeof(member{}), uintptr(32))
}

// getNext finds what get finds, whatever order the names come in and whatever the table
// did in between: where it looks first is only a guess it checks.
func TestMemberTableGetNextFindsWhatGetFinds(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	var tab memberTable
	for i := range 500 {
		tab.add(&member{identity: &identity{name: fmt.Sprintf("m-%d", i)}})
	}
	names := make([]string, 0, 600)
	for i := range 600 { // 100 the table does not hold
		names = append(names, fmt.Sprintf("m-%d", i))
	}
	for round := range 20 {
		if round%2 == 1 {
			rng.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
		}
		if round == 10 {
			tab.removeIf(func(m *member) bool { return rng.IntN(3) == 0 })
		}
		for _, name := range names {
			require.Same(t, tab.get(name), tab.getNext(name), "round %d: %s", round, name)
		}
	}
}

// The table's counts by state and its kept fingerprint follow every change a cluster's life
// brings: joins, a crash, a leave, a restart at a new address, suspicions under loss, and
// reaps.
func TestMemberCountsFollowTheTable(t *testing.T) {
	s := NewSimulation(SimOptions{Seed: 9, Config: DefaultLocalConfig(), Latency: time.Millisecond, Loss: 0.05})
	for range 30 {
		s.AddNode()
	}
	s.Bootstrap()
	s.RunFor(5 * time.Second)
	s.Crash(10)
	s.Leave(20)
	s.Restart(5, true)
	for range 3 {
		s.Join(s.AddNode(), 0)
	}
	for step := range 12 {
		s.RunFor(10 * time.Second)
		for _, n := range s.nodes {
			if !n.running {
				continue
			}
			var counts [StateLeft + 1]int
			for _, m := range n.core.members.list {
				counts[m.st]++
			}
			require.Equal(t, counts, n.core.members.counts, "step %d, member %s", step, n.name)
			require.Equal(t, n.core.fingerprint(false), n.core.tableSum(false), "step %d, member %s", step, n.name)
			fresh, kept := n.core.versionCounts()
			require.Equal(t, fresh, kept, "step %d, member %s", step, n.name)
		}
	}
}

// fingerprint is tableSum worked out afresh from the table.
func (c *core) fingerprint(join bool) uint64 {
	var order, content uint64
	for _, m := range c.members.list {
		order = mix64(order ^ fnv64(m.name))
		content += mix64(m.identity.seq ^ mix64(uint64(m.incarnation)<<8|uint64(m.state())))
	}
	h := mix64(uint64(len(c.members.list)))
	if join {
		h = mix64(h ^ 1)
	}
	return mix64(mix64(h^order) ^ content)
}

// versionCounts returns the table's counts by protocol versions worked out afresh, and the
// kept ones, both in one order.
func (c *core) versionCounts() (fresh, kept []vsnCount) {
	for _, m := range c.members.list {
		i := slices.IndexFunc(fresh, func(v vsnCount) bool { return v.vsn == m.vsn })
		if i < 0 {
			fresh, i = append(fresh, vsnCount{vsn: m.vsn}), len(fresh)
		}
		fresh[i].all++
		if m.state() == StateAlive {
			fresh[i].alive++
		}
	}
	kept = slices.Clone(c.members.versions())
	byVsn := func(a, b vsnCount) int { return bytes.Compare(a.vsn[:], b.vsn[:]) }
	slices.SortFunc(fresh, byVsn)
	slices.SortFunc(kept, byVsn)
	return fresh, kept
}
