package wire

// The message bodies of section 4. Each whole message appends its type byte and a msgpack map
// whose keys are memberlist's Go field names in ascending byte order; omitempty fields are left
// out when zero. Decode takes the bytes after the type byte and copies what it keeps, so the
// caller may reuse its buffer.

import (
	"fmt"
	"math"
)

// MessageType is the first byte of every message (section 3).
type MessageType uint8

// The message types.
const (
	PingMsg         MessageType = 0
	IndirectPingMsg MessageType = 1
	AckRespMsg      MessageType = 2
	SuspectMsg      MessageType = 3
	AliveMsg        MessageType = 4
	DeadMsg         MessageType = 5
	PushPullMsg     MessageType = 6
	CompoundMsg     MessageType = 7
	UserMsg         MessageType = 8
	CompressMsg     MessageType = 9
	EncryptMsg      MessageType = 10
	NackRespMsg     MessageType = 11
	HasCrcMsg       MessageType = 12
	ErrMsg          MessageType = 13
	HasLabelMsg     MessageType = 244
)

var typeNames = map[MessageType]string{
	PingMsg: "ping", IndirectPingMsg: "indirect-ping", AckRespMsg: "ack", SuspectMsg: "suspect",
	AliveMsg: "alive", DeadMsg: "dead", PushPullMsg: "push-pull", CompoundMsg: "compound",
	UserMsg: "user", CompressMsg: "compress", EncryptMsg: "encrypt", NackRespMsg: "nack",
	HasCrcMsg: "crc", ErrMsg: "error", HasLabelMsg: "label",
}

func (t MessageType) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Ping asks Node to ack SeqNo (section 4.1).
type Ping struct {
	SeqNo      uint32
	Node       string
	SourceAddr []byte
	SourcePort uint16
	SourceNode string
}

// Append encodes the ping with its type byte.
func (m *Ping) Append(b []byte) []byte {
	b = appendMapHeader(append(b, byte(PingMsg)), 2+sourceFields(m.SourceAddr, m.SourceNode, m.SourcePort))
	b = appendString(appendString(b, "Node"), m.Node)
	b = appendUint(appendString(b, "SeqNo"), uint64(m.SeqNo))
	return appendSource(b, m.SourceAddr, m.SourceNode, m.SourcePort)
}

// sourceFields counts the omitempty Source fields that are set.
func sourceFields(addr []byte, node string, port uint16) int {
	n := 0
	if len(addr) > 0 {
		n++
	}
	if node != "" {
		n++
	}
	if port != 0 {
		n++
	}
	return n
}

// appendSource encodes the set Source fields, which sort together after SeqNo.
func appendSource(b, addr []byte, node string, port uint16) []byte {
	if len(addr) > 0 {
		b = appendBytes(appendString(b, "SourceAddr"), addr)
	}
	if node != "" {
		b = appendString(appendString(b, "SourceNode"), node)
	}
	if port != 0 {
		b = appendUint(appendString(b, "SourcePort"), uint64(port))
	}
	return b
}

// source decodes key k if it is one of the Source fields.
func (d *decoder) source(k []byte, addr *[]byte, node *string, port *uint16) (bool, error) {
	var err error
	switch string(k) {
	case "SourceAddr":
		*addr, err = d.bytes()
	case "SourceNode":
		*node, err = d.string()
	case "SourcePort":
		var u uint64
		u, err = d.uint(math.MaxUint16)
		*port = uint16(u)
	default:
		return false, nil
	}
	return true, err
}

// Decode decodes a ping body.
func (m *Ping) Decode(body []byte) error {
	d := decoder{b: body}
	return d.fields(func(k []byte) (bool, error) {
		var err error
		var u uint64
		switch string(k) {
		case "SeqNo":
			u, err = d.uint(math.MaxUint32)
			m.SeqNo = uint32(u)
		case "Node":
			m.Node, err = d.string()
		default:
			return d.source(k, &m.SourceAddr, &m.SourceNode, &m.SourcePort)
		}
		return true, err
	})
}

// IndirectPingReq asks a relay to ping Node at Target:Port for the requester (section 4.2).
type IndirectPingReq struct {
	SeqNo      uint32
	Target     []byte
	Port       uint16
	Node       string
	Nack       bool
	SourceAddr []byte
	SourcePort uint16
	SourceNode string
}

// Append encodes the request with its type byte.
func (m *IndirectPingReq) Append(b []byte) []byte {
	b = appendMapHeader(append(b, byte(IndirectPingMsg)), 5+sourceFields(m.SourceAddr, m.SourceNode, m.SourcePort))
	b = appendBool(appendString(b, "Nack"), m.Nack)
	b = appendString(appendString(b, "Node"), m.Node)
	b = appendUint(appendString(b, "Port"), uint64(m.Port))
	b = appendUint(appendString(b, "SeqNo"), uint64(m.SeqNo))
	b = appendSource(b, m.SourceAddr, m.SourceNode, m.SourcePort)
	return appendBytes(appendString(b, "Target"), m.Target)
}

// Decode decodes an indirect ping body.
func (m *IndirectPingReq) Decode(body []byte) error {
	d := decoder{b: body}
	return d.fields(func(k []byte) (bool, error) {
		var err error
		var u uint64
		switch string(k) {
		case "SeqNo":
			u, err = d.uint(math.MaxUint32)
			m.SeqNo = uint32(u)
		case "Target":
			m.Target, err = d.bytes()
		case "Port":
			u, err = d.uint(math.MaxUint16)
			m.Port = uint16(u)
		case "Node":
			m.Node, err = d.string()
		case "Nack":
			m.Nack, err = d.bool()
		default:
			return d.source(k, &m.SourceAddr, &m.SourceNode, &m.SourcePort)
		}
		return true, err
	})
}

