package swim

// Encryption, labels and allow-lists in whole clusters, in the simulator.

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var (
	oldKey = bytes.Repeat([]byte{0x11}, 32)
	newKey = bytes.Repeat([]byte{0x22}, 16)
)

// joinAll starts n members from cfg, each joining member 0, and waits for convergence.
func joinAll(t *testing.T, n int, seed uint64, cfg *Config) *Simulation {
	t.Helper()
	s := NewSimulation(SimOptions{Seed: seed, Config: cfg, Latency: time.Millisecond, Jitter: time.Millisecond})
	for i := range n {
		s.AddNode()
		if i > 0 {
			s.Join(i, 0)
		}
	}
	eventually(t, s, seed, 30*time.Second, s.Converged, "converged")
	return s
}

// "A cluster sharing a key works as a plaintext one does, and a member with another key or
// another label never gets in: everything it sends is dropped and counted."
func TestEncryptedClusterKeepsOutsiders(t *testing.T) {
	const seed = 7
	cfg := localConfig()
	cfg.SecretKey = oldKey
	cfg.Label = "prod"
	s := joinAll(t, 10, seed, cfg)
	outsiders := map[string]func(*Config){
		"wrong key":   func(c *Config) { c.SecretKey = newKey },
		"no key":      func(c *Config) { c.SecretKey = nil },
		"other label": func(c *Config) { c.Label = "test" },
		"no label":    func(c *Config) { c.Label = "" },
	}
	var ids []int
	for _, name := range []string{"wrong key", "no key", "other label", "no label"} {
		i := s.AddNodeWith(outsiders[name])
		s.Join(i, 0, 1)
		ids = append(ids, i)
	}
	s.RunFor(30 * time.Second)
	for k, i := range ids {
		require.Len(t, s.Members(i), 1, "outsider %d knows nobody; %s", k, rerun(t, seed))
		for j := range 10 {
			_, known := s.State(j, i)
			require.False(t, known, "member %d never admits outsider %d; %s", j, i, rerun(t, seed))
		}
	}
	var total [numDropReasons]uint64
	for j := range 10 {
		for r, n := range s.Drops(j) {
			total[r] += n
		}
	}
	require.NotZero(t, total[DropDecryptFailed], "the wrong key's traffic is counted")
	require.NotZero(t, total[DropEncryption], "plaintext streams are refused and counted")
	require.NotZero(t, total[DropBadLabel], "the wrong labels are counted")
	require.Zero(t, s.Stats().FalseSuspicions)
}

// "Keys rotate across a running cluster (add the new key everywhere, make it primary
// everywhere, remove the old one) without losing a member or a message."
func TestKeyRotationLosesNothing(t *testing.T) {
	const seed = 11
	const n = 12
	cfg := localConfig()
	cfg.SecretKey = oldKey
	s := joinAll(t, n, seed, cfg)
	sent := 0
	send := func() {
		for i := range n {
			s.SendUser(i, (i+1)%n, fmt.Appendf(nil, "best-effort %d", sent), false)
			s.SendUser(i, (i+2)%n, fmt.Appendf(nil, "reliable %d", sent), true)
			sent++
		}
	}
	step := func(f func(k *Keyring) error) {
		for i := range n {
			require.NoError(t, f(s.Keyring(i)))
			send()
			s.RunFor(300 * time.Millisecond)
		}
		s.RunFor(2 * time.Second)
	}
	step(func(k *Keyring) error { return k.AddKey(newKey) })
	step(func(k *Keyring) error { return k.UseKey(newKey) })
	step(func(k *Keyring) error { return k.RemoveKey(oldKey) })
	s.RunFor(5 * time.Second)

	got := 0
	for i := range n {
		got += len(s.UserMessages(i))
		require.Equal(t, [][]byte{newKey}, s.Keyring(i).Keys())
		require.Zero(t, s.Drops(i)[DropDecryptFailed], "member %d; %s", i, rerun(t, seed))
	}
	require.Equal(t, 2*sent, got, "every user message arrived; %s", rerun(t, seed))
	require.True(t, s.Converged(), rerun(t, seed))
	st := s.Stats()
	require.Zero(t, st.FalseSuspicions, rerun(t, seed))
	require.Zero(t, st.FalseDeaths, rerun(t, seed))

	// A member still holding only the old key is now an outsider.
	i := s.AddNodeWith(func(c *Config) { c.SecretKey = oldKey })
	s.Join(i, 0)
	s.RunFor(10 * time.Second)
	require.Len(t, s.Members(i), 1, rerun(t, seed))
}

// "A running plaintext cluster moves to encryption member by member without a partition:
// install the key with verification off, then encrypt outgoing, then refuse plaintext."
func TestPlaintextToEncryptedMigration(t *testing.T) {
	const seed = 13
	const n = 16
	s := joinAll(t, n, seed, localConfig())
	for _, step := range []func(i int){
		func(i int) {
			s.SetGossipVerify(i, false, false)
			require.NoError(t, s.Keyring(i).AddKey(newKey))
		},
		func(i int) { s.SetGossipVerify(i, false, true) },
		func(i int) { s.SetGossipVerify(i, true, true) },
	} {
		for i := range n {
			step(i)
			// Long enough for probes, gossip and a push/pull or two between members in
			// different stages.
			s.RunFor(3 * time.Second)
			require.True(t, s.Converged(), "after member %d; %s", i, rerun(t, seed))
		}
	}
	st := s.Stats()
	require.Zero(t, st.FalseSuspicions, rerun(t, seed))
	require.Zero(t, st.FalseDeaths, rerun(t, seed))
	for i := range n {
		require.Zero(t, s.Drops(i)[DropDecryptFailed], "member %d; %s", i, rerun(t, seed))
	}
	// The cluster is now closed to plaintext.
	i := s.AddNode()
	s.Join(i, 0)
	s.RunFor(10 * time.Second)
	require.Len(t, s.Members(i), 1, rerun(t, seed))
}

// "Members outside CIDRsAllowed are neither heard nor admitted, not even by gossip about
// them from members inside."
func TestCIDRsAllowedKeepsOthersOut(t *testing.T) {
	const seed = 17
	cfg := localConfig()
	s := NewSimulation(SimOptions{Seed: seed, Config: cfg, Latency: time.Millisecond})
	// Members 0-2 allow only 10.0.0.0/30 (members 0..3); member 3 allows everyone, so it
	// admits member 4 (10.0.0.4) and gossips about it.
	only := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/30")}
	for range 3 {
		s.AddNodeWith(func(c *Config) { c.CIDRsAllowed = only })
	}
	open := s.AddNode()
	out := s.AddNode()
	for i := 1; i <= open; i++ {
		s.Join(i, 0)
	}
	s.RunFor(5 * time.Second)
	s.Join(out, open)
	outDirect := s.AddNode()
	s.Join(outDirect, 0)
	s.RunFor(20 * time.Second)
	for i := range 3 {
		require.Len(t, s.Members(i), 4, "member %d; %s", i, rerun(t, seed))
		_, known := s.State(i, out)
		require.False(t, known, rerun(t, seed))
		require.NotZero(t, s.Drops(i)[DropNotAllowed], "member %d counted the gossip about member %d; %s", i, out, rerun(t, seed))
	}
	require.Len(t, s.Members(open), 5, rerun(t, seed))
	require.Len(t, s.Members(outDirect), 1, "a join straight to a restricted member fails; %s", rerun(t, seed))
}
