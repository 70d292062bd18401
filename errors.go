package swim

import "errors"

// Errors a caller can act on. Each may be wrapped; test with errors.Is.
var (
	// ErrNotRunning is returned by calls on a Memberlist that was shut down.
	ErrNotRunning = errors.New("swim: not running")
	// ErrInDelegate is returned at once by a call that acts on the protocol (Join,
	// UpdateNode, Leave, the Send methods, Ping, SetGossipVerify) made from a Delegate,
	// AliveDelegate, MergeDelegate, ConflictDelegate or PingDelegate method: those run
	// inside the protocol's own step, which the call would wait for forever. Make the call
	// from another goroutine.
	ErrInDelegate = errors.New("swim: called from a delegate method that runs inside the protocol; call it from another goroutine")
	// ErrLeft is returned by calls that make no sense after Leave.
	ErrLeft = errors.New("swim: already left the cluster")
	// ErrNoSeeds is returned by Join when given no addresses.
	ErrNoSeeds = errors.New("swim: no seed addresses to join")
	// ErrJoinFailed is returned by Join when no seed could be reached; it wraps each seed's
	// error.
	ErrJoinFailed = errors.New("swim: join failed")
	// ErrNameInUse is returned by Join when another member that still answers holds this
	// member's name at another address. A member restarted at a new address while its old
	// instance is silent is not refused: it is admitted once the old address is declared
	// dead.
	ErrNameInUse = errors.New("swim: name in use by a live member at another address")
	// ErrUnknownNode is returned when sending to a member that is not in the member table.
	ErrUnknownNode = errors.New("swim: unknown node")
	// ErrMessageTooLarge is returned when a best-effort message cannot fit in one packet, or
	// metadata exceeds MetaMaxSize.
	ErrMessageTooLarge = errors.New("swim: message too large")
	// ErrNoPingResponse is returned by Ping when no ack came within ProbeTimeout.
	ErrNoPingResponse = errors.New("swim: no response to ping")
	// ErrTimeout is returned when Leave or UpdateNode did not finish within its timeout.
	ErrTimeout = errors.New("swim: timed out")
	// ErrInvalidKey is returned for an encryption key that is not 16, 24 or 32 bytes.
	ErrInvalidKey = errors.New("swim: invalid encryption key")
	// ErrKeyNotInstalled is returned by Keyring.UseKey for a key the keyring does not hold.
	ErrKeyNotInstalled = errors.New("swim: key is not installed")
	// ErrRemovePrimaryKey is returned by Keyring.RemoveKey for the primary key: make another
	// key primary first.
	ErrRemovePrimaryKey = errors.New("swim: cannot remove the primary key")
)
