package main

// The narrated demo: a client and six service instances in one process on loopback, with
// the Local timings. The client's resolver is watched through each step.

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/swim-go/swim"
)

// node is one running instance of the demo.
type node struct {
	m   *swim.Memberlist
	d   *instance
	svc Service
}

func runDemo(w io.Writer) error {
	start := func(name string, svc Service, events swim.EventDelegate) (*node, error) {
		c := swim.DefaultLocalConfig()
		c.Name = name
		c.BindAddr = "127.0.0.1"
		c.BindPort = 0
		d := &instance{}
		if err := d.advertise(svc); err != nil {
			return nil, err
		}
		c.Delegate = d
		c.Events = events
		m, err := swim.Create(c)
		if err != nil {
			return nil, err
		}
		return &node{m: m, d: d, svc: svc}, nil
	}
	res := NewResolver()
	client, err := start("client", Service{}, res)
	if err != nil {
		return err
	}
	defer client.m.Shutdown()
	seed := client.m.LocalNode().Address()

	specs := []Service{
		{"api", "127.0.0.1:8080", "1.0"}, {"api", "127.0.0.1:8081", "1.0"}, {"api", "127.0.0.1:8082", "1.0"},
		{"db", "127.0.0.1:5432", "15.4"}, {"db", "127.0.0.1:5433", "15.4"}, {"cache", "127.0.0.1:6379", "7.2"},
	}
	fmt.Fprintf(w, "client %s starts a resolver; %d instances join it\n", seed, len(specs))
	began := time.Now()
	var nodes []*node
	for i, s := range specs {
		n, err := start(fmt.Sprintf("%s-%d", s.Name, i), s, nil)
		if err != nil {
			return err
		}
		defer n.m.Shutdown()
		if _, err := n.m.Join([]string{seed}); err != nil {
			return err
		}
		nodes = append(nodes, n)
	}
	view := func() map[string][]Endpoint { return res.Services(suspects(client.m)) }
	count := func() int {
		n := 0
		for _, eps := range view() {
			n += len(eps)
		}
		return n
	}
	if err := waitFor(30*time.Second, func() bool { return count() == len(specs) }); err != nil {
		return fmt.Errorf("resolver never saw every instance: %w", err)
	}
	discovered := time.Since(began)
	fmt.Fprintf(w, "after %v the resolver knows:\n", discovered.Round(time.Millisecond))
	printServices(w, view())

	fmt.Fprintln(w, "\nrolling upgrade of api to 1.1, one instance at a time:")
	began = time.Now()
	for _, n := range nodes[:3] {
		n.svc.Version = "1.1"
		if err := n.d.advertise(n.svc); err != nil {
			return err
		}
		if err := n.m.UpdateNode(5 * time.Second); err != nil {
			return err
		}
		name := n.m.LocalNode().Name
		if err := waitFor(10*time.Second, func() bool {
			i := slices.IndexFunc(view()["api"], func(e Endpoint) bool { return e.Node == name })
			return i >= 0 && view()["api"][i].Version == "1.1"
		}); err != nil {
			return fmt.Errorf("resolver never saw %s upgraded: %w", name, err)
		}
		fmt.Fprintf(w, "  %s now 1.1\n", name)
	}
	upgraded := time.Since(began)
	printServices(w, view())

	fmt.Fprintf(w, "\n%s crashes (no goodbye):\n", nodes[1].m.LocalNode().Name)
	began = time.Now()
	nodes[1].m.Shutdown()
	crashedName, suspected := nodes[1].m.LocalNode().Name, false
	if err := waitFor(30*time.Second, func() bool {
		if !suspected && suspects(client.m)[crashedName] {
			suspected = true
			fmt.Fprintf(w, "  suspected after %v: still listed, marked suspect, no longer healthy\n", time.Since(began).Round(time.Millisecond))
		}
		return len(view()["api"]) == 2
	}); err != nil {
		return fmt.Errorf("resolver never dropped the crashed instance: %w", err)
	}
	crashed := time.Since(began)
	fmt.Fprintf(w, "  removed after %v (suspected, then declared dead)\n", crashed.Round(time.Millisecond))
	printServices(w, view())

	fmt.Fprintf(w, "\n%s stops gracefully:\n", nodes[4].m.LocalNode().Name)
	began = time.Now()
	if err := nodes[4].m.Leave(5 * time.Second); err != nil {
		return err
	}
	nodes[4].m.Shutdown()
	if err := waitFor(10*time.Second, func() bool { return len(view()["db"]) == 1 }); err != nil {
		return fmt.Errorf("resolver never dropped the stopped instance: %w", err)
	}
	left := time.Since(began)
	fmt.Fprintf(w, "  removed after %v\n", left.Round(time.Millisecond))
	printServices(w, view())

	fmt.Fprintf(w, "\nsummary: discovered %d instances in %v; 3 upgrades seen in %v; crash removed in %v; graceful stop removed in %v\n",
		len(specs), discovered.Round(time.Millisecond), upgraded.Round(time.Millisecond), crashed.Round(time.Millisecond), left.Round(time.Millisecond))
	return nil
}

// waitFor polls cond until it holds or limit passes.
func waitFor(limit time.Duration, cond func() bool) error {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v", limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}
