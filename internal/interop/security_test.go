package interop

// Encryption and labels across a mixed cluster: the same key and label on both sides, a key
// rotation while messages flow, and outsiders with the wrong key or label.

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/stretchr/testify/require"

	"github.com/swim-go/swim"
)

var (
	keyA = bytes.Repeat([]byte{0xa1}, 32)
	keyB = bytes.Repeat([]byte{0xb2}, 16)
)

// secureML starts a memberlist member with its own keyring holding key, and a label.
func secureML(t *testing.T, name, label string, key []byte) (*memberlist.Memberlist, *memberlist.Keyring, *mlDelegate) {
	t.Helper()
	d := &mlDelegate{meta: []byte("ml")}
	c := memberlist.DefaultLocalConfig()
	c.Name = name
	c.BindAddr = "127.0.0.1"
	c.BindPort = 0
	c.LogOutput = io.Discard
	c.Delegate = d
	c.Label = label
	kr, err := memberlist.NewKeyring(nil, key)
	require.NoError(t, err)
	c.Keyring = kr
	m, err := memberlist.Create(c)
	require.NoError(t, err)
	t.Cleanup(func() { m.Shutdown() })
	return m, kr, d
}

// secureSwim does the same for a swim member.
func secureSwim(t *testing.T, name, label string, key []byte) (*swim.Memberlist, *swimDelegate) {
	t.Helper()
	d := &swimDelegate{mlDelegate{meta: []byte("swim")}}
	c := swim.DefaultLocalConfig()
	c.Name = name
	c.BindAddr = "127.0.0.1"
	c.BindPort = 0
	c.Delegate = d
	c.Label = label
	c.SecretKey = key
	m, err := swim.Create(c)
	require.NoError(t, err)
	t.Cleanup(func() { m.Shutdown() })
	return m, d
}

// A mixed cluster sharing a key and a label converges and carries messages both ways; the
// key is then rotated (added everywhere, made primary everywhere, the old one removed) while
// messages keep flowing, and no member and no message is lost.
func TestEncryptedMixedClusterRotatesKeys(t *testing.T) {
	const label = "prod"
	var (
		mls   []*memberlist.Memberlist
		mlKRs []*memberlist.Keyring
		mlDs  []*mlDelegate
		sws   []*swim.Memberlist
		swDs  []*swimDelegate
	)
	for i := range 3 {
		m, kr, d := secureML(t, fmt.Sprintf("ml-%d", i), label, keyA)
		mls, mlKRs, mlDs = append(mls, m), append(mlKRs, kr), append(mlDs, d)
		s, sd := secureSwim(t, fmt.Sprintf("sw-%d", i), label, keyA)
		sws, swDs = append(sws, s), append(swDs, sd)
	}
	seed := sws[0].LocalNode().Address()
	for i := range 3 {
		if i > 0 {
			_, err := sws[i].Join([]string{mls[0].LocalNode().Address()})
			require.NoError(t, err, "swim joins an encrypted memberlist member")
		}
		_, err := mls[i].Join([]string{seed})
		require.NoError(t, err, "memberlist joins an encrypted swim member")
	}
	all := []string{"ml-0", "ml-1", "ml-2", "sw-0", "sw-1", "sw-2"}
	converged := func() bool { return allHold(mls, sws, all) }
	eventually(t, 40*time.Second, converged, "the encrypted mixed cluster converges")

	// Every swim member sends to every memberlist member and back, reliably and best effort.
	var want []func() bool
	round := 0
	send := func() {
		round++
		for i, s := range sws {
			for j, m := range mls {
				rel := fmt.Sprintf("r%d sw-%d>ml-%d", round, i, j)
				be := fmt.Sprintf("b%d sw-%d>ml-%d", round, i, j)
				to := swimNode(t, s, m.LocalNode().Name)
				require.NoError(t, s.SendReliable(to, []byte(rel)))
				require.NoError(t, s.SendBestEffort(to, []byte(be)))
				d := mlDs[j]
				want = append(want, func() bool { return d.got(rel) && d.got(be) })

				back := fmt.Sprintf("r%d ml-%d>sw-%d", round, j, i)
				require.NoError(t, m.SendReliable(mlNode(t, m, s.LocalNode().Name), []byte(back)))
				sd := swDs[i]
				want = append(want, func() bool { return sd.got(back) })
			}
		}
	}
	send()
	step := func(what string, ml func(*memberlist.Keyring) error, sw func(*swim.Keyring) error) {
		for i := range 3 {
			require.NoError(t, ml(mlKRs[i]), "%s on ml-%d", what, i)
			require.NoError(t, sw(sws[i].Keyring()), "%s on sw-%d", what, i)
			send()
		}
		require.True(t, converged(), "nobody lost after: %s", what)
	}
	step("add the new key", func(k *memberlist.Keyring) error { return k.AddKey(keyB) },
		func(k *swim.Keyring) error { return k.AddKey(keyB) })
	step("make it primary", func(k *memberlist.Keyring) error { return k.UseKey(keyB) },
		func(k *swim.Keyring) error { return k.UseKey(keyB) })
	step("remove the old key", func(k *memberlist.Keyring) error { return k.RemoveKey(keyA) },
		func(k *swim.Keyring) error { return k.RemoveKey(keyA) })

	eventually(t, 20*time.Second, func() bool {
		for _, ok := range want {
			if !ok() {
				return false
			}
		}
		return true
	}, "every message of the rotation arrived")
	// Everyone stays for a few probe rounds on the new key alone.
	time.Sleep(3 * time.Second)
	require.True(t, converged(), "nobody lost on the new key")
	for _, s := range sws {
		require.Zero(t, s.Drops()[swim.DropDecryptFailed], "%s decrypted everything", s.LocalNode().Name)
	}
}

