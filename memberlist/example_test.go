package memberlist_test

import (
	"fmt"
	"slices"

	"github.com/swim-go/swim/memberlist"
)

// The program memberlist's README shows, with the import changed: create a member, join a
// cluster, list the members. Here two members share a MockNetwork; on a real network leave
// Config.Transport nil and join "host:port".
func Example() {
	var network memberlist.MockNetwork
	start := func(name string) *memberlist.Memberlist {
		conf := memberlist.DefaultLocalConfig()
		conf.Name = name
		conf.Transport = network.NewTransport(name)
		conf.LogOutput = discard{}
		list, err := memberlist.Create(conf)
		if err != nil {
			panic("Failed to create memberlist: " + err.Error())
		}
		return list
	}
	alpha, beta := start("alpha"), start("beta")
	defer alpha.Shutdown()
	defer beta.Shutdown()

	n, err := beta.Join([]string{alpha.LocalNode().Address()})
	if err != nil {
		panic("Failed to join cluster: " + err.Error())
	}
	fmt.Println("reached", n)
	var names []string
	for _, member := range beta.Members() {
		names = append(names, fmt.Sprintf("%s %s", member.Name, member.Addr))
	}
	slices.Sort(names)
	fmt.Println(names)
	// Output:
	// reached 1
	// [alpha 127.0.0.1 beta 127.0.0.1]
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }
