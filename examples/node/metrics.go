package main

import (
	"net/http"

	"github.com/hashicorp/go-metrics"
	"github.com/hashicorp/go-metrics/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/swim-go/swim"
	"github.com/swim-go/swim/memberlist"
)

// prometheusMetrics routes swim's telemetry, under memberlist's metric names, through
// go-metrics into a Prometheus sink, and returns it with the handler that serves it (and
// the Go runtime's and the process's own collectors) at /metrics. Names are flattened as
// go-metrics does for Prometheus: memberlist.udp.sent is memberlist_udp_sent.
func prometheusMetrics() (swim.Metrics, http.Handler, error) {
	sink, err := prometheus.NewPrometheusSink()
	if err != nil {
		return nil, nil, err
	}
	cfg := metrics.DefaultConfig("")
	// No host name in the keys (Prometheus adds an instance label) and no go-metrics
	// runtime gauges: Prometheus' Go collector reports the runtime already.
	cfg.EnableHostname, cfg.EnableRuntimeMetrics = false, false
	if _, err := metrics.NewGlobal(cfg, sink); err != nil {
		return nil, nil, err
	}
	return memberlist.NewSwimMetrics(nil), promhttp.Handler(), nil
}
