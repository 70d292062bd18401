package ring

import "github.com/swim-go/swim"

// The Ring is a swim.EventDelegate, so installing it keeps it in step with membership:
//
//	cfg.Events = r
//
// swim delivers events in order on one goroutine; a burst of them (a join that learns a
// whole cluster, a partition healing) must not cost a rebuild each. So an event only queues
// its change and, if no goroutine is applying changes, starts one; changes that arrive while
// it applies a batch go together into its next batch. The goroutine exits when the queue is
// empty, so an idle ring has none. An event's change is therefore visible shortly after the
// event returns, not at once: call Sync to wait for it.
var _ swim.EventDelegate = (*Ring)(nil)

// NotifyJoin queues n to be added (or to replace the member of its name), to be applied
// shortly by a goroutine of the ring's own; call Sync to wait for it. Suspect members stay
// on the ring: only NotifyLeave removes.
func (r *Ring) NotifyJoin(n swim.Node) { r.submit([]op{{node: n}}, false) }

// NotifyLeave queues the removal of n's member, whether it died (State dead), left (State
// left) or is held out of the view for flapping (HeldOut): in each case it should own no
// keys until it is back, with a NotifyJoin. Applied shortly, as NotifyJoin.
func (r *Ring) NotifyLeave(n swim.Node) { r.submit([]op{{remove: true, name: n.Name}}, false) }

// NotifyUpdate queues n to replace the member of its name: a new address or metadata, and
// new points if Config.Weight gives it a new weight. A member the ring does not hold is
// added. Applied shortly, as NotifyJoin.
func (r *Ring) NotifyUpdate(n swim.Node) { r.submit([]op{{node: n}}, false) }

// Sync applies every change queued by events before it was called, and returns when they
// are visible to lookups. It is how a test, or a caller that must see an event's effect,
// waits for it; Add, Remove and Batch do not need it.
func (r *Ring) Sync() { r.flush() }