// Members with the wrong key, no key or another label never join a mixed encrypted
// cluster, and swim counts what they sent as drops.
func TestOutsidersNeverJoinEncryptedMixedCluster(t *testing.T) {
	ml0, _, _ := secureML(t, "ml-0", "prod", keyA)
	sw0, _ := secureSwim(t, "sw-0", "prod", keyA)
	_, err := sw0.Join([]string{ml0.LocalNode().Address()})
	require.NoError(t, err)
	eventually(t, 10*time.Second, func() bool { return len(ml0.Members()) == 2 }, "the cluster forms")

	seeds := []string{sw0.LocalNode().Address(), ml0.LocalNode().Address()}
	before := sw0.Drops()
	wrongSwim, _ := secureSwim(t, "wrong-key-swim", "prod", keyB)
	_, err = wrongSwim.Join(seeds)
	require.ErrorIs(t, err, swim.ErrJoinFailed, "a swim member with the wrong key")
	wrongML, _, _ := secureML(t, "wrong-key-ml", "prod", keyB)
	_, err = wrongML.Join(seeds)
	require.Error(t, err, "a memberlist member with the wrong key")
	plain, _ := secureSwim(t, "no-key-swim", "prod", nil)
	_, err = plain.Join(seeds)
	require.ErrorIs(t, err, swim.ErrJoinFailed, "a swim member without a key")
	otherLabel, _ := secureSwim(t, "other-label-swim", "test", keyA)
	_, err = otherLabel.Join(seeds)
	require.ErrorIs(t, err, swim.ErrJoinFailed, "a swim member with another label")
	otherLabelML, _, _ := secureML(t, "other-label-ml", "test", keyA)
	_, err = otherLabelML.Join(seeds)
	require.Error(t, err, "a memberlist member with another label")

	time.Sleep(2 * time.Second) // a few probe rounds in which an outsider could sneak in
	require.Equal(t, []string{"ml-0", "sw-0"}, mlNames(ml0))
	require.Equal(t, []string{"ml-0", "sw-0"}, swimNames(sw0))
	after := sw0.Drops()
	for _, r := range []swim.DropReason{swim.DropDecryptFailed, swim.DropEncryption, swim.DropBadLabel} {
		require.Greater(t, after[r], before[r], "swim counted %s", r)
	}
}

func swimNode(t *testing.T, m *swim.Memberlist, name string) swim.Node {
	t.Helper()
	for _, n := range m.Members() {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("%s does not know %s", m.LocalNode().Name, name)
	return swim.Node{}
}

func mlNode(t *testing.T, m *memberlist.Memberlist, name string) *memberlist.Node {
	t.Helper()
	for _, n := range m.Members() {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("%s does not know %s", m.LocalNode().Name, name)
	return nil
}
