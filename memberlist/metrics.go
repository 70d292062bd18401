package memberlist

import (
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-metrics"
	"github.com/swim-go/swim"
)

// metricsSink forwards swim's telemetry to go-metrics' global registry under memberlist's
// names and with Config.MetricLabels, so dashboards built for memberlist (Consul's) keep
// working. swim's metrics that memberlist has no name for are reported under
// "memberlist.swim.*". memberlist's "memberlist.gossip" timer (the time one gossip round took
// to encode and send) has no counterpart: swim counts gossip packets instead
// ("memberlist.swim.gossip").
type metricsSink struct {
	labels     []metrics.Label
	queueEvery time.Duration
	lastQueue  atomic.Int64 // UnixNano of the last queue depth reported
}

// NewSwimMetrics returns a swim.Metrics for a program that uses swim's own API
// (github.com/swim-go/swim) and wants memberlist's metric names: set it as swim's
// Config.Metrics and configure go-metrics (metrics.NewGlobal with a sink: Prometheus,
// statsd, in-memory) as for memberlist. Every metric carries labels, as memberlist's
// Config.MetricLabels do; leave swim's own Config.MetricLabels empty. The broadcast queue
// depth is sampled at most every 30 s, memberlist's default QueueCheckInterval.
func NewSwimMetrics(labels []metrics.Label) swim.Metrics {
	return &metricsSink{labels: labels, queueEvery: DefaultLANConfig().QueueCheckInterval}
}

var (
	keyProbeNode      = []string{"memberlist", "probeNode"}
	keyDegradedProbe  = []string{"memberlist", "degraded", "probe"}
	keyDegradedTime   = []string{"memberlist", "degraded", "timeout"}
	keyHealthScore    = []string{"memberlist", "health", "score"}
	keyMsgAlive       = []string{"memberlist", "msg", "alive"}
	keyMsgSuspect     = []string{"memberlist", "msg", "suspect"}
	keyMsgDead        = []string{"memberlist", "msg", "dead"}
	keyNodeInstances  = []string{"memberlist", "node", "instances"}
	keyQueue          = []string{"memberlist", "queue", "broadcasts"}
	keyPushPull       = []string{"memberlist", "pushPullNode"}
	keySizeLocal      = []string{"memberlist", "size", "local"}
	keySizeRemote     = []string{"memberlist", "size", "remote"}
	keyUDPSent        = []string{"memberlist", "udp", "sent"}
	keyUDPReceived    = []string{"memberlist", "udp", "received"}
	keyTCPSent        = []string{"memberlist", "tcp", "sent"}
	keyTCPConnect     = []string{"memberlist", "tcp", "connect"}
	keyTCPAccept      = []string{"memberlist", "tcp", "accept"}
	keySwimRefuted    = []string{"memberlist", "swim", "suspicion", "refuted"}
	keySwimDrop       = []string{"memberlist", "swim", "drop"}
	keySwimGossip     = []string{"memberlist", "swim", "gossip"}
	keySwimSuspTimout = []string{"memberlist", "swim", "suspicion", "timeout"}
)

// lastLabel is the value of a metric's own label, which swim puts after the configured ones.
func lastLabel(labels []swim.Label) (name, value string) {
	if len(labels) == 0 {
		return "", ""
	}
	l := labels[len(labels)-1]
	return l.Name, l.Value
}

// with returns the configured labels plus one more.
func (s *metricsSink) with(name, value string) []metrics.Label {
	return append(append(make([]metrics.Label, 0, len(s.labels)+1), s.labels...), metrics.Label{Name: name, Value: value})
}

func (s *metricsSink) IncrCounter(name string, delta float64, labels []swim.Label) {
	v := float32(delta)
	switch name {
	case swim.MetricPacketSent:
		metrics.IncrCounterWithLabels(keyUDPSent, v, s.labels)
	case swim.MetricPacketReceived:
		metrics.IncrCounterWithLabels(keyUDPReceived, v, s.labels)
	case swim.MetricStreamSent:
		metrics.IncrCounterWithLabels(keyTCPSent, v, s.labels)
	case swim.MetricStreamOpened:
		metrics.IncrCounterWithLabels(keyTCPConnect, v, s.labels)
	case swim.MetricStreamAccepted:
		metrics.IncrCounterWithLabels(keyTCPAccept, v, s.labels)
	case swim.MetricMemberAlive:
		metrics.IncrCounterWithLabels(keyMsgAlive, v, s.labels)
	case swim.MetricMemberSuspect:
		metrics.IncrCounterWithLabels(keyMsgSuspect, v, s.labels)
	case swim.MetricMemberDead:
		metrics.IncrCounterWithLabels(keyMsgDead, v, s.labels)
	case swim.MetricProbeDegraded:
		metrics.IncrCounterWithLabels(keyDegradedProbe, v, s.labels)
	case swim.MetricSuspicionTimeout:
		if _, confirmed := lastLabel(labels); confirmed == "false" {
			metrics.IncrCounterWithLabels(keyDegradedTime, v, s.labels)
		}
		metrics.IncrCounterWithLabels(keySwimSuspTimout, v, s.labels)
	case swim.MetricRefute:
		metrics.IncrCounterWithLabels(keySwimRefuted, v, s.labels)
	case swim.MetricGossip:
		metrics.IncrCounterWithLabels(keySwimGossip, v, s.labels)
	case swim.MetricDrop:
		_, reason := lastLabel(labels)
		metrics.IncrCounterWithLabels(keySwimDrop, v, s.with("reason", reason))
	}
}

func (s *metricsSink) SetGauge(name string, value float64, labels []swim.Label) {
	switch name {
	case swim.MetricHealthScore:
		metrics.SetGaugeWithLabels(keyHealthScore, float32(value), s.labels)
	case swim.MetricMembers:
		_, state := lastLabel(labels)
		metrics.SetGaugeWithLabels(keyNodeInstances, float32(value), s.with("node_state", state))
	}
}

func (s *metricsSink) AddSample(name string, value float64, labels []swim.Label) {
	v := float32(value)
	switch name {
	case swim.MetricProbe:
		metrics.AddSampleWithLabels(keyProbeNode, v, s.labels)
	case swim.MetricPushPull:
		metrics.AddSampleWithLabels(keyPushPull, v, s.labels)
	case swim.MetricPushPullSizeLocal:
		metrics.AddSampleWithLabels(keySizeLocal, v, s.labels)
	case swim.MetricPushPullSizeRemote:
		metrics.AddSampleWithLabels(keySizeRemote, v, s.labels)
	case swim.MetricBroadcastQueue:
		// memberlist samples its queue every QueueCheckInterval; swim reports it every
		// gossip round, so most reports are skipped.
		now := time.Now().UnixNano()
		last := s.lastQueue.Load()
		if s.queueEvery > 0 && now-last < int64(s.queueEvery) || !s.lastQueue.CompareAndSwap(last, now) {
			return
		}
		metrics.AddSampleWithLabels(keyQueue, v, s.labels)
	}
}
