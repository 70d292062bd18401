// Command discovery is service discovery on swim: every instance advertises its service name,
// address and version in its member metadata, and a resolver follows membership events to keep
// the healthy endpoints of each service, served as JSON over HTTP. No registry, no polling.
//
// See it all in one process (instances appear, a rolling upgrade, a crash, a graceful stop):
//
//	go run ./examples/discovery -demo
//
// Or one instance per process:
//
//	go run ./examples/discovery -name api-1 -bind 127.0.0.1:7946 -service api -service-addr 127.0.0.1:8080 -version 1.0 -http 127.0.0.1:8001
//	go run ./examples/discovery -name api-2 -bind 127.0.0.1:7947 -service api -service-addr 127.0.0.1:8081 -version 1.0 -join 127.0.0.1:7946
//	curl 127.0.0.1:8001/services/api
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/swim-go/swim"
)

// instance is the Delegate of one service instance: it advertises the service and can
// change what it advertises (a new version; call UpdateNode after).
type instance struct {
	mu   sync.Mutex
	meta []byte
}

func (d *instance) NodeMeta(int) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.meta
}
func (*instance) NotifyMsg([]byte)                {}
func (*instance) GetBroadcasts(int, int) [][]byte { return nil }
func (*instance) LocalState(bool) []byte          { return nil }
func (*instance) MergeRemoteState([]byte, bool)   {}

func (d *instance) advertise(s Service) error {
	meta, err := encodeService(s)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.meta = meta
	d.mu.Unlock()
	return nil
}

func main() {
	name := flag.String("name", "", "member name (default: host name)")
	bind := flag.String("bind", "0.0.0.0:7946", "address to listen on for the membership protocol")
	join := flag.String("join", "", "comma-separated addresses of members to join")
	service := flag.String("service", "", "service this instance offers (empty: a client only)")
	serviceAddr := flag.String("service-addr", "", "address clients reach the service at")
	version := flag.String("version", "", "version of the service")
	preset := flag.String("config", "lan", "timing preset: lan, wan or local")
	httpAddr := flag.String("http", "", "serve the endpoints as JSON on this address")
	demo := flag.Bool("demo", false, "run a narrated demo cluster in this process and exit")
	flag.Parse()
	if *demo {
		if err := runDemo(os.Stdout); err != nil {
			fail("%v", err)
		}
		return
	}

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
	d := &instance{}
	if err := d.advertise(Service{Name: *service, Addr: *serviceAddr, Version: *version}); err != nil {
		fail("%v", err)
	}
	c.Delegate = d
	res := NewResolver()
	c.Events = res
	m, err := swim.Create(c)
	if err != nil {
		fail("%v", err)
	}
	fmt.Printf("%s listening on %s\n", c.Name, m.LocalNode().Address())
	if *join != "" {
		if _, err := m.JoinContext(context.Background(), strings.Split(*join, ",")); err != nil {
			fail("join: %v", err)
		}
	}
	if *httpAddr != "" {
		go func() {
			if err := http.ListenAndServe(*httpAddr, handler(res, func() map[string]bool { return suspects(m) })); err != nil {
				fail("http: %v", err)
			}
		}()
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt)
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			printServices(os.Stdout, res.Services(suspects(m)))
		case <-stop:
			fmt.Println("leaving")
			m.Leave(5 * time.Second)
			m.Shutdown()
			return
		}
	}
}

// handler serves GET /services (every service) and GET /services/{name} (the healthy
// endpoints of one); suspect says which members are suspected right now.
func handler(res *Resolver, suspect func() map[string]bool) http.Handler {
	mux := http.NewServeMux()
	writeJSON := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /services", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, res.Services(suspect()))
	})
	mux.HandleFunc("GET /services/{name}", func(w http.ResponseWriter, r *http.Request) {
		eps := res.Healthy(r.PathValue("name"), suspect())
		if eps == nil {
			eps = []Endpoint{}
		}
		writeJSON(w, eps)
	})
	mux.Handle("GET /{$}", http.RedirectHandler("/services", http.StatusFound))
	return mux
}

// printServices prints one line per service: its endpoints and their versions.
func printServices(w io.Writer, services map[string][]Endpoint) {
	names := make([]string, 0, len(services))
	for s := range services {
		names = append(names, s)
	}
	sort.Strings(names)
	for _, s := range names {
		var parts []string
		for _, e := range services[s] {
			p := fmt.Sprintf("%s@%s v%s", e.Node, e.Addr, e.Version)
			if e.Suspect {
				p += " (suspect)"
			}
			parts = append(parts, p)
		}
		fmt.Fprintf(w, "  %-6s %d: %s\n", s, len(services[s]), strings.Join(parts, ", "))
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "discovery: "+format+"\n", args...)
	os.Exit(1)
}
