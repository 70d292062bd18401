package interop

import (
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/stretchr/testify/require"

	"github.com/swim-go/swim"
)

// mlDelegate records user messages a memberlist member receives and serves its metadata.
type mlDelegate struct {
	mu   sync.Mutex
	meta []byte
	msgs []string
}

func (d *mlDelegate) NodeMeta(int) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.meta
}
func (d *mlDelegate) NotifyMsg(b []byte) {
	d.mu.Lock()
	d.msgs = append(d.msgs, string(b))
	d.mu.Unlock()
}
func (d *mlDelegate) GetBroadcasts(int, int) [][]byte { return nil }
func (d *mlDelegate) LocalState(bool) []byte          { return nil }
func (d *mlDelegate) MergeRemoteState([]byte, bool)   {}
func (d *mlDelegate) got(s string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Contains(d.msgs, s)
}

func newML(t *testing.T, name string, meta string) (*memberlist.Memberlist, *mlDelegate) {
	t.Helper()
	d := &mlDelegate{meta: []byte(meta)}
	c := memberlist.DefaultLocalConfig()
	c.Name = name
	c.BindAddr = "127.0.0.1"
	c.BindPort = 0
	c.LogOutput = io.Discard
	c.Delegate = d
	m, err := memberlist.Create(c)
	require.NoError(t, err)
	t.Cleanup(func() { m.Shutdown() })
	return m, d
}

// swimDelegate is the same for swim members.
type swimDelegate struct{ mlDelegate }

func newSwim(t *testing.T, name, meta string) (*swim.Memberlist, *swimDelegate) {
	t.Helper()
	d := &swimDelegate{mlDelegate{meta: []byte(meta)}}
	c := swim.DefaultLocalConfig()
	c.Name = name
	c.BindAddr = "127.0.0.1"
	c.BindPort = 0
	c.Delegate = d
	m, err := swim.Create(c)
	require.NoError(t, err)
	t.Cleanup(func() { m.Shutdown() })
	return m, d
}

// eventually polls cond on the wall clock (these are real-socket tests) until limit.
func eventually(t *testing.T, limit time.Duration, cond func() bool, reason string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", reason, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mlNames(m *memberlist.Memberlist) []string {
	var out []string
	for _, n := range m.Members() {
		out = append(out, n.Name)
	}
	slices.Sort(out)
	return out
}

// allHold reports whether every member on both sides holds exactly the members named in all.
func allHold(mls []*memberlist.Memberlist, sws []*swim.Memberlist, all []string) bool {
	for _, m := range mls {
		if !slices.Equal(mlNames(m), all) {
			return false
		}
	}
	for _, m := range sws {
		if !slices.Equal(swimNames(m), all) {
			return false
		}
	}
	return true
}

func swimNames(m *swim.Memberlist) []string {
	var out []string
	for _, n := range m.Members() {
		if n.State == swim.StateAlive {
			out = append(out, n.Name)
		}
	}
	slices.Sort(out)
	return out
}

// A swim member joins a memberlist seed, a memberlist member joins a swim seed, and a mixed
// cluster of 3 + 3 converges, with metadata visible both ways.
func TestMixedClusterConverges(t *testing.T) {
	ml0, _ := newML(t, "ml-0", "from-ml")
	sw0, _ := newSwim(t, "sw-0", "from-swim")
	_, err := sw0.Join([]string{ml0.LocalNode().Address()})
	require.NoError(t, err, "swim joins a memberlist seed")
	ml1, _ := newML(t, "ml-1", "from-ml")
	_, err = ml1.Join([]string{sw0.LocalNode().Address()})
	require.NoError(t, err, "memberlist joins a swim seed")
	mls := []*memberlist.Memberlist{ml0, ml1}
	sws := []*swim.Memberlist{sw0}
	for i := 2; i < 3; i++ {
		m, _ := newML(t, fmt.Sprintf("ml-%d", i), "from-ml")
		_, err := m.Join([]string{sw0.LocalNode().Address()})
		require.NoError(t, err)
		mls = append(mls, m)
	}
	for i := 1; i < 3; i++ {
		m, _ := newSwim(t, fmt.Sprintf("sw-%d", i), "from-swim")
		_, err := m.Join([]string{ml0.LocalNode().Address()})
		require.NoError(t, err)
		sws = append(sws, m)
	}
	all := []string{"ml-0", "ml-1", "ml-2", "sw-0", "sw-1", "sw-2"}
	// memberlist members that miss a gossiped alive wait for their periodic push/pull
	// (15 s with the Local timings), so allow for two of those.
	eventually(t, 40*time.Second, func() bool { return allHold(mls, sws, all) }, "the mixed cluster converges on both sides")
	for _, n := range ml0.Members() {
		if n.Name[:2] == "sw" {
			require.Equal(t, "from-swim", string(n.Meta), "memberlist sees swim metadata")
		}
	}
	for _, n := range sw0.Members() {
		if n.Name[:2] == "ml" {
			require.Equal(t, "from-ml", string(n.Meta), "swim sees memberlist metadata")
		}
	}
}

