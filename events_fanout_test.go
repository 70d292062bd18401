package swim_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/swim-go/swim"
)

// recorder is an EventDelegate that writes down what it was told, prefixed with its name.
type recorder struct {
	name string
	log  *[]string
}

func (r recorder) NotifyJoin(n swim.Node)   { *r.log = append(*r.log, r.name+" join "+n.Name) }
func (r recorder) NotifyLeave(n swim.Node)  { *r.log = append(*r.log, r.name+" leave "+n.Name) }
func (r recorder) NotifyUpdate(n swim.Node) { *r.log = append(*r.log, r.name+" update "+n.Name) }

func TestEventDelegatesFanOutInOrder(t *testing.T) {
	var log []string
	ds := swim.EventDelegates{recorder{"a", &log}, nil, recorder{"b", &log}}
	ds.NotifyJoin(swim.Node{Name: "x"})
	ds.NotifyUpdate(swim.Node{Name: "x"})
	ds.NotifyLeave(swim.Node{Name: "x"})
	require.Equal(t, []string{
		"a join x", "b join x",
		"a update x", "b update x",
		"a leave x", "b leave x",
	}, log, "every event reaches every non-nil delegate, in slice order, before the next event")
}

func TestEventDelegatesEmpty(t *testing.T) {
	var ds swim.EventDelegates
	require.NotPanics(t, func() { ds.NotifyJoin(swim.Node{Name: "x"}) }, "an empty fan-out drops events")
}

// One Config.Events feeding two delegates: here two event channels; in practice, say, a
// ring.Ring and a channel the application reads.
func ExampleEventDelegates() {
	audit := make(chan swim.NodeEvent, 1)
	app := make(chan swim.NodeEvent, 1)
	var cfg swim.Config
	cfg.Events = swim.EventDelegates{
		&swim.ChannelEventDelegate{Ch: audit},
		&swim.ChannelEventDelegate{Ch: app},
	}
	cfg.Events.NotifyJoin(swim.Node{Name: "alpha"}) // what the event goroutine does
	fmt.Println((<-audit).Node.Name, (<-app).Node.Name)
	// Output: alpha alpha
}
