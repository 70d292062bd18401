package swim

// The keyring holds the AES keys a member encrypts and decrypts with (wire-format.md section
// 7.1). The first key is the primary: the only one used to encrypt. Every key is tried to
// decrypt, which is what lets a cluster rotate keys without a partition: install the new key
// everywhere, make it primary everywhere, then remove the old one.
//
// The loop, stream goroutines and API callers all use one keyring at once. Each change
// publishes a new immutable key set, so encryption and decryption never take a lock.

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"sync"
	"sync/atomic"
)

// Keyring is an ordered set of AES keys, the first of which is the primary. It is safe for
// concurrent use, and may be changed while the member runs.
type Keyring struct {
	mu   sync.Mutex // serialises changes; readers use keys without it
	keys atomic.Pointer[keySet]
}

// keySet is one immutable version of the keyring.
type keySet struct {
	keys  [][]byte
	aeads []cipher.AEAD // aeads[i] seals and opens with keys[i]
}

// NewKeyring returns a keyring holding keys, with primaryKey first. primaryKey must be one of
// keys or added to them; with no keys at all the keyring is empty (encryption off until a
// key is added, and the first key added becomes the primary).
func NewKeyring(keys [][]byte, primaryKey []byte) (*Keyring, error) {
	k := &Keyring{}
	k.keys.Store(&keySet{})
	if len(keys) == 0 && primaryKey == nil {
		return k, nil
	}
	if primaryKey == nil {
		return nil, fmt.Errorf("%w: keys given without a primary key", ErrInvalidKey)
	}
	if err := k.AddKey(primaryKey); err != nil {
		return nil, err
	}
	for _, key := range keys {
		if err := k.AddKey(key); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// ValidateKey reports whether key can be used: AES-128, AES-192 or AES-256, so 16, 24 or 32
// bytes.
func ValidateKey(key []byte) error {
	switch len(key) {
	case 16, 24, 32:
		return nil
	}
	return fmt.Errorf("%w: key is %d bytes, must be 16, 24 or 32", ErrInvalidKey, len(key))
}

// AddKey installs key for decryption. It becomes the primary only if the keyring was empty.
// Adding an installed key does nothing.
func (k *Keyring) AddKey(key []byte) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	cur := k.set()
	if cur.index(key) >= 0 {
		return nil
	}
	aead, err := newAEAD(key)
	if err != nil {
		return err
	}
	next := &keySet{
		keys:  append(cloneKeys(cur.keys), bytes.Clone(key)),
		aeads: append(append([]cipher.AEAD(nil), cur.aeads...), aead),
	}
	k.keys.Store(next)
	return nil
}

// UseKey makes an installed key the primary, so it is used to encrypt from now on.
func (k *Keyring) UseKey(key []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	cur := k.set()
	i := cur.index(key)
	if i < 0 {
		return ErrKeyNotInstalled
	}
	next := &keySet{keys: cloneKeys(cur.keys), aeads: append([]cipher.AEAD(nil), cur.aeads...)}
	next.keys[0], next.keys[i] = next.keys[i], next.keys[0]
	next.aeads[0], next.aeads[i] = next.aeads[i], next.aeads[0]
	k.keys.Store(next)
	return nil
}

// RemoveKey uninstalls a key that is not the primary. Removing a key that is not installed
// does nothing.
func (k *Keyring) RemoveKey(key []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	cur := k.set()
	i := cur.index(key)
	switch {
	case i < 0:
		return nil
	case i == 0:
		return ErrRemovePrimaryKey
	}
	next := &keySet{keys: cloneKeys(cur.keys), aeads: append([]cipher.AEAD(nil), cur.aeads...)}
	next.keys = append(next.keys[:i], next.keys[i+1:]...)
	next.aeads = append(next.aeads[:i], next.aeads[i+1:]...)
	k.keys.Store(next)
	return nil
}

// Keys returns copies of the installed keys, the primary first.
func (k *Keyring) Keys() [][]byte { return cloneKeys(k.set().keys) }

// PrimaryKey returns a copy of the key used to encrypt, or nil if the keyring is empty.
func (k *Keyring) PrimaryKey() []byte {
	s := k.set()
	if len(s.keys) == 0 {
		return nil
	}
	return bytes.Clone(s.keys[0])
}

// set returns the current key set; a nil or zero Keyring is empty.
func (k *Keyring) set() *keySet {
	if k == nil {
		return &keySet{}
	}
	if s := k.keys.Load(); s != nil {
		return s
	}
	return &keySet{}
}

// enabled reports whether the keyring holds a key, which is what turns encryption on.
func (k *Keyring) enabled() bool { return len(k.set().keys) > 0 }

func (s *keySet) index(key []byte) int {
	for i, have := range s.keys {
		if bytes.Equal(have, key) {
			return i
		}
	}
	return -1
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return cipher.NewGCM(block)
}

func cloneKeys(keys [][]byte) [][]byte {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = bytes.Clone(k)
	}
	return out
}
