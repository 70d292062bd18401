package main

import (
	"io"
	"net/http/httptest"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/swim-go/swim"
)

// newMember starts a member on a loopback port of its own, shut down with the test.
func newMember(t *testing.T, name string, metrics swim.Metrics, d swim.Delegate) *swim.Memberlist {
	t.Helper()
	c := swim.DefaultLocalConfig()
	c.Name, c.BindAddr, c.BindPort = name, "127.0.0.1", 0
	c.Metrics, c.Delegate = metrics, d
	c.Logger = nil
	m, err := swim.Create(c)
	require.NoError(t, err)
	t.Cleanup(func() { m.Shutdown() })
	return m
}

// metricValue reads one sample of the Prometheus text format, -1 when it is missing.
func metricValue(body, sample string) float64 {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// /metrics shows memberlist's metric names with the live values of a two-member cluster.
// Real sockets: this is the one place the Prometheus path runs end to end.
func TestMetricsServedUnderMemberlistNames(t *testing.T) {
	metrics, handler, err := prometheusMetrics()
	require.NoError(t, err)
	a := newMember(t, "a", metrics, nil)
	b := newMember(t, "b", nil, nil)
	_, err = b.Join([]string{a.LocalNode().Address()})
	require.NoError(t, err)

	srv := httptest.NewServer(handler)
	defer srv.Close()
	scrape := func() string {
		resp, err := srv.Client().Get(srv.URL)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return string(body)
	}
	var body string
	// Gauges are reported once per probe interval (1 s with Local timings).
	require.Eventually(t, func() bool {
		body = scrape()
		return metricValue(body, `memberlist_node_instances{node_state="alive"}`) == 2 &&
			metricValue(body, "memberlist_probeNode_count") > 0
	}, 15*time.Second, 100*time.Millisecond, "last scrape:\n%s", body)
	require.Greater(t, metricValue(body, "memberlist_udp_sent"), 0.0, "bytes sent by UDP")
	require.Greater(t, metricValue(body, "memberlist_udp_received"), 0.0)
	require.Greater(t, metricValue(body, "memberlist_tcp_accept"), 0.0, "b's join was a push/pull to a")
	require.Equal(t, 0.0, metricValue(body, "memberlist_health_score"))
	require.Equal(t, 0.0, metricValue(body, `memberlist_node_instances{node_state="dead"}`))

	// Live: the counters keep moving.
	sent := metricValue(body, "memberlist_udp_sent")
	require.Eventually(t, func() bool { return metricValue(scrape(), "memberlist_udp_sent") > sent }, 10*time.Second, 100*time.Millisecond)
}
