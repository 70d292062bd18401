package wire

// Push/pull (section 6.3) and stream user messages (section 6.5): a msgpack header, then
// values and raw bytes whose counts the header gives. Counts are checked against the limits
// and against the bytes present before anything is allocated.

import (
	"fmt"
	"math"
)

// PushPullHeader starts a push/pull message (section 4.9).
type PushPullHeader struct {
	Nodes        int
	UserStateLen int
	Join         bool
}

// AppendBody encodes the header map.
func (h *PushPullHeader) AppendBody(b []byte) []byte {
	b = appendMapHeader(b, 3)
	b = appendBool(appendString(b, "Join"), h.Join)
	b = appendInt(appendString(b, "Nodes"), int64(h.Nodes))
	return appendInt(appendString(b, "UserStateLen"), int64(h.UserStateLen))
}

// DecodeBody decodes the header map and returns the bytes it took.
func (h *PushPullHeader) DecodeBody(body []byte) (int, error) {
	d := decoder{b: body}
	err := d.fields(func(k []byte) (bool, error) {
		var err error
		switch string(k) {
		case "Nodes":
			h.Nodes, err = d.int()
		case "UserStateLen":
			h.UserStateLen, err = d.int()
		case "Join":
			h.Join, err = d.bool()
		default:
			return false, nil
		}
		return true, err
	})
	return d.off, err
}

// PushNodeState is one member in a push/pull (section 4.10).
type PushNodeState struct {
	Name        string
	Addr        []byte
	Port        uint16
	Meta        []byte
	Incarnation uint32
	State       int
	Vsn         []byte
}

// AppendBody encodes the node state map.
func (s *PushNodeState) AppendBody(b []byte) []byte {
	b = appendMapHeader(b, 7)
	b = appendBytes(appendString(b, "Addr"), s.Addr)
	b = appendUint(appendString(b, "Incarnation"), uint64(s.Incarnation))
	b = appendBytes(appendString(b, "Meta"), s.Meta)
	b = appendString(appendString(b, "Name"), s.Name)
	b = appendUint(appendString(b, "Port"), uint64(s.Port))
	b = appendInt(appendString(b, "State"), int64(s.State))
	return appendBytes(appendString(b, "Vsn"), s.Vsn)
}

// NodeStateParts is a node state's encoding less its incarnation and state, which change
// far more often than the rest: a member keeps it and encodes its table in push/pulls with
// AppendNodeState, copying it rather than encoding every field afresh.
type NodeStateParts struct {
	b     []byte
	inc   int // where the incarnation goes
	state int // where the state goes
}

// Len is the length of the parts: an entry's encoding is that and its incarnation and state.
func (p *NodeStateParts) Len() int { return len(p.b) }

// PartsOf returns the parts of s's encoding that do not depend on its incarnation and state.
func (s *PushNodeState) PartsOf() NodeStateParts {
	b := appendString(appendBytes(appendString(appendMapHeader(nil, 7), "Addr"), s.Addr), "Incarnation")
	inc := len(b)
	b = appendString(appendString(appendString(appendBytes(appendString(b, "Meta"), s.Meta), "Name"), s.Name), "Port")
	b = appendString(appendUint(b, uint64(s.Port)), "State")
	state := len(b)
	b = appendBytes(appendString(b, "Vsn"), s.Vsn)
	return NodeStateParts{b: b, inc: inc, state: state}
}

// AppendNodeState appends what AppendBody would for a node state of these parts, incarnation
// and state.
func AppendNodeState(b []byte, p *NodeStateParts, incarnation uint32, state int) []byte {
	b = appendUint(append(b, p.b[:p.inc]...), uint64(incarnation))
	b = appendInt(append(b, p.b[p.inc:p.state]...), int64(state))
	return append(b, p.b[p.state:]...)
}

// DecodeBody decodes a node state map and returns the bytes it took.
func (s *PushNodeState) DecodeBody(body []byte) (int, error) { return s.decodeBody(body, nil) }

// decodeBody is DecodeBody taking the byte strings' room from a, if set.
func (s *PushNodeState) decodeBody(body []byte, a *arena) (int, error) {
	d := decoder{b: body, arena: a}
	err := d.fields(func(k []byte) (bool, error) {
		var err error
		var u uint64
		switch string(k) {
		case "Name":
			s.Name, err = d.string()
		case "Addr":
			s.Addr, err = d.bytes()
		case "Port":
			u, err = d.uint(math.MaxUint16)
			s.Port = uint16(u)
		case "Meta":
			s.Meta, err = d.bytes()
		case "Incarnation":
			u, err = d.uint(math.MaxUint32)
			s.Incarnation = uint32(u)
		case "State":
			s.State, err = d.int()
		case "Vsn":
			s.Vsn, err = d.bytes()
		default:
			return false, nil
		}
		return true, err
	})
	return d.off, err
}

// PushPull is a whole push/pull message: every member, then the application's state.
type PushPull struct {
	Join      bool
	Nodes     []PushNodeState
	UserState []byte
}

