package main

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/stretchr/testify/require"
)

func newTestSerfMember(t *testing.T, name string, tags map[string]string) (*serfMember, *[]string) {
	t.Helper()
	var logged []string
	s, err := newSerfMember(name, tags, func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) })
	require.NoError(t, err)
	return s, &logged
}

// queued decodes what the member would gossip next: each message's type and fields.
func queued(t *testing.T, s *serfMember) (types []uint8, fields []map[string]any) {
	t.Helper()
	defer s.queue.Reset()
	for _, b := range s.queue.GetBroadcasts(0, 64*1024) {
		var f map[string]any
		require.NoError(t, codec.NewDecoderBytes(b[1:], &codec.MsgpackHandle{}).Decode(&f))
		types, fields = append(types, b[0]), append(fields, f)
	}
	return types, fields
}

// Tags are Serf's: the magic byte, then a MessagePack map; metadata without the byte is a role.
func TestSerfTags(t *testing.T) {
	tags, err := parseSerfTags("role=web,dc=one")
	require.NoError(t, err)
	s, _ := newTestSerfMember(t, "a", tags)
	require.Equal(t, byte(255), s.NodeMeta(512)[0])
	var back map[string]string
	require.NoError(t, codec.NewDecoderBytes(s.NodeMeta(512)[1:], &codec.MsgpackHandle{}).Decode(&back))
	require.Equal(t, tags, back)
	require.Equal(t, tags, decodeSerfTags(s.NodeMeta(512)))
	require.Equal(t, map[string]string{"role": "db"}, decodeSerfTags([]byte("db")))
	require.Equal(t, "dc=one,role=web", formatSerfTags(tags))

	_, err = parseSerfTags("role")
	require.Error(t, err)
	_, err = newSerfMember("a", map[string]string{"big": string(bytes.Repeat([]byte("x"), 600))}, nil)
	require.Error(t, err, "tags beyond the metadata limit")
}

// A user event moves the event clock past its time, is shown once, and is passed on once,
// however often it arrives.
func TestSerfUserEventWitnessedAndPassedOnOnce(t *testing.T) {
	s, logged := newTestSerfMember(t, "a", nil)
	ev := encodeSerf(serfUserEvent, serfEvent{LTime: 7, Name: "deploy", Payload: []byte("v2")})
	s.NotifyMsg(ev)
	s.NotifyMsg(ev)
	require.Equal(t, []string{`serf user event "deploy" payload="v2" ltime=7`}, *logged)
	types, fields := queued(t, s)
	require.Equal(t, []uint8{serfUserEvent}, types)
	require.Equal(t, "deploy", string(fields[0]["Name"].([]byte)))

	var pp serfPushPullState
	state := s.LocalState(false)
	require.Equal(t, serfPushPull, state[0])
	require.NoError(t, decodeSerf(state[1:], &pp))
	require.Equal(t, uint64(8), pp.EventLTime, "the next event time is past the one witnessed")
}

// A query is acked only when every filter selects this member, and passed on unless it
// says not to.
func TestSerfQueryFilters(t *testing.T) {
	s, _ := newTestSerfMember(t, "a", map[string]string{"role": "web"})
	filter := func(kind uint8, v any) []byte {
		var b bytes.Buffer
		b.WriteByte(kind)
		require.NoError(t, codec.NewEncoder(&b, &codec.MsgpackHandle{}).Encode(v))
		return b.Bytes()
	}
	for _, c := range []struct {
		filters [][]byte
		want    bool
	}{
		{nil, true},
		{[][]byte{filter(serfFilterNode, []string{"b", "a"})}, true},
		{[][]byte{filter(serfFilterNode, []string{"b"})}, false},
		{[][]byte{filter(serfFilterTag, serfTagFilter{Tag: "role", Expr: "^w"})}, true},
		{[][]byte{filter(serfFilterTag, serfTagFilter{Tag: "role", Expr: "^db$"})}, false},
		{[][]byte{filter(serfFilterNode, []string{"a"}), filter(serfFilterTag, serfTagFilter{Tag: "role", Expr: "("})}, false},
		{[][]byte{{9}}, false},
	} {
		require.Equal(t, c.want, s.matches(c.filters), "%q", c.filters)
	}

	s.NotifyMsg(encodeSerf(serfQuery, serfQueryMsg{LTime: 3, ID: 1, Name: "q", Flags: serfQueryNoBroadcast}))
	types, _ := queued(t, s)
	require.Empty(t, types, "a no-broadcast query is not passed on")
	s.NotifyMsg(encodeSerf(serfQuery, serfQueryMsg{LTime: 3, ID: 2, Name: "q"}))
	types, _ = queued(t, s)
	require.Equal(t, []uint8{serfQuery}, types)
}

// A leave intent about this member while it is not leaving is answered with a newer join
// intent, as Serf refutes one; the member's own leave is stamped past every clock it has seen.
func TestSerfIntents(t *testing.T) {
	s, _ := newTestSerfMember(t, "a", nil)
	s.MergeRemoteState(encodeSerf(serfPushPull, serfPushPullState{LTime: 40, StatusLTimes: map[string]uint64{"b": 55}}), true)
	s.NotifyMsg(encodeSerf(serfLeave, serfIntent{LTime: 60, Node: "a"}))
	types, fields := queued(t, s)
	require.Equal(t, []uint8{serfJoin}, types)
	require.Equal(t, int64(61), fields[0]["LTime"], "newer than the intent it answers")

	s.NotifyMsg(encodeSerf(serfJoin, serfIntent{LTime: 62, Node: "b"}))
	s.NotifyMsg(encodeSerf(serfJoin, serfIntent{LTime: 62, Node: "b"}))
	types, _ = queued(t, s)
	require.Equal(t, []uint8{serfJoin}, types, "b's intent passed on once")

	s.announce(serfLeave)
	types, fields = queued(t, s)
	require.Equal(t, []uint8{serfLeave}, types)
	require.Equal(t, int64(63), fields[0]["LTime"])
	require.Equal(t, "a", string(fields[0]["Node"].([]byte)))

	s.NotifyMsg(encodeSerf(serfLeave, serfIntent{LTime: 70, Node: "a"}))
	types, _ = queued(t, s)
	require.Empty(t, types, "a member that is leaving does not refute its leave")

	s.NotifyMsg(nil)
	s.NotifyMsg([]byte{serfUserEvent, 0xc1})
	s.MergeRemoteState([]byte{serfPushPull, 0xc1}, false)
	s.MergeRemoteState(nil, false)
}
