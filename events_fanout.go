package swim

// EventDelegates is an EventDelegate that hands each event to several, so one Config.Events
// can feed, say, a consistent hash ring and an event channel:
//
//	cfg.Events = swim.EventDelegates{r, &swim.ChannelEventDelegate{Ch: events}}
//
// Each event goes to every delegate in slice order, on the event goroutine, before the next
// event goes to any: a delegate sees the same events in the same order as it would alone,
// and a slow one delays all the others. Nil entries are skipped. The slice is read on every
// event, so do not change it after Create.
type EventDelegates []EventDelegate

// NotifyJoin calls NotifyJoin on each delegate in order.
func (ds EventDelegates) NotifyJoin(n Node) {
	for _, d := range ds {
		if d != nil {
			d.NotifyJoin(n)
		}
	}
}

// NotifyLeave calls NotifyLeave on each delegate in order.
func (ds EventDelegates) NotifyLeave(n Node) {
	for _, d := range ds {
		if d != nil {
			d.NotifyLeave(n)
		}
	}
}

// NotifyUpdate calls NotifyUpdate on each delegate in order.
func (ds EventDelegates) NotifyUpdate(n Node) {
	for _, d := range ds {
		if d != nil {
			d.NotifyUpdate(n)
		}
	}
}
