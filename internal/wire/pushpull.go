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
func (s *PushNodeState) DecodeBody(body []byte) (int, error) {
	d := decoder{b: body}
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

// PushStates is a decoded push/pull whose node states are read in place: an entry is where
// its byte strings lie in the message and its numbers, 44 bytes without pointers, and a
// field becomes a string or slice of its own only when asked for. A push/pull carries every
// member of a cluster, and its receiver applies few of the entries (most say what it knows):
// decoding each to a PushNodeState cost an allocation or more per field and left the
// collector a slice of pointers to scan, for entries then passed over.
//
// It reads the body it was decoded from, which must not change while it is in use.
type PushStates struct {
	Join      bool
	UserState []byte // a copy of the application's state
	body      []byte
	spill     []byte // byte strings the sender wrote as msgpack arrays, converted
	entries   []stateEntry
}

type stateEntry struct {
	name, addr, meta, vsn span
	incarnation           uint32
	state                 int32
	port                  uint16
}

// span is where one of an entry's byte strings lies: n bytes from off in the body, or in
// spill if off has spilledSpan set. n is nilSpan for a msgpack nil.
type span struct{ off, n uint32 }

const (
	spilledSpan = 1 << 31
	nilSpan     = ^uint32(0)
)

// DecodeStates decodes a push/pull body (after the type byte), checking every entry: an
// error in any refuses the whole message.
func DecodeStates(body []byte, lim Limits) (*PushStates, error) {
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
	if len(body) >= spilledSpan {
		return nil, fmt.Errorf("push/pull of %d bytes: %w", len(body), ErrOversized)
	}
	p := &PushStates{Join: h.Join, body: body, entries: make([]stateEntry, h.Nodes)}
	d := decoder{b: body, off: off}
	for i := range p.entries {
		if err := p.decodeEntry(&d, &p.entries[i]); err != nil {
			return nil, fmt.Errorf("push/pull node state %d: %w", i, err)
		}
	}
	if len(body)-d.off < h.UserStateLen {
		return nil, fmt.Errorf("push/pull user state: %w", ErrTruncated)
	}
	if h.UserStateLen > 0 {
		p.UserState = append([]byte(nil), body[d.off:d.off+h.UserStateLen]...)
	}
	return p, nil
}

// decodeEntry decodes one node state map as PushNodeState.DecodeBody does, into e: a field
// the map leaves out is nil.
func (p *PushStates) decodeEntry(d *decoder, e *stateEntry) error {
	none := span{n: nilSpan}
	e.name, e.addr, e.meta, e.vsn = none, none, none, none
	return d.fields(func(k []byte) (bool, error) {
		var err error
		var u uint64
		var v int
		switch string(k) {
		case "Name":
			e.name, err = p.span(d)
		case "Addr":
			e.addr, err = p.span(d)
		case "Port":
			u, err = d.uint(math.MaxUint16)
			e.port = uint16(u)
		case "Meta":
			e.meta, err = p.span(d)
		case "Incarnation":
			u, err = d.uint(math.MaxUint32)
			e.incarnation = uint32(u)
		case "State":
			v, err = d.int()
			e.state = int32(v)
		case "Vsn":
			e.vsn, err = p.span(d)
		default:
			return false, nil
		}
		return true, err
	})
}

// span reads a byte string as where it lies: in the body, or, if the sender wrote it as an
// array of integers, in spill.
func (p *PushStates) span(d *decoder) (span, error) {
	start := d.off
	v, isNil, err := d.raw()
	switch {
	case err != nil:
		return span{}, err
	case isNil:
		return span{n: nilSpan}, nil
	case isArray(d.b[start]):
		s := span{off: uint32(len(p.spill)) | spilledSpan, n: uint32(len(v))}
		p.spill = append(p.spill, v...)
		return s, nil
	}
	return span{off: uint32(d.off - len(v)), n: uint32(len(v))}, nil
}

// isArray says whether a msgpack value starting with c is an array.
func isArray(c byte) bool { return c&0xf0 == 0x90 || c == 0xdc || c == 0xdd }

// view returns the bytes s spans, capped at their length; nil for a nil, and empty but not
// nil for an empty one (spill may be nil).
func (p *PushStates) view(s span) []byte {
	switch {
	case s.n == nilSpan:
		return nil
	case s.n == 0:
		return []byte{}
	case s.off&spilledSpan != 0:
		at := s.off &^ spilledSpan
		return p.spill[at : at+s.n : at+s.n]
	}
	return p.body[s.off : s.off+s.n : s.off+s.n]
}

// Len is how many node states the push/pull carries.
func (p *PushStates) Len() int { return len(p.entries) }

// Name is entry i's name, a string of its own.
func (p *PushStates) Name(i int) string { return string(p.view(p.entries[i].name)) }

// State is entry i's state.
func (p *PushStates) State(i int) int { return int(p.entries[i].state) }

// Incarnation is entry i's incarnation.
func (p *PushStates) Incarnation(i int) uint32 { return p.entries[i].incarnation }

// Vsn is entry i's protocol versions, read in place: not to be written to or kept.
func (p *PushStates) Vsn(i int) []byte { return p.view(p.entries[i].vsn) }

// Node is entry i as a PushNodeState of its own: its byte strings share one allocation,
// each capped at its own length, so that appending to one never writes over the next.
func (p *PushStates) Node(i int) PushNodeState {
	e := &p.entries[i]
	room := make([]byte, 0, spanLen(e.addr)+spanLen(e.meta)+spanLen(e.vsn))
	clone := func(s span) []byte {
		v := p.view(s)
		if v == nil {
			return nil
		}
		start := len(room)
		room = append(room, v...)
		return room[start:len(room):len(room)]
	}
	return PushNodeState{Name: p.Name(i), Addr: clone(e.addr), Port: e.port, Meta: clone(e.meta),
		Incarnation: e.incarnation, State: int(e.state), Vsn: clone(e.vsn)}
}

// spanLen is how many bytes s spans.
func spanLen(s span) int {
	if s.n == nilSpan {
		return 0
	}
	return int(s.n)
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
