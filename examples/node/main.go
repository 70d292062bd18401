// Command node runs one swim member per process. Three terminals make a cluster:
//
//	go run ./examples/node -name a -bind 127.0.0.1:7946 -http 127.0.0.1:8001
//	go run ./examples/node -name b -bind 127.0.0.1:7947 -join 127.0.0.1:7946
//	go run ./examples/node -name c -bind 127.0.0.1:7948 -join 127.0.0.1:7946 -meta role=db
//
// It prints join, leave and update events, answers GET / on -http with the member list as
// JSON and GET /metrics with its telemetry in the Prometheus text format, under memberlist's
// metric names (memberlist_udp_sent, memberlist_probeNode, memberlist_health_score, ...), and
// leaves gracefully on Ctrl-C or SIGTERM (what systemd, Docker and Kubernetes send to stop a
// service); Ctrl-C during the join cancels it. It speaks memberlist's protocol, so -join can
// name a memberlist node given the same -key (Consul's gossip encryption key, base64) and
// -label. To join a Serf cluster (Serf agents, a Consul LAN pool), add -serf: the member then
// advertises Serf's delegate protocol versions and -meta k=v,k2=v2 as Serf tags, and shows in
// "serf members" with those tags, and as left after Ctrl-C:
//
//	serf agent -node s1 -bind 127.0.0.1:7946 &
//	go run . -name a -bind 127.0.0.1:7947 -serf -meta role=web,dc=one -join 127.0.0.1:7946
//
// This directory is its own module, so that the library does not depend on Prometheus:
// run it from here (go run .) or from the repository root with go -C examples/node run .
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/swim-go/swim"
)

// meta is the Delegate that advertises -meta.
type meta struct{ b []byte }

func (m meta) NodeMeta(limit int) []byte     { return m.b }
func (meta) NotifyMsg([]byte)                {}
func (meta) GetBroadcasts(int, int) [][]byte { return nil }
func (meta) LocalState(bool) []byte          { return nil }
func (meta) MergeRemoteState([]byte, bool)   {}