// User messages cross both ways, best effort and reliable; a swim member killed without
// leaving is declared dead by memberlist, and a swim leave is seen as a leave.
func TestMessagesFailureAndLeave(t *testing.T) {
	ml0, mld := newML(t, "ml-0", "")
	sw0, swd := newSwim(t, "sw-0", "")
	sw1, _ := newSwim(t, "sw-1", "")
	for _, s := range []*swim.Memberlist{sw0, sw1} {
		_, err := s.Join([]string{ml0.LocalNode().Address()})
		require.NoError(t, err)
	}
	eventually(t, 10*time.Second, func() bool { return ml0.NumMembers() == 3 && sw0.NumMembers() == 3 }, "three members")

	var mlAsSwim swim.Node
	for _, n := range sw0.Members() {
		if n.Name == "ml-0" {
			mlAsSwim = n
		}
	}
	require.NoError(t, sw0.SendBestEffort(mlAsSwim, []byte("swim->ml packet")))
	require.NoError(t, sw0.SendReliable(mlAsSwim, []byte("swim->ml stream")))
	var swAsML *memberlist.Node
	for _, n := range ml0.Members() {
		if n.Name == "sw-0" {
			swAsML = n
		}
	}
	require.NoError(t, ml0.SendBestEffort(swAsML, []byte("ml->swim packet")))
	require.NoError(t, ml0.SendReliable(swAsML, []byte("ml->swim stream")))
	eventually(t, 5*time.Second, func() bool {
		return mld.got("swim->ml packet") && mld.got("swim->ml stream") && swd.got("ml->swim packet") && swd.got("ml->swim stream")
	}, "user messages cross both ways")

	require.NoError(t, sw1.Shutdown())
	eventually(t, 30*time.Second, func() bool { return !slices.Contains(mlNames(ml0), "sw-1") }, "memberlist declares the killed swim member dead")

	require.NoError(t, sw0.Leave(5*time.Second))
	// Usually seen within a second from the gossiped leave; about one run in eight under
	// load it takes memberlist's next push/pull (15 s with Local timings). The cause is not
	// yet understood (see the closing note of the interop issue); the bound covers it.
	eventually(t, 40*time.Second, func() bool { return !slices.Contains(mlNames(ml0), "sw-0") }, "memberlist sees the swim leave")
}

// A memberlist member killed without leaving is declared dead by swim, and a memberlist leave
// is seen by swim as a leave.
func TestSwimDetectsMemberlist(t *testing.T) {
	sw0, _ := newSwim(t, "sw-0", "")
	ml0, _ := newML(t, "ml-0", "")
	ml1, _ := newML(t, "ml-1", "")
	for _, m := range []*memberlist.Memberlist{ml0, ml1} {
		_, err := m.Join([]string{sw0.LocalNode().Address()})
		require.NoError(t, err)
	}
	eventually(t, 10*time.Second, func() bool { return sw0.NumMembers() == 3 }, "three members")
	require.NoError(t, ml1.Shutdown())
	// Dead, not only suspected: a suspicion nobody confirms runs to its longest (18 s with
	// Local timings among three members), and ml-0, leaving, may not have suspected ml-1 yet.
	eventually(t, 30*time.Second, func() bool {
		return !slices.ContainsFunc(sw0.Members(), func(n swim.Node) bool { return n.Name == "ml-1" })
	}, "swim declares the killed memberlist member dead")
	require.NoError(t, ml0.Leave(5*time.Second))
	eventually(t, 10*time.Second, func() bool { return sw0.NumMembers() == 1 }, "swim sees the memberlist leave")
}

// memberlist speaking protocol versions 2 to 5 (nacks from 4, CRC from 5) joins swim and is
// joined by it.
func TestMemberlistProtocolVersions(t *testing.T) {
	for v := uint8(2); v <= 5; v++ {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			c := memberlist.DefaultLocalConfig()
			c.Name = "ml"
			c.BindAddr = "127.0.0.1"
			c.BindPort = 0
			c.LogOutput = io.Discard
			c.ProtocolVersion = v
			ml, err := memberlist.Create(c)
			require.NoError(t, err)
			defer ml.Shutdown()
			sw, _ := newSwim(t, "sw", "")
			_, err = sw.Join([]string{ml.LocalNode().Address()})
			require.NoError(t, err)
			eventually(t, 10*time.Second, func() bool { return ml.NumMembers() == 2 && sw.NumMembers() == 2 }, "both see both")
			require.Equal(t, v, sw.Members()[slices.IndexFunc(sw.Members(), func(n swim.Node) bool { return n.Name == "ml" })].PCur)
		})
	}
}
