//lint:file-ignore SA9004 the protocol version constants are typed as memberlist's are

package memberlist

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/swim-go/swim"
	"github.com/swim-go/swim/internal/wire"
)

// Protocol versions this package understands; it speaks ProtocolVersion2Compatible by
// default, as memberlist does, and any version in the range on request. As in memberlist,
// only the first is typed, so that programs using the others as ints keep compiling.
const (
	ProtocolVersionMin         uint8 = 1
	ProtocolVersion2Compatible       = 2
	ProtocolVersionMax               = 5
)

// MetaMaxSize is the most metadata a member may advertise, in bytes.
const MetaMaxSize = 512

// LabelMaxSize is the longest label, in bytes.
const LabelMaxSize = 255

// ParseCIDRs parses networks in CIDR notation. It returns those it could parse, and the last
// error, if any.
func ParseCIDRs(v []string) ([]net.IPNet, error) {
	var nets []net.IPNet
	var last error
	for _, s := range v {
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			last = fmt.Errorf("invalid cidr: %s", s)
			continue
		}
		nets = append(nets, *n)
	}
	return nets, last
}

// ValidateKey reports whether key is a valid AES key: 16, 24 or 32 bytes.
func ValidateKey(key []byte) error { return swim.ValidateKey(key) }

// NoPingResponseError is what Ping returns when the ping got no answer in time.
type NoPingResponseError struct {
	node string
}

func (f NoPingResponseError) Error() string { return fmt.Sprintf("No response from node %s", f.node) }

// Unwrap makes errors.Is(err, swim.ErrNoPingResponse) hold.
func (f NoPingResponseError) Unwrap() error { return swim.ErrNoPingResponse }

// LogAddress renders an address for a log line: "from=host:port".
func LogAddress(addr net.Addr) string {
	if addr == nil {
		return "from=<unknown address>"
	}
	return "from=" + addr.String()
}

// LogStringAddress renders an address string for a log line.
func LogStringAddress(addr string) string {
	if addr == "" {
		return "from=<unknown address>"
	}
	return "from=" + addr
}

// LogConn renders a connection's remote address for a log line.
func LogConn(conn net.Conn) string {
	if conn == nil {
		return LogAddress(nil)
	}
	return LogAddress(conn.RemoteAddr())
}

// errLabelTooLong is returned for a label over LabelMaxSize.
var errLabelTooLong = fmt.Errorf("label is too long: the limit is %d bytes", LabelMaxSize)

// AddLabelHeaderToPacket prefixes a packet with label's header; an empty label adds nothing.
// It is for transports of the application's own that add labels themselves.
func AddLabelHeaderToPacket(buf []byte, label string) ([]byte, error) {
	if len(label) > LabelMaxSize {
		return nil, errLabelTooLong
	}
	if label == "" {
		return buf, nil
	}
	return append(wire.AppendLabel(make([]byte, 0, 2+len(label)+len(buf)), label), buf...), nil
}

// RemoveLabelHeaderFromPacket splits a packet into its label, if it has one, and the rest.
func RemoveLabelHeaderFromPacket(buf []byte) (newBuf []byte, label string, err error) {
	l, rest, err := wire.StripLabel(buf)
	if err != nil {
		return nil, "", err
	}
	return rest, string(l), nil
}

// AddLabelHeaderToStream writes label's header to a stream just opened; an empty label
// writes nothing.
func AddLabelHeaderToStream(conn net.Conn, label string) error {
	if label == "" {
		return nil
	}
	if len(label) > LabelMaxSize {
		return errLabelTooLong
	}
	_, err := conn.Write(wire.AppendLabel(nil, label))
	return err
}

// RemoveLabelHeaderFromStream reads a label header from the start of a stream, if there is
// one, and returns a conn that reads on from after it. On error the caller closes conn.
func RemoveLabelHeaderFromStream(conn net.Conn) (net.Conn, string, error) {
	br := bufio.NewReader(conn)
	if _, err := br.Peek(1); err != nil {
		if errors.Is(err, io.EOF) {
			return &peekedConn{Conn: conn, r: br}, "", nil // an empty stream has no label
		}
		return nil, "", err
	}
	label, _, err := wire.ReadStreamLabel(br)
	if err != nil {
		return nil, "", err
	}
	return &peekedConn{Conn: conn, r: br}, string(label), nil
}

// peekedConn is a conn whose first bytes were read into r: reads go through r first.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