func main() {
	name := flag.String("name", "", "member name (default: host name)")
	bind := flag.String("bind", "0.0.0.0:7946", "address to listen on, for UDP and TCP")
	advertise := flag.String("advertise", "", "address to advertise, if not the bound one (ip or ip:port)")
	join := flag.String("join", "", "comma-separated addresses of members to join")
	metaFlag := flag.String("meta", "", "metadata to advertise (at most 512 bytes)")
	preset := flag.String("config", "lan", "timing preset: lan, wan or local")
	httpAddr := flag.String("http", "", "serve the member list as JSON on this address")
	key := flag.String("key", "", "encryption key, base64 of 16, 24 or 32 bytes (as Consul's encrypt)")
	label := flag.String("label", "", "cluster label: traffic with another label is dropped")
	allow := flag.String("allow", "", "comma-separated CIDRs to accept traffic from (default: all)")
	serf := flag.Bool("serf", false, "join a Serf cluster: Serf's delegate protocol versions, -meta as Serf tags (k=v,k2=v2)")
	verbose := flag.Bool("v", false, "log protocol details")
	flag.Parse()

	cfg := map[string]func() *swim.Config{"lan": swim.DefaultLANConfig, "wan": swim.DefaultWANConfig, "local": swim.DefaultLocalConfig}[*preset]
	if cfg == nil {
		fail("unknown -config %q (want lan, wan or local)", *preset)
	}
	c := cfg()
	c.Name = *name
	if c.Name == "" {
		c.Name, _ = os.Hostname()
	}
	host, port, err := hostPort(*bind, true)
	if err != nil {
		fail("-bind %q: %v", *bind, err)
	}
	c.BindAddr, c.BindPort = host, port
	if *advertise != "" {
		if c.AdvertiseAddr, c.AdvertisePort, err = hostPort(*advertise, false); err != nil {
			fail("-advertise %q: %v", *advertise, err)
		}
	}
	if *key != "" {
		if c.SecretKey, err = base64.StdEncoding.DecodeString(*key); err != nil {
			fail("-key: %v", err)
		}
	}
	c.Label = *label
	if *allow != "" {
		if c.CIDRsAllowed, err = swim.ParseCIDRs(strings.Split(*allow, ",")); err != nil {
			fail("-allow: %v", err)
		}
	}
	showMeta := func(b []byte) string { return fmt.Sprintf("meta=%q", b) }
	statusMeta := func(b []byte) any { return string(b) }
	var serfm *serfMember
	if *serf {
		tags, err := parseSerfTags(*metaFlag)
		if err != nil {
			fail("-meta: %v", err)
		}
		if serfm, err = newSerfMember(c.Name, tags, printf); err != nil {
			fail("-meta: %v", err)
		}
		c.Delegate = serfm
		c.DelegateProtocolMin, c.DelegateProtocolMax, c.DelegateProtocolVersion = serfProtocolMin, serfProtocolMax, serfProtocolCur
		showMeta = func(b []byte) string { return "tags=" + formatSerfTags(decodeSerfTags(b)) }
		statusMeta = func(b []byte) any { return decodeSerfTags(b) }
	} else {
		c.Delegate = meta{[]byte(*metaFlag)}
	}
	var metricsHandler http.Handler
	if *httpAddr != "" {
		if c.Metrics, metricsHandler, err = prometheusMetrics(); err != nil {
			fail("metrics: %v", err)
		}
	}
	events := make(chan swim.NodeEvent, 64)
	c.Events = &swim.ChannelEventDelegate{Ch: events}
	// -v shows the protocol's own account of membership activity (suspicions, deaths,
	// refutations, conflicts, failed push/pulls, dropped input); without it, only warnings.
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	c.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	// The status listener opens first, so that a taken port fails before the member joins.
	var status net.Listener
	if *httpAddr != "" {
		if status, err = net.Listen("tcp", *httpAddr); err != nil {
			fail("-http: %v", err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	m, err := swim.Create(c)
	if err != nil {
		fail("%v", err)
	}
	if serfm != nil {
		serfm.attach(m)
	}
	fmt.Printf("%s listening on %s\n", c.Name, m.LocalNode().Address())
	go func() {
		for e := range events {
			printf("%-6s %s %s state=%s %s", e.Type, e.Node.Name, e.Node.Address(), e.Node.State, showMeta(e.Node.Meta))
		}
	}()
	if status != nil {
		mux := http.NewServeMux()
		mux.Handle("/", statusHandler(m, statusMeta))
		mux.Handle("/metrics", metricsHandler)
		go func() {
			if err := http.Serve(status, mux); err != nil {
				fmt.Fprintln(os.Stderr, "node: http:", err)
			}
		}()
	}
	if *join != "" {
		n, err := m.JoinContext(ctx, strings.Split(*join, ","))
		switch {
		case ctx.Err() != nil:
			fmt.Fprintln(os.Stderr, "node: join cancelled; shutting down")
			m.Shutdown()
			os.Exit(1)
		case err != nil:
			m.Shutdown()
			fail("join: %v", err)
		}
		fmt.Printf("joined through %d member(s)\n", n)
		if serfm != nil {
			serfm.announce(serfJoin)
		}
	}

	<-ctx.Done()
	fmt.Println("leaving")
	if serfm != nil && !serfm.leave(m, 5*time.Second) {
		fmt.Fprintln(os.Stderr, "leave: the Serf leave intent was not sent in time; Serf members may list this one as failed")
	}
	if err := m.Leave(5 * time.Second); err != nil {
		fmt.Fprintln(os.Stderr, "leave:", err)
	}
	m.Shutdown()
}

// hostPort splits host:port and checks the port; a bare host (with bare allowed) keeps
// port 0, meaning "the default".
func hostPort(s string, needPort bool) (string, int, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if needPort {
			return "", 0, err
		}
		host, port = s, ""
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return "", 0, fmt.Errorf("%q is not an IP address", host)
	}
	if port == "" {
		return host, 0, nil
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("bad port %q: want 0-65535", port)
	}
	return host, int(p), nil
}

// printf prints one line of the member's account, stamped with the time of day.
func printf(format string, args ...any) {
	fmt.Printf("%s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// statusHandler serves the member list, the health score and the drop counts as JSON; each
// member's meta is what meta makes of it (the string, or with -serf the tags).
func statusHandler(m *swim.Memberlist, meta func([]byte) any) http.Handler {
	type member struct {
		Name        string `json:"name"`
		Address     string `json:"address"`
		State       string `json:"state"`
		Meta        any    `json:"meta"`
		Incarnation uint32 `json:"incarnation"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var out []member
		for _, n := range m.Members() {
			out = append(out, member{n.Name, n.Address(), n.State.String(), meta(n.Meta), n.Incarnation})
		}
		drops := map[string]uint64{}
		for r, n := range m.Drops() {
			drops[r.String()] = n
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"self": m.LocalNode().Name, "health_score": m.HealthScore(), "members": out, "drops": drops})
	})
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "node: "+format+"\n", args...)
	os.Exit(1)
}
