package swim

// The runtime. The core is a plain value with one owner at a time: whoever holds coreMu runs
// one input on it, carries out what it asked for (drain), and points the one timer at its
// next deadline (drive). The inputs come from where they happen, so that none costs a second
// goroutine wake-up: the default transport's reader feeds its datagrams and its acceptor its
// connections, a stream exchange feeds its outcome, a served stream its request, and the loop
// goroutine the rest (the timer, API calls, and what a Transport of the application's
// delivers on its channels). A hop from the reader to the loop, a second wake-up per
// datagram, cost 12% of an idle member's CPU time (measured side by side, 16 members);
// wake-ups are most of what it spends. Slow
// work never runs under coreMu: stream exchanges run in short-lived goroutines, and events go
// to a dispatcher goroutine through an unbounded queue, so neither a slow peer nor a slow
// callback can stall probing, and a callback may call back into the API without deadlock.

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

func (m *Memberlist) loop() {
	defer close(m.loopDone)
	defer func() {
		m.coreMu.Lock()
		m.loopEnded = true
		m.timer.Stop()
		m.coreMu.Unlock()
	}()
	for {
		select {
		case p := <-m.transport.PacketCh():
			m.handlePacket(p)
		case conn := <-m.transport.StreamCh():
			m.accept(conn)
		case f := <-m.reqs:
			m.drive(f)
		case <-m.timer.C:
			m.drive(func() { m.core.advance(time.Now()) })
		case <-m.stop:
			return
		}
	}
}

// handlePacket feeds the core a datagram. The default transport calls it from its reading
// goroutine, so that a datagram costs one goroutine wake-up rather than two.
func (m *Memberlist) handlePacket(p *Packet) {
	m.drive(func() { m.core.handlePacket(time.Now(), p.From, p.Buf) })
}

// drive runs one input on the core, carries out what the core asked for, and points the
// timer at the core's next deadline. Whoever holds coreMu owns the core: the loop, or the
// transport's reading goroutine with a datagram; after the loop has ended, nobody does.
func (m *Memberlist) drive(input func()) {
	m.coreMu.Lock()
	defer m.coreMu.Unlock()
	if m.loopEnded {
		return
	}
	// Who drives, so that a delegate the core calls, on this goroutine, and that calls back
	// into the API is told so rather than left waiting for itself (inDriver). Finding out
	// costs about 2 µs, so only a member with delegates that run inside the step pays it.
	if m.syncDelegates {
		m.driver.Store(goroutineID())
		defer m.driver.Store(0)
	}
	input()
	m.drain()
	m.armTimer()
}

// inDriver reports whether the calling goroutine is driving the core: it is a delegate the
// core called. It looks up the goroutine only when someone drives.
func (m *Memberlist) inDriver() bool {
	d := m.driver.Load()
	return d != 0 && d == goroutineID()
}

// armTimer points the loop's one timer at the core's next deadline, if it moved.
func (m *Memberlist) armTimer() {
	d, ok := m.core.nextDeadline()
	if !ok {
		d = time.Time{}
	}
	if d.Equal(m.armedAt) {
		return
	}
	m.armedAt = d
	m.timer.Stop()
	if ok {
		m.timer.Reset(max(time.Until(d), 0))
	}
}

// drain carries out the core's outbox.
func (m *Memberlist) drain() {
	out := &m.core.out
	named, _ := m.transport.(NodeAwareTransport)
	for _, p := range out.packets {
		var err error
		if named != nil {
			_, err = named.WriteToAddress(p.buf, p.to, p.name)
		} else {
			_, err = m.transport.WriteTo(p.buf, p.to)
		}
		if err != nil {
			m.log.Debug("packet send failed", "peer", p.to.String(), "error", err)
		}
	}
	for _, st := range out.streams {
		m.streams.Add(1)
		go m.exchange(st, m.core.streamSecurity())
	}
	m.health.Store(int32(m.core.healthScore()))
	// Publish first: an event is delivered after the snapshot that contains it, so that
	// Members() called in NotifyJoin(x) includes x, and Members() after Join returns shows
	// what the join learnt.
	m.publish()
	if len(out.events) > 0 {
		m.events.push(out.events)
	}
	for _, d := range out.done {
		if ch := m.waiters[d.token]; ch != nil {
			delete(m.waiters, d.token)
			ch <- d
		}
	}
	out.reset()
}

