package memberlist

import (
	"errors"
	"fmt"

	"github.com/swim-go/swim"
)

// Keyring holds the encryption keys: the primary encrypts, all of them decrypt. It may change
// while members use it, which is how a cluster rotates keys: install the new key everywhere,
// make it primary everywhere, then remove the old one.
type Keyring struct {
	ring *swim.Keyring
}

// NewKeyring returns a keyring holding keys with primaryKey as the primary (added if it is
// not among keys). With no keys and no primary it is empty, and encryption is off.
func NewKeyring(keys [][]byte, primaryKey []byte) (*Keyring, error) {
	if len(keys) == 0 && len(primaryKey) == 0 {
		ring, err := swim.NewKeyring(nil, nil)
		return &Keyring{ring: ring}, err
	}
	if len(primaryKey) == 0 {
		return nil, errors.New("empty primary key not allowed")
	}
	if err := validateKeys(append([][]byte{primaryKey}, keys...)); err != nil {
		return nil, err
	}
	ring, err := swim.NewKeyring(keys, primaryKey)
	if err != nil {
		return nil, err
	}
	return &Keyring{ring: ring}, nil
}

func validateKeys(keys [][]byte) error {
	for _, k := range keys {
		if err := swim.ValidateKey(k); err != nil {
			return fmt.Errorf("key size must be 16, 24 or 32 bytes: %w", err)
		}
	}
	return nil
}

// AddKey installs key for decrypting. It becomes the primary only if the keyring was empty;
// adding an installed key does nothing.
func (k *Keyring) AddKey(key []byte) error {
	if err := validateKeys([][]byte{key}); err != nil {
		return err
	}
	return k.ring.AddKey(key)
}

// UseKey makes an installed key the primary.
func (k *Keyring) UseKey(key []byte) error {
	if err := k.ring.UseKey(key); err != nil {
		return fmt.Errorf("requested key is not in the keyring: %w", err)
	}
	return nil
}

// RemoveKey uninstalls a key other than the primary; removing a key not installed does
// nothing.
func (k *Keyring) RemoveKey(key []byte) error {
	if err := k.ring.RemoveKey(key); err != nil {
		return fmt.Errorf("removing the primary key is not allowed: %w", err)
	}
	return nil
}

// GetKeys returns copies of the installed keys, the primary first.
func (k *Keyring) GetKeys() [][]byte { return k.ring.Keys() }

// GetPrimaryKey returns a copy of the primary key, or nil if there is none.
func (k *Keyring) GetPrimaryKey() []byte { return k.ring.PrimaryKey() }
