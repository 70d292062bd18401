// Command shard is a sharded key-value service in the style of ringpop: every instance is a
// swim member with a consistent hash ring (package ring) fed by its membership events, and
// an HTTP server. The ring says which instance owns each key; each key is kept in memory on
// its owner and on the next distinct member of the ring (two replicas), so one crash loses
// nothing. Each instance advertises its HTTP address in its member metadata, so any instance
// can reach any owner.
//
// Any instance answers GET and PUT /kv/{key}. One that does not own the key forwards the
// request to the owner, one hop, marked X-Shard-Forwarded-By; answers say who owned the key
// (X-Shard-Owner) and how many hops it took (X-Shard-Hops, 0 or 1). An instance that
// receives a forwarded request for a key it does not think it owns (the two rings disagree
// while membership changes) answers 421 Misdirected Request naming the owner it believes,
// instead of forwarding again, and the first instance passes that to the client; a forward
// to an owner that does not answer is 502. When its ring changes, an instance hands the
// keys it should no longer hold to their new replicas, and the owner of a key makes sure its
// second replica has it. GET /ring shows the instance's ring and its counts.
//
// See it in one process, narrated:
//
//	go run ./examples/shard -demo
//
// The demo starts five instances on loopback, waits for their rings to agree, and writes
// 10,000 keys through random instances, counting how many needed a hop. Then it adds a
// sixth instance, crashes one and stops one gracefully. For each change it shows how long
// the rings took to agree again; how many keys changed owner, against the ideal (1/6 of
// them for the join, all of them going to the newcomer; the departed member's share for the
// crash and the stop); how many keys were handed off; how many requests of a client reading
// throughout failed while the views disagreed, and why; and whether every key reads back
// afterwards. It ends with a summary. -seed changes its random choices.
//
// Or one instance per process:
//
//	go run ./examples/shard -name a -port 7946 -http 127.0.0.1:8001
//	go run ./examples/shard -name b -port 7947 -http 127.0.0.1:8002 -join 127.0.0.1:7946
//	curl -X PUT --data hello 127.0.0.1:8001/kv/greeting
//	curl -i 127.0.0.1:8002/kv/greeting
//	curl 127.0.0.1:8002/ring
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"time"
)

func main() {
	name := flag.String("name", "", "member name (default: the host name)")
	bind := flag.String("bind", "127.0.0.1", "address the membership protocol listens on")
	port := flag.Int("port", 7946, "port the membership protocol listens on (UDP and TCP); 0 picks one")
	httpAddr := flag.String("http", "127.0.0.1:8080", "address to serve HTTP on; it is advertised to the other instances, so it must be one they can reach")
	join := flag.String("join", "", "comma-separated membership addresses (host:port) of instances to join")
	demo := flag.Bool("demo", false, "run the narrated demo cluster in this process and exit")
	seed := flag.Uint64("seed", 1, "seed of the demo's random choices")
	verbose := flag.Bool("v", false, "log what the instances do, at debug level, to stderr")
	flag.Parse()

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if *demo {
		if !*verbose {
			log = slog.New(slog.DiscardHandler)
		}
		if err := runDemo(os.Stdout, *seed, log); err != nil {
			fail("%v", err)
		}
		return
	}

	o := options{name: *name, bindAddr: *bind, bindPort: *port, httpAddr: *httpAddr, log: log}
	if o.name == "" {
		o.name, _ = os.Hostname()
	}
	if *join != "" {
		o.join = strings.Split(*join, ",")
	}
	in, err := startInstance(o)
	if err != nil {
		fail("%v", err)
	}
	log.Info("serving", "node", o.name, "member", in.memberAddr(), "http", in.httpAddr)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt)
	<-stop
	log.Info("leaving", "node", o.name, "keys", in.store.len())
	handed, err := in.stop(5 * time.Second)
	if err != nil {
		log.Warn("leave", "node", o.name, "err", err)
	}
	log.Info("stopped", "node", o.name, "handed_off", handed, "keys_left", in.store.len())
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "shard: "+format+"\n", args...)
	os.Exit(1)
}
