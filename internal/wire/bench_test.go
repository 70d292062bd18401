package wire

import (
	"fmt"
	"testing"
)

// Encode and decode cost per message kind (ns/op, allocs/op).
func BenchmarkCodec(b *testing.B) {
	states := make([]PushNodeState, 100)
	for i := range states {
		states[i] = PushNodeState{Name: fmt.Sprintf("node-%d", i), Addr: lo4, Port: 7946, Incarnation: 3, Vsn: vsn}
	}
	type msg interface {
		Append([]byte) []byte
		Decode([]byte) error
	}
	kinds := []struct {
		name string
		m    msg
		new  func() msg
	}{
		{"ping", &Ping{SeqNo: 1, Node: "node-b", SourceAddr: lo4, SourcePort: 7946, SourceNode: "node-a"}, func() msg { return &Ping{} }},
		{"indirect", &IndirectPingReq{SeqNo: 7, Target: ten2, Port: 7946, Node: "node-c", Nack: true, SourceAddr: lo4, SourcePort: 7946, SourceNode: "node-a"}, func() msg { return &IndirectPingReq{} }},
		{"ack", &AckResp{SeqNo: 1}, func() msg { return &AckResp{} }},
		{"nack", &NackResp{SeqNo: 7}, func() msg { return &NackResp{} }},
		{"suspect", &Suspect{Incarnation: 3, Node: "node-c", From: "node-a"}, func() msg { return &Suspect{} }},
		{"alive", &Alive{Incarnation: 1, Node: "node-a", Addr: lo4, Port: 7946, Meta: []byte("role=db"), Vsn: vsn}, func() msg { return &Alive{} }},
		{"dead", &Dead{Incarnation: 3, Node: "node-c", From: "node-c"}, func() msg { return &Dead{} }},
	}
	for _, k := range kinds {
		buf := k.m.Append(nil)
		b.Run("encode/"+k.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				buf = k.m.Append(buf[:0])
			}
		})
		b.Run("decode/"+k.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := k.new().Decode(buf[1:]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	pp := &PushPull{Nodes: states}
	buf := pp.Append(nil)
	b.Run("encode/pushpull-100", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = pp.Append(buf[:0])
		}
	})
	b.Run("decode/pushpull-100", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeStates(buf[1:], DefaultLimits()); err != nil {
				b.Fatal(err)
			}
		}
	})
	parts := [][]byte{kinds[0].m.Append(nil), kinds[4].m.Append(nil), kinds[5].m.Append(nil)}
	cb := AppendCompound(nil, parts)
	b.Run("encode/compound", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			cb = AppendCompound(cb[:0], parts)
		}
	})
	b.Run("decode/compound", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			Unpack(cb, DefaultLimits(), nil, func([]byte) {}, func(error) {})
		}
	})
	zb := AppendCompress(nil, cb)
	b.Run("encode/compress", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			zb = AppendCompress(zb[:0], cb)
		}
	})
	b.Run("decode/compress", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Decompress(zb[1:], 1<<20); err != nil {
				b.Fatal(err)
			}
		}
	})
}
