package swim

// Telemetry, read from what the core reports while it runs (metrics.go).

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/swim-go/swim/internal/wire"
)

// recorded is one metric as a Metrics received it, with its labels rendered "k=v,k=v".
type recorded struct {
	kind, name, labels string
	value              float64
}

// metricsRecorder is a Metrics that keeps everything it is given.
type metricsRecorder struct {
	mu  sync.Mutex
	all []recorded
}

func (r *metricsRecorder) add(kind, name string, v float64, labels []Label) {
	var ls []string
	for _, l := range labels {
		ls = append(ls, l.Name+"="+l.Value)
	}
	r.mu.Lock()
	r.all = append(r.all, recorded{kind: kind, name: name, labels: fmt.Sprint(ls), value: v})
	r.mu.Unlock()
}

func (r *metricsRecorder) IncrCounter(name string, v float64, labels []Label) {
	r.add("counter", name, v, labels)
}
func (r *metricsRecorder) SetGauge(name string, v float64, labels []Label) {
	r.add("gauge", name, v, labels)
}
func (r *metricsRecorder) AddSample(name string, v float64, labels []Label) {
	r.add("sample", name, v, labels)
}

// of returns what was recorded under name, and clears the record.
func (r *metricsRecorder) of(name string) []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []recorded
	for _, x := range r.all {
		if x.name == name {
			out = append(out, x)
		}
	}
	return out
}

func (r *metricsRecorder) reset() {
	r.mu.Lock()
	r.all = nil
	r.mu.Unlock()
}

func metricsHarness(t *testing.T, peers int) (*harness, *metricsRecorder) {
	rec := &metricsRecorder{}
	cfg := DefaultLANConfig()
	cfg.Metrics = rec
	cfg.MetricLabels = []Label{{Name: "cluster", Value: "test"}}
	h := newHarness(t, cfg, peers)
	rec.reset()
	return h, rec
}

// Every probe reports how it ended and how long it took, with the configured labels first.
func TestMetricsProbeOutcomes(t *testing.T) {
	h, rec := metricsHarness(t, 4)
	target, ping := h.probe()
	h.advance(h.c.cfg.ProbeTimeout / 5)
	h.recv(target, ack(ping.SeqNo))
	got := rec.of(MetricProbe)
	require.Len(t, got, 1)
	require.Equal(t, "[cluster=test outcome=direct]", got[0].labels)
	require.InDelta(t, 100, got[0].value, 0.001, "milliseconds from the ping to the ack")

	rec.reset()
	target, _ = h.probe()
	for range 2 { // the probe and its retry; the relays nack
		h.advance(h.c.cfg.ProbeTimeout)
		relays, _ := h.sentOf(wire.IndirectPingMsg)
		st := h.wantStream(target, "stream ping")
		for _, r := range relays {
			h.recv(r, nack(h.c.probe.active.seq))
		}
		h.streamDone(st, nil, errStreamTimeout)
		h.sinceProbe(h.c.cfg.ProbeInterval)
		if stateOf(t, h.c, target) == StateAlive {
			h.retried(target)
		}
	}
	got = rec.of(MetricProbe)
	require.Len(t, got, 2, "the failed probe and its failed retry")
	for _, g := range got {
		require.Equal(t, "[cluster=test outcome=failed]", g.labels)
	}
	require.Len(t, rec.of(MetricMemberSuspect), 1, "one suspicion raised")
}

// Packets and their bytes, in and out, are counted as the core takes and sends them; so are
// drops, by reason.
func TestMetricsPackets(t *testing.T) {
	h, rec := metricsHarness(t, 3)
	ping := (&wire.Ping{SeqNo: 5, Node: "self", SourceAddr: []byte{10, 0, 1, 1}, SourcePort: 7946, SourceNode: "p1"}).Append(nil)
	h.c.handlePacket(h.c.now, h.addrOf("p1"), ping)
	require.Len(t, h.c.out.packets, 1, "the ack")
	require.Equal(t, []recorded{{kind: "counter", name: MetricPacketReceived, labels: "[cluster=test]", value: float64(len(ping))}},
		rec.of(MetricPacketReceived), "the ping's bytes")
	require.Equal(t, []recorded{{kind: "counter", name: MetricPacketSent, labels: "[cluster=test]", value: float64(len(h.c.out.packets[0].buf))}},
		rec.of(MetricPacketSent), "the ack's bytes, as sent")
	h.collect()

	rec.reset()
	h.recv("p1", aliveMsg("p9", 1, ""))
	require.Len(t, rec.of(MetricMemberAlive), 1, "a new member's alive applied")

	rec.reset()
	h.recv("p1", []byte{byte(wire.PingMsg), 0xc1})
	drops := rec.of(MetricDrop)
	require.Len(t, drops, 1)
	require.Equal(t, "[cluster=test reason="+DropMalformed.String()+"]", drops[0].labels)
}

// Each probe interval the health score and the table's states are reported as gauges.
func TestMetricsGauges(t *testing.T) {
	h, rec := metricsHarness(t, 3)
	h.recv("p1", (&wire.Dead{Incarnation: 1, Node: "p2", From: "p1"}).Append(nil))
	require.Len(t, rec.of(MetricMemberDead), 1)
	rec.reset()
	h.probe()
	var states []string
	for _, g := range rec.of(MetricMembers) {
		states = append(states, fmt.Sprintf("%s %v", g.labels, g.value))
	}
	slices.Sort(states)
	require.Equal(t, []string{"[cluster=test state=alive] 3", "[cluster=test state=dead] 1",
		"[cluster=test state=left] 0", "[cluster=test state=suspect] 0"}, states)
	require.Equal(t, []recorded{{kind: "gauge", name: MetricHealthScore, labels: "[cluster=test]", value: 0}}, rec.of(MetricHealthScore))
}

// A push/pull reports its duration by kind and the sizes of both states.
func TestMetricsPushPull(t *testing.T) {
	h, rec := metricsHarness(t, 2)
	h.step()
	h.c.startPushPull(h.addrOf("p1"), "p1", pullReconnect)
	h.collect()
	st := h.wantStream("p1", "the push/pull")
	local := rec.of(MetricPushPullSizeLocal)
	require.Len(t, local, 1)
	require.Equal(t, float64(len(st.buf)), local[0].value, "the bytes of this member's state")
	require.Len(t, rec.of(MetricStreamOpened), 1)

	reply := (&wire.PushPull{Nodes: []wire.PushNodeState{{Name: "p1", Addr: []byte{10, 0, 1, 1}, Port: 7946, Incarnation: 1, State: int(StateAlive), Vsn: []byte{1, 5, 2, 0, 0, 0}}}}).Append(nil)
	h.advance(h.c.cfg.ProbeTimeout / 5)
	h.streamDone(st, reply, nil)
	require.Equal(t, []recorded{{kind: "sample", name: MetricPushPullSizeRemote, labels: "[cluster=test]", value: float64(len(reply))}}, rec.of(MetricPushPullSizeRemote))
	pp := rec.of(MetricPushPull)
	require.Len(t, pp, 1)
	require.Equal(t, "[cluster=test kind=reconnect]", pp[0].labels)
	require.InDelta(t, 100, pp[0].value, 0.001)
}
