// Command node runs one swim member per process. Three terminals make a cluster:
//
//	go run ./examples/node -name a -bind 127.0.0.1:7946 -http 127.0.0.1:8001
//	go run ./examples/node -name b -bind 127.0.0.1:7947 -join 127.0.0.1:7946
//	go run ./examples/node -name c -bind 127.0.0.1:7948 -join 127.0.0.1:7946 -meta role=db
//
// It prints join, leave and update events, answers GET / on -http with the member list as
// JSON, and leaves gracefully on Ctrl-C. It speaks memberlist's protocol, so -join can name a
// memberlist node (a Consul or Serf LAN member) given the same -key (Consul's gossip
// encryption key, base64) and -label.
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
	"os"
	"os/signal"
	"strconv"
	"strings"
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
	host, port, err := net.SplitHostPort(*bind)
	if err != nil {
		fail("-bind: %v", err)
	}
	c.BindAddr = host
	c.BindPort, _ = strconv.Atoi(port)
	if *advertise != "" {
		if h, p, err := net.SplitHostPort(*advertise); err == nil {
			c.AdvertiseAddr = h
			c.AdvertisePort, _ = strconv.Atoi(p)
		} else {
			c.AdvertiseAddr = *advertise
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
	c.Delegate = meta{[]byte(*metaFlag)}
	events := make(chan swim.NodeEvent, 64)
	c.Events = &swim.ChannelEventDelegate{Ch: events}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	c.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	m, err := swim.Create(c)
	if err != nil {
		fail("%v", err)
	}
	fmt.Printf("%s listening on %s\n", c.Name, m.LocalNode().Address())
	go func() {
		for e := range events {
			fmt.Printf("%s %-6s %s %s state=%s meta=%q\n", time.Now().Format("15:04:05.000"), e.Type, e.Node.Name, e.Node.Address(), e.Node.State, e.Node.Meta)
		}
	}()
	if *join != "" {
		n, err := m.JoinContext(context.Background(), strings.Split(*join, ","))
		if err != nil {
			fail("join: %v", err)
		}
		fmt.Printf("joined through %d member(s)\n", n)
	}
	if *httpAddr != "" {
		http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			type entry struct {
				Name, Address, State string
				Meta                 string
				Incarnation          uint32
			}
			var out []entry
			for _, n := range m.Members() {
				out = append(out, entry{n.Name, n.Address(), n.State.String(), string(n.Meta), n.Incarnation})
			}
			w.Header().Set("Content-Type", "application/json")
			drops := map[string]uint64{}
			for r, n := range m.Drops() {
				drops[r.String()] = n
			}
			json.NewEncoder(w).Encode(map[string]any{"self": c.Name, "health_score": m.HealthScore(), "members": out, "drops": drops})
		})
		go func() {
			if err := http.ListenAndServe(*httpAddr, nil); err != nil {
				fail("http: %v", err)
			}
		}()
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt)
	<-stop
	fmt.Println("leaving")
	if err := m.Leave(5 * time.Second); err != nil {
		fmt.Fprintln(os.Stderr, "leave:", err)
	}
	m.Shutdown()
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "node: "+format+"\n", args...)
	os.Exit(1)
}
