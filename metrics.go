package swim

// Telemetry. The core reports what it does through a Metrics the application provides, under
// the names below; nothing is collected when Config.Metrics is nil. Package
// github.com/swim-go/swim/memberlist forwards these to go-metrics under memberlist's names, so
// dashboards built for memberlist keep working; examples/node serves them in the Prometheus
// format.

import "time"

// Metrics receives swim's measurements: counters (a running total, like a number of packets
// or of bytes), gauges (a current value) and samples (one observation of a distribution, such
// as a duration in milliseconds). Each comes with Config.MetricLabels followed by the
// metric's own labels, which the receiver must not keep or modify. swim calls it from the
// protocol loop, on every packet: it must be safe for concurrent use, cheap and never block,
// and must not call the Memberlist (a Delegate may; see ErrInDelegate).
type Metrics interface {
	IncrCounter(name string, delta float64, labels []Label)
	SetGauge(name string, value float64, labels []Label)
	AddSample(name string, value float64, labels []Label)
}

// Label is a name and value attached to a metric.
type Label struct {
	Name, Value string
}

// The metrics swim reports, with their kind and labels. Durations are in milliseconds.
const (
	// MetricProbe (sample): how long a probe took from its ping to its outcome. Label
	// "outcome": "direct", "indirect" or "stream" (how the ack came) or "failed".
	MetricProbe = "probe"
	// MetricProbeDegraded (counter): a probe started with its interval stretched by a
	// Lifeguard health score above 0.
	MetricProbeDegraded = "probe.degraded"
	// MetricHealthScore (gauge): the Lifeguard local health score, 0 when healthy.
	MetricHealthScore = "health.score"

	// MetricMemberAlive (counter): this member applied news of another member being alive
	// with a new incarnation, address or metadata (a join, an update, a refutation).
	MetricMemberAlive = "member.alive"
	// MetricMemberSuspect (counter): this member began suspecting another one, on its own
	// probe or on news of another member's: one observation of a suspicion.
	MetricMemberSuspect = "member.suspect"
	// MetricMemberDead (counter): this member marked another one dead or left.
	MetricMemberDead = "member.dead"
	// MetricMembers (gauge): how many members this one holds in a state, itself included.
	// Label "state": "alive", "suspect", "dead" or "left". Reported every probe interval.
	MetricMembers = "members"

	// MetricRefute (counter): this member refuted news that it is suspect or dead.
	MetricRefute = "suspicion.refuted"
	// MetricFlapHeldOut (counter): another member flapped (refuted twice within
	// FlapHoldDown) and was held out of the application's view.
	MetricFlapHeldOut = "flap.held_out"
	// MetricSuspicionTimeout (counter): a suspicion ran out here and the member was
	// declared dead. Label "confirmed": "true" if it had every confirmation that could
	// shorten it, else "false".
	MetricSuspicionTimeout = "suspicion.timeout"

	// MetricGossip (counter): gossip packets sent by the gossip timer.
	MetricGossip = "gossip"
	// MetricBroadcastQueue (sample): broadcasts waiting in the queue, at each gossip round.
	MetricBroadcastQueue = "broadcast.queue"
	// MetricPushPull (sample): how long a push/pull this member started took, from dialing
	// to merging the reply. Label "kind": "join", "periodic", "followup" or "reconnect".
	MetricPushPull = "pushpull"
	// MetricPushPullSizeLocal and MetricPushPullSizeRemote (samples): the bytes of this
	// member's state sent in a push/pull, and of the other member's state received.
	MetricPushPullSizeLocal  = "pushpull.size.local"
	MetricPushPullSizeRemote = "pushpull.size.remote"

	// MetricPacketSent and MetricPacketReceived (counters): bytes of each datagram sent
	// and received (so a counter's count is the number of packets).
	MetricPacketSent     = "packet.sent"
	MetricPacketReceived = "packet.received"
	// MetricStreamSent (counter): bytes of each stream request or reply this member sent.
	MetricStreamSent = "stream.sent"
	// MetricStreamOpened and MetricStreamAccepted (counters): streams this member opened,
	// and streams it accepted from others.
	MetricStreamOpened   = "stream.opened"
	MetricStreamAccepted = "stream.accepted"
	// MetricDrop (counter): an input dropped. Label "reason": a DropReason's String.
	MetricDrop = "drop"
)

// metrics is the core's side of telemetry: the application's Metrics with the configured
// labels, and scratch space so that reporting a metric with its own label allocates nothing.
type metrics struct {
	sink    Metrics
	base    []Label // Config.MetricLabels
	scratch []Label
}

func newMetrics(sink Metrics, base []Label) metrics {
	return metrics{sink: sink, base: base, scratch: make([]Label, len(base), len(base)+1)}
}

func (m *metrics) on() bool { return m.sink != nil }

// with returns the base labels followed by name=value, valid until the next call.
func (m *metrics) with(name, value string) []Label {
	copy(m.scratch, m.base)
	return append(m.scratch[:len(m.base)], Label{Name: name, Value: value})
}

func (m *metrics) count(name string, delta float64) {
	if m.sink != nil {
		m.sink.IncrCounter(name, delta, m.base)
	}
}

func (m *metrics) countBy(name string, delta float64, label, value string) {
	if m.sink != nil {
		m.sink.IncrCounter(name, delta, m.with(label, value))
	}
}

func (m *metrics) gauge(name string, v float64) {
	if m.sink != nil {
		m.sink.SetGauge(name, v, m.base)
	}
}

func (m *metrics) gaugeBy(name string, v float64, label, value string) {
	if m.sink != nil {
		m.sink.SetGauge(name, v, m.with(label, value))
	}
}

func (m *metrics) sample(name string, v float64) {
	if m.sink != nil {
		m.sink.AddSample(name, v, m.base)
	}
}

func (m *metrics) sampleBy(name string, v float64, label, value string) {
	if m.sink != nil {
		m.sink.AddSample(name, v, m.with(label, value))
	}
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
