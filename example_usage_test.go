package swim_test

import (
	"fmt"
	"log"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/swim-go/swim"
)

// app is the application's side of the protocol: metadata it advertises, messages it
// receives, and broadcasts it gossips to every member.
type app struct {
	meta       []byte
	broadcasts swim.BroadcastQueue
}

func (a *app) NodeMeta(limit int) []byte { return a.meta }
func (a *app) NotifyMsg(msg []byte)      { fmt.Printf("message: %s\n", msg) }
func (a *app) GetBroadcasts(overhead, limit int) [][]byte {
	return a.broadcasts.GetBroadcasts(overhead, limit)
}
func (a *app) LocalState(join bool) []byte              { return nil }
func (a *app) MergeRemoteState(state []byte, join bool) {}

// The README's "Using it", compiled with the tests: create a member with a delegate and
// an event channel, join, read the members, send a message, gossip a broadcast, change the
// metadata, leave and shut down. (It needs a cluster at 10.0.0.2:7946 to run.)
func ExampleCreate() {
	a := &app{meta: []byte("role=api")}
	events := make(chan swim.NodeEvent, 64)
	cfg := swim.DefaultLANConfig()
	cfg.Name = "node-1"
	cfg.Delegate = a
	cfg.Events = &swim.ChannelEventDelegate{Ch: events}
	// The queue's retransmit count follows the cluster size it is given: an estimate here.
	a.broadcasts = swim.BroadcastQueue{NumNodes: func() int { return 10 }, RetransmitMult: cfg.RetransmitMult}
	m, err := swim.Create(cfg)
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		for e := range events {
			fmt.Println(e.Type, e.Node.Name, e.Node.State)
		}
	}()
	if _, err := m.Join([]string{"10.0.0.2:7946"}); err != nil {
		log.Fatal(err)
	}
	for _, node := range m.Members() {
		fmt.Println(node.Name, node.State, node.Address(), string(node.Meta))
		if node.Name != cfg.Name {
			if err := m.SendReliable(node, []byte("hello")); err != nil {
				log.Print(err)
			}
		}
	}
	a.broadcasts.QueueBroadcast("greeting", []byte("hello, everyone"), nil)
	a.meta = []byte("role=api,version=2")
	if err := m.UpdateNode(5 * time.Second); err != nil {
		log.Print(err)
	}
	if err := m.Leave(5 * time.Second); err != nil {
		log.Print(err)
	}
	m.Shutdown()
}

// The README shows ExampleCreate as it is here, so that its snippet always compiles.
func TestReadmeUsingItIsThisExample(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("example_usage_test.go")
	if err != nil {
		t.Fatal(err)
	}
	body := string(src)
	body = body[strings.Index(body, "// app is the application"):strings.Index(body, "// The README shows")]
	body = strings.Replace(body, "func ExampleCreate() {", "func run() {", 1)
	if !strings.Contains(string(readme), "```go\n"+strings.TrimRight(body, "\n")+"\n```") {
		t.Fatal("README.md's \"Using it\" snippet is not ExampleCreate of example_usage_test.go: copy it over (naming it run)")
	}
}