// publish swaps in a new snapshot for Members() when the view changed.
func (m *Memberlist) publish() {
	if v := m.core.viewChanged(); m.view.Load() != nil && m.published == v {
		return
	}
	m.published = m.core.viewChanged()
	m.view.Store(&view{members: m.core.snapshot(), local: m.core.localNode()})
}

// runOnLoop runs f on the loop and waits for it.
func (m *Memberlist) runOnLoop(f func()) error {
	if m.inDriver() {
		return ErrInDelegate
	}
	done := make(chan struct{})
	select {
	case m.reqs <- func() { f(); close(done) }:
	case <-m.stop:
		return ErrNotRunning
	}
	select {
	case <-done:
		return nil
	case <-m.stop:
		return ErrNotRunning
	}
}

// call runs an API input that finishes asynchronously and waits for its apiDone.
func (m *Memberlist) call(ctx context.Context, f func(token uint64)) (apiDone, error) {
	if err := ctx.Err(); err != nil {
		return apiDone{}, err
	}
	ch := make(chan apiDone, 1)
	err := m.runOnLoop(func() {
		m.nextToken++
		m.waiters[m.nextToken] = ch
		f(m.nextToken)
	})
	if err != nil {
		return apiDone{}, err
	}
	select {
	case d := <-ch:
		return d, nil
	case <-ctx.Done():
		return apiDone{}, ctx.Err()
	case <-m.stop:
		return apiDone{}, ErrNotRunning
	}
}

func (m *Memberlist) track(c net.Conn) bool {
	m.connMu.Lock()
	defer m.connMu.Unlock()
	if m.stopped.Load() {
		return false
	}
	m.conns[c] = struct{}{}
	return true
}

func (m *Memberlist) untrack(c net.Conn) {
	m.connMu.Lock()
	delete(m.conns, c)
	m.connMu.Unlock()
	c.Close()
}

// exchange runs one outbound stream: dial, write the request, read the reply, and give the
// outcome to the core.
func (m *Memberlist) exchange(st outStream, sec security) {
	defer m.streams.Done()
	reply, err := m.roundTrip(st, &sec)
	m.drive(func() { m.core.handleStreamResult(time.Now(), st.id, reply, err) })
}

func (m *Memberlist) roundTrip(st outStream, sec *security) ([]byte, error) {
	timeout := max(time.Until(st.deadline), time.Millisecond)
	var conn net.Conn
	var err error
	if named, ok := m.transport.(NodeAwareTransport); ok {
		conn, err = named.DialAddressTimeout(st.to, st.name, timeout)
	} else {
		conn, err = m.transport.DialTimeout(st.to, timeout)
	}
	if err != nil {
		return nil, err
	}
	if !m.track(conn) {
		conn.Close()
		return nil, ErrNotRunning
	}
	defer m.untrack(conn)
	conn.SetDeadline(st.deadline)
	if _, err := conn.Write(st.buf); err != nil {
		return nil, err
	}
	if !st.wantReply {
		return nil, nil
	}
	return sec.readReply(conn)
}

// accept serves an inbound stream, unless it comes from outside CIDRsAllowed or too many are
// being served already.
func (m *Memberlist) accept(conn net.Conn) {
	slot := false
	select {
	case m.streamSlots <- struct{}{}:
		slot = true
	default:
	}
	var sec security
	ok := false
	m.drive(func() { sec, ok = m.core.admitStream(time.Now(), addrPortOf(conn.RemoteAddr()), !slot) })
	if !ok {
		conn.Close()
		if slot {
			<-m.streamSlots
		}
		return
	}
	if !m.track(conn) {
		conn.Close()
		<-m.streamSlots
		return
	}
	m.streams.Add(1)
	go m.serve(conn, sec)
}

// serve reads one request, runs it on the core, and writes the reply.
func (m *Memberlist) serve(conn net.Conn, sec security) {
	defer m.streams.Done()
	defer func() { <-m.streamSlots }()
	defer m.untrack(conn)
	conn.SetDeadline(time.Now().Add(m.cfg.TCPTimeout))
	msg, err := sec.readRequest(conn)
	from := addrPortOf(conn.RemoteAddr())
	var reply []byte
	m.drive(func() {
		if err != nil {
			reply = m.core.handleStreamError(time.Now(), from, err)
		} else {
			reply = m.core.handleStreamRequest(time.Now(), from, msg)
		}
	})
	if reply != nil {
		conn.Write(reply)
	}
}

