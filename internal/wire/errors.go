package wire

import "errors"

// Errors, one per reason input is dropped. Decoders wrap them with context; test with
// errors.Is.
var (
	ErrTruncated               = errors.New("wire: truncated")
	ErrOversized               = errors.New("wire: over a size limit")
	ErrMalformed               = errors.New("wire: malformed")
	ErrUnknownType             = errors.New("wire: unknown message type")
	ErrCRCMismatch             = errors.New("wire: CRC mismatch")
	ErrBadLabel                = errors.New("wire: bad label")
	ErrUnknownCompression      = errors.New("wire: unknown compression algorithm")
	ErrEncryptionNotConfigured = errors.New("wire: remote state is encrypted and encryption is not configured")
	ErrNotEncrypted            = errors.New("wire: encryption is configured but remote state is not encrypted")
)
