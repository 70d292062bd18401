package memberlist

import (
	"bytes"
	"log"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-metrics"
	"github.com/stretchr/testify/require"
	"github.com/swim-go/swim"
)

// Log lines are in memberlist's format, with its level names, so filters written for
// memberlist's output (Serf's monitor, Consul's) keep working.
func TestLogFormat(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(&logHandler{out: log.New(&buf, "", 0)}).With("node", "a")
	l.Debug("probe failed; probing again", "peer", "b")
	l.Info("suspecting member: no ack", "peer", "b c")
	l.Warn("refuting a suspicion", slog.Group("from", "name", "c"))
	l.Error("broken", "error", "x=y")
	require.Equal(t, strings.Join([]string{
		`[DEBUG] memberlist: probe failed; probing again node=a peer=b`,
		`[INFO] memberlist: suspecting member: no ack node=a peer="b c"`,
		`[WARN] memberlist: refuting a suspicion node=a from.name=c`,
		`[ERR] memberlist: broken node=a error="x=y"`,
	}, "\n")+"\n", buf.String())
}

// swim's metrics arrive in go-metrics under memberlist's names, with MetricLabels.
func TestMetricsUnderMemberlistNames(t *testing.T) {
	sink := metrics.NewInmemSink(time.Hour, time.Hour)
	cfg := metrics.DefaultConfig("")
	cfg.EnableHostname, cfg.EnableRuntimeMetrics, cfg.EnableServiceLabel = false, false, false
	_, err := metrics.NewGlobal(cfg, sink)
	require.NoError(t, err)
	defer metrics.NewGlobal(cfg, &metrics.BlackholeSink{})

	labels := []metrics.Label{{Name: "dc", Value: "one"}}
	s := NewSwimMetrics(labels)
	swimLabels := []swim.Label{{Name: "dc", Value: "one"}}
	s.IncrCounter(swim.MetricPacketSent, 100, swimLabels)
	s.IncrCounter(swim.MetricPacketSent, 50, swimLabels)
	s.IncrCounter(swim.MetricMemberSuspect, 1, swimLabels)
	s.IncrCounter(swim.MetricSuspicionTimeout, 1, append(swimLabels, swim.Label{Name: "confirmed", Value: "false"}))
	s.SetGauge(swim.MetricHealthScore, 2, swimLabels)
	s.SetGauge(swim.MetricMembers, 5, append(swimLabels, swim.Label{Name: "state", Value: "alive"}))
	s.AddSample(swim.MetricProbe, 12, append(swimLabels, swim.Label{Name: "outcome", Value: "direct"}))

	data := sink.Data()
	require.NotEmpty(t, data)
	iv := data[len(data)-1]
	iv.RLock()
	defer iv.RUnlock()
	require.Equal(t, 150.0, iv.Counters["memberlist.udp.sent;dc=one"].Sum, "bytes sent, summed")
	require.Equal(t, 2, iv.Counters["memberlist.udp.sent;dc=one"].Count, "one count per packet")
	require.Equal(t, 1, iv.Counters["memberlist.msg.suspect;dc=one"].Count)
	require.Equal(t, 1, iv.Counters["memberlist.degraded.timeout;dc=one"].Count, "a suspicion that ran out unconfirmed")
	require.Equal(t, float32(2), iv.Gauges["memberlist.health.score;dc=one"].Value)
	require.Equal(t, float32(5), iv.Gauges["memberlist.node.instances;dc=one;node_state=alive"].Value)
	require.Equal(t, 12.0, iv.Samples["memberlist.probeNode;dc=one"].Sum)
}