// AckResp answers a ping (section 4.3).
type AckResp struct {
	SeqNo   uint32
	Payload []byte
}

// Append encodes the ack with its type byte.
func (m *AckResp) Append(b []byte) []byte {
	b = appendMapHeader(append(b, byte(AckRespMsg)), 2)
	b = appendBytes(appendString(b, "Payload"), m.Payload)
	return appendUint(appendString(b, "SeqNo"), uint64(m.SeqNo))
}

// Decode decodes an ack body.
func (m *AckResp) Decode(body []byte) error {
	d := decoder{b: body}
	return d.fields(func(k []byte) (bool, error) {
		var err error
		switch string(k) {
		case "SeqNo":
			var u uint64
			u, err = d.uint(math.MaxUint32)
			m.SeqNo = uint32(u)
		case "Payload":
			m.Payload, err = d.bytes()
		default:
			return false, nil
		}
		return true, err
	})
}

// NackResp tells an indirect prober the relay got no ack (section 4.4).
type NackResp struct{ SeqNo uint32 }

// Append encodes the nack with its type byte.
func (m *NackResp) Append(b []byte) []byte {
	b = appendMapHeader(append(b, byte(NackRespMsg)), 1)
	return appendUint(appendString(b, "SeqNo"), uint64(m.SeqNo))
}

// Decode decodes a nack body.
func (m *NackResp) Decode(body []byte) error {
	d := decoder{b: body}
	return d.fields(func(k []byte) (bool, error) {
		if string(k) != "SeqNo" {
			return false, nil
		}
		u, err := d.uint(math.MaxUint32)
		m.SeqNo = uint32(u)
		return true, err
	})
}

// Suspect says From suspects Node at Incarnation (section 4.5).
type Suspect struct {
	Incarnation uint32
	Node        string
	From        string
}

// Append encodes the suspect message with its type byte.
func (m *Suspect) Append(b []byte) []byte {
	return appendAccusation(b, SuspectMsg, m.Incarnation, m.Node, m.From)
}

// Decode decodes a suspect body.
func (m *Suspect) Decode(body []byte) error {
	return decodeAccusation(body, &m.Incarnation, &m.Node, &m.From)
}

// Dead says From declares Node dead at Incarnation; From == Node means it left (section 4.7).
type Dead struct {
	Incarnation uint32
	Node        string
	From        string
}

// Append encodes the dead message with its type byte.
func (m *Dead) Append(b []byte) []byte {
	return appendAccusation(b, DeadMsg, m.Incarnation, m.Node, m.From)
}

// Decode decodes a dead body.
func (m *Dead) Decode(body []byte) error {
	return decodeAccusation(body, &m.Incarnation, &m.Node, &m.From)
}

func appendAccusation(b []byte, t MessageType, inc uint32, node, from string) []byte {
	b = appendMapHeader(append(b, byte(t)), 3)
	b = appendString(appendString(b, "From"), from)
	b = appendUint(appendString(b, "Incarnation"), uint64(inc))
	return appendString(appendString(b, "Node"), node)
}

func decodeAccusation(body []byte, inc *uint32, node, from *string) error {
	d := decoder{b: body}
	return d.fields(func(k []byte) (bool, error) {
		var err error
		switch string(k) {
		case "Incarnation":
			var u uint64
			u, err = d.uint(math.MaxUint32)
			*inc = uint32(u)
		case "Node":
			*node, err = d.string()
		case "From":
			*from, err = d.string()
		default:
			return false, nil
		}
		return true, err
	})
}

// Alive announces Node at Addr:Port with Meta at Incarnation (section 4.6).
type Alive struct {
	Incarnation uint32
	Node        string
	Addr        []byte
	Port        uint16
	Meta        []byte
	Vsn         []byte
}

// Append encodes the alive message with its type byte.
func (m *Alive) Append(b []byte) []byte {
	b = appendMapHeader(append(b, byte(AliveMsg)), 6)
	b = appendBytes(appendString(b, "Addr"), m.Addr)
	b = appendUint(appendString(b, "Incarnation"), uint64(m.Incarnation))
	b = appendBytes(appendString(b, "Meta"), m.Meta)
	b = appendString(appendString(b, "Node"), m.Node)
	b = appendUint(appendString(b, "Port"), uint64(m.Port))
	return appendBytes(appendString(b, "Vsn"), m.Vsn)
}

// Decode decodes an alive body.
func (m *Alive) Decode(body []byte) error {
	d := decoder{b: body}
	return d.fields(func(k []byte) (bool, error) {
		var err error
		var u uint64
		switch string(k) {
		case "Incarnation":
			u, err = d.uint(math.MaxUint32)
			m.Incarnation = uint32(u)
		case "Node":
			m.Node, err = d.string()
		case "Addr":
			m.Addr, err = d.bytes()
		case "Port":
			u, err = d.uint(math.MaxUint16)
			m.Port = uint16(u)
		case "Meta":
			m.Meta, err = d.bytes()
		case "Vsn":
			m.Vsn, err = d.bytes()
		default:
			return false, nil
		}
		return true, err
	})
}

// ErrResp is a stream peer's report of a framing failure (section 4.8).
type ErrResp struct{ Error string }

// Append encodes the error response with its type byte.
func (m *ErrResp) Append(b []byte) []byte {
	b = appendMapHeader(append(b, byte(ErrMsg)), 1)
	return appendString(appendString(b, "Error"), m.Error)
}

// Decode decodes an error response body.
func (m *ErrResp) Decode(body []byte) error {
	d := decoder{b: body}
	return d.fields(func(k []byte) (bool, error) {
		if string(k) != "Error" {
			return false, nil
		}
		var err error
		m.Error, err = d.string()
		return true, err
	})
}