func addrPortOf(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		ap := t.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// dispatcher delivers events to the application in order, on its own goroutine.
type dispatcher struct {
	cfg    *Config
	mu     sync.Mutex
	queue  []coreEvent
	closed bool
	signal chan struct{}

	// For WaitEvents: how many events were pushed and delivered, the calls waiting for a
	// count, and the dispatcher's goroutine (a callback that waits would wait for itself).
	pushed, delivered uint64
	waiting           []eventWaiter
	goroutine         atomic.Uint64
}

// eventWaiter is a WaitEvents call: done is closed once delivered reaches target.
type eventWaiter struct {
	target uint64
	done   chan struct{}
}

func (d *dispatcher) start(cfg *Config) {
	d.cfg = cfg
	d.signal = make(chan struct{}, 1)
	go d.run()
}

// push queues events; it never blocks.
func (d *dispatcher) push(evs []coreEvent) {
	d.mu.Lock()
	d.queue = append(d.queue, evs...)
	d.pushed += uint64(len(evs))
	d.mu.Unlock()
	select {
	case d.signal <- struct{}{}:
	default:
	}
}

// close stops the dispatcher: events not yet delivered are dropped. It does not wait for a
// callback in progress, which may be the caller itself (Shutdown from NotifyJoin) or blocked
// for good (a ChannelEventDelegate nobody reads): that goroutine ends when the callback
// returns.
func (d *dispatcher) close() {
	d.mu.Lock()
	d.closed = true
	d.queue = nil
	for _, w := range d.waiting {
		close(w.done)
	}
	d.waiting = nil
	d.mu.Unlock()
	select {
	case d.signal <- struct{}{}:
	default:
	}
}

// caughtUp returns a channel closed once every event pushed so far has been delivered, or nil
// when called from the dispatcher's own goroutine (from a callback), which cannot wait for
// itself.
func (d *dispatcher) caughtUp() <-chan struct{} {
	if goroutineID() == d.goroutine.Load() {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	done := make(chan struct{})
	if d.delivered >= d.pushed || d.closed {
		close(done)
		return done
	}
	d.waiting = append(d.waiting, eventWaiter{target: d.pushed, done: done})
	return done
}

// deliveredOne counts a delivered event and releases the waiters it satisfies.
func (d *dispatcher) deliveredOne() {
	d.mu.Lock()
	d.delivered++
	kept := d.waiting[:0]
	for _, w := range d.waiting {
		if d.delivered >= w.target {
			close(w.done)
		} else {
			kept = append(kept, w)
		}
	}
	d.waiting = kept
	d.mu.Unlock()
}

// goroutineID is the running goroutine's number, from the first line of its stack trace
// ("goroutine 42 [running]:"). Go offers no other way to tell which goroutine is running; it
// is only asked when a call may have to wait for event callbacks.
func goroutineID() uint64 {
	var buf [32]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	var id uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uint64(c-'0')
	}
	return id
}

func (d *dispatcher) run() {
	d.goroutine.Store(goroutineID())
	for {
		d.mu.Lock()
		evs, closed := d.queue, d.closed
		d.queue = nil
		d.mu.Unlock()
		if closed {
			return
		}
		for i := range evs {
			if d.isClosed() {
				return
			}
			d.deliver(&evs[i])
			d.deliveredOne()
		}
		if len(evs) == 0 {
			<-d.signal
		}
	}
}

func (d *dispatcher) isClosed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}

func (d *dispatcher) deliver(e *coreEvent) { deliverEvent(d.cfg, e) }

// deliverEvent hands one event to the application's delegate for it. The simulator calls it
// too, synchronously, in virtual time.
func deliverEvent(c *Config, e *coreEvent) {
	if e.hidden {
		return
	}
	switch e.kind {
	case evJoin:
		if c.Events != nil {
			c.Events.NotifyJoin(e.node.Node())
		}
	case evLeave:
		if c.Events != nil {
			c.Events.NotifyLeave(e.node.Node())
		}
	case evUpdate:
		if c.Events != nil {
			c.Events.NotifyUpdate(e.node.Node())
		}
	case evUserMsg:
		if c.Delegate != nil {
			c.Delegate.NotifyMsg(e.msg)
		}
	case evConflict:
		if c.Conflict != nil {
			c.Conflict.NotifyConflict(e.node.Node(), *e.other)
		}
	case evPingComplete:
		if c.Ping != nil {
			c.Ping.NotifyPingComplete(e.node.Node(), e.rtt, e.msg)
		}
	}
}