// Append encodes the message with its type byte.
func (p *PushPull) Append(b []byte) []byte {
	h := PushPullHeader{Nodes: len(p.Nodes), UserStateLen: len(p.UserState), Join: p.Join}
	b = h.AppendBody(append(b, byte(PushPullMsg)))
	for i := range p.Nodes {
		b = p.Nodes[i].AppendBody(b)
	}
	return append(b, p.UserState...)
}

// minNodeStateSize is the smallest encoding of a node state: a map header and seven keys.
const minNodeStateSize = 1 + 7*2

// DecodePushPull decodes a push/pull body (after the type byte).
func DecodePushPull(body []byte, lim Limits) (*PushPull, error) {
	var h PushPullHeader
	off, err := h.DecodeBody(body)
	if err != nil {
		return nil, fmt.Errorf("push/pull header: %w", err)
	}
	if err := checkPushPullHeader(&h, lim); err != nil {
		return nil, err
	}
	if h.Nodes > (len(body)-off)/minNodeStateSize {
		return nil, fmt.Errorf("push/pull claims %d nodes in %d bytes: %w", h.Nodes, len(body)-off, ErrTruncated)
	}
	p := &PushPull{Join: h.Join, Nodes: make([]PushNodeState, h.Nodes)}
	var room arena
	for i := range p.Nodes {
		n, err := p.Nodes[i].decodeBody(body[off:], &room)
		if err != nil {
			return nil, fmt.Errorf("push/pull node state %d: %w", i, err)
		}
		off += n
	}
	if len(body)-off < h.UserStateLen {
		return nil, fmt.Errorf("push/pull user state: %w", ErrTruncated)
	}
	if h.UserStateLen > 0 {
		p.UserState = append([]byte(nil), body[off:off+h.UserStateLen]...)
	}
	return p, nil
}

func checkPushPullHeader(h *PushPullHeader, lim Limits) error {
	if h.Nodes < 0 || h.Nodes > lim.MaxPushPullNodes {
		return fmt.Errorf("push/pull with %d nodes: %w", h.Nodes, ErrOversized)
	}
	if h.UserStateLen < 0 || h.UserStateLen > lim.MaxUserStateLen {
		return fmt.Errorf("push/pull with %d bytes of user state: %w", h.UserStateLen, ErrOversized)
	}
	return nil
}

// UserMsgHeader starts a stream user message (section 4.11).
type UserMsgHeader struct{ UserMsgLen int }

// AppendBody encodes the header map.
func (h *UserMsgHeader) AppendBody(b []byte) []byte {
	return appendInt(appendString(appendMapHeader(b, 1), "UserMsgLen"), int64(h.UserMsgLen))
}

// DecodeBody decodes the header map and returns the bytes it took.
func (h *UserMsgHeader) DecodeBody(body []byte) (int, error) {
	d := decoder{b: body}
	err := d.fields(func(k []byte) (bool, error) {
		if string(k) != "UserMsgLen" {
			return false, nil
		}
		var err error
		h.UserMsgLen, err = d.int()
		return true, err
	})
	return d.off, err
}

// AppendStreamUser encodes a user message for a stream: type 8, header, bytes.
func AppendStreamUser(b, msg []byte) []byte {
	h := UserMsgHeader{UserMsgLen: len(msg)}
	return append(h.AppendBody(append(b, byte(UserMsg))), msg...)
}

// DecodeStreamUser decodes a stream user message body (after the type byte) and returns a
// copy of the message.
func DecodeStreamUser(body []byte, lim Limits) ([]byte, error) {
	var h UserMsgHeader
	off, err := h.DecodeBody(body)
	if err != nil {
		return nil, fmt.Errorf("user message header: %w", err)
	}
	if h.UserMsgLen < 0 || h.UserMsgLen > lim.MaxUserMsgLen {
		return nil, fmt.Errorf("user message of %d bytes: %w", h.UserMsgLen, ErrOversized)
	}
	if len(body)-off < h.UserMsgLen {
		return nil, fmt.Errorf("user message: %w", ErrTruncated)
	}
	return append([]byte(nil), body[off:off+h.UserMsgLen]...), nil
}

// Limits bounds what a peer can make this side read or allocate.
type Limits struct {
	MaxPushPullNodes      int // node states in one push/pull (memberlist: 1,048,576)
	MaxUserStateLen       int // bytes of user state in one push/pull (20 MiB)
	MaxUserMsgLen         int // bytes of one stream user message (20 MiB)
	MaxStreamEncrypted    int // bytes of one encrypted stream message (20 MiB)
	MaxDecompressed       int // bytes a stream message may decompress to (40 MiB)
	MaxPacketDecompressed int // bytes a packet may decompress to (1 MiB)
	MaxCompoundDepth      int // nesting of compound and compress inside a packet
}

// DefaultLimits returns memberlist's limits (section 6.8), with a tighter bound on packet
// decompression: a 64 KiB datagram never legitimately expands past 1 MiB.
func DefaultLimits() Limits {
	return Limits{
		MaxPushPullNodes:      1 << 20,
		MaxUserStateLen:       20 << 20,
		MaxUserMsgLen:         20 << 20,
		MaxStreamEncrypted:    20 << 20,
		MaxDecompressed:       40 << 20,
		MaxPacketDecompressed: 1 << 20,
		MaxCompoundDepth:      4,
	}
}
