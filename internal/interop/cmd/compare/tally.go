package main

// What a run observes, fed by both libraries through the same hooks: every member's view
// (from its join and leave events), suspicions and deaths it originates (from its logs), and
// the bytes and packets it sends (from its transport).

import (
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// tally is shared by every member of one cluster.
type tally struct {
	packets, bytes, streamBytes atomic.Int64
	// suspectObs counts suspect observations: one member seeing another turn suspect (its
	// own suspicion or one it heard), from each library's suspect counter (swim's
	// MetricMemberSuspect, memberlist's memberlist.msg.suspect). The counters name no
	// subject, so they are read only over windows without crashes.
	suspectObs atomic.Int64

	mu        sync.Mutex
	views     map[string]map[string]bool // observer -> members it holds alive
	converged map[string]time.Time       // observer -> when it first held every member
	want      int                        // members each observer should hold, itself excluded
	deadAt    map[string]time.Time       // observer -> when it saw the last killed member dead
	killed    []string                   // members crashed on purpose, in order
	// deaths lists, per subject, the observers that declared it dead (not left).
	deaths map[string]map[string]bool
	// suspicions and timeouts count what members originated about others: a probe that
	// got no ack, and a suspicion that ran out.
	suspicions, timeouts map[string]int
	// held lists, per subject, the observers that held it out of their view as flapping
	// (swim's Config.FlapHoldDown).
	held map[string]map[string]bool
	// firstSuspect and firstTimeout are when anyone first suspected a subject, and first
	// declared it dead by a suspicion running out.
	firstSuspect, firstTimeout map[string]time.Time

	// The rapid scenarios' books, kept once faulty is set: suspicions faulty members raised
	// of healthy ones, and, for healthy observers, the events they delivered and the joins
	// of each faulty member (its returns to the application's view).
	faulty      map[string]bool
	accusations int
	appEvents   int
	viewReturns map[[2]string]int // {observer, subject}
}

func newTally(n int) *tally {
	return &tally{views: map[string]map[string]bool{}, converged: map[string]time.Time{}, want: n - 1,
		deadAt: map[string]time.Time{}, deaths: map[string]map[string]bool{},
		suspicions: map[string]int{}, timeouts: map[string]int{}, held: map[string]map[string]bool{},
		firstSuspect: map[string]time.Time{}, firstTimeout: map[string]time.Time{}}
}

func (t *tally) join(observer, subject string) {
	if observer == subject {
		return
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	v := t.views[observer]
	if v == nil {
		v = map[string]bool{}
		t.views[observer] = v
	}
	v[subject] = true
	if t.faulty != nil && !t.faulty[observer] {
		t.appEvents++
		if t.faulty[subject] {
			t.viewReturns[[2]string{observer, subject}]++
		}
	}
	if len(v) == t.want {
		if _, ok := t.converged[observer]; !ok {
			t.converged[observer] = now
		}
	}
}

func (t *tally) leave(observer, subject string, dead bool) {
	if observer == subject {
		return
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.views[observer], subject)
	if t.faulty != nil && !t.faulty[observer] {
		t.appEvents++
	}
	if !dead {
		return
	}
	if t.deaths[subject] == nil {
		t.deaths[subject] = map[string]bool{}
	}
	t.deaths[subject][observer] = true
	if len(t.killed) > 0 && subject == t.killed[len(t.killed)-1] {
		if _, ok := t.deadAt[observer]; !ok {
			t.deadAt[observer] = now
		}
	}
}

// heldOut records observer holding subject out of its view as flapping.
func (t *tally) heldOut(observer, subject string) {
	t.leave(observer, subject, false)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.held[subject] == nil {
		t.held[subject] = map[string]bool{}
	}
	t.held[subject][observer] = true
}

func (t *tally) suspected(accuser, subject string) {
	t.mu.Lock()
	t.suspicions[subject]++
	if _, ok := t.firstSuspect[subject]; !ok {
		t.firstSuspect[subject] = time.Now()
	}
	if t.faulty[accuser] && !t.faulty[subject] {
		t.accusations++
	}
	t.mu.Unlock()
}

// watchFaulty starts the rapid scenarios' books, with faulty as the afflicted members.
func (t *tally) watchFaulty(faulty map[string]bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.faulty, t.viewReturns = faulty, map[[2]string]int{}
	t.suspicions, t.timeouts = map[string]int{}, map[string]int{}
	t.deaths, t.held = map[string]map[string]bool{}, map[string]map[string]bool{}
}

func (t *tally) timedOut(subject string) {
	t.mu.Lock()
	t.timeouts[subject]++
	if _, ok := t.firstTimeout[subject]; !ok {
		t.firstTimeout[subject] = time.Now()
	}
	t.mu.Unlock()
}

// convergedTimes returns, for each observer that converged, how long after since it did,
// sorted; and whether all n did.
func (t *tally) convergedTimes(since time.Time, n int) ([]time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []time.Duration
	for _, at := range t.converged {
		out = append(out, max(at.Sub(since), 0))
	}
	slices.Sort(out)
	return out, len(out) == n
}

// allSeeDead reports when the last of the survivors saw the last crashed member dead.
func (t *tally) allSeeDead(survivors int) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.deadAt) < survivors {
		return time.Time{}, false
	}
	var last time.Time
	for _, at := range t.deadAt {
		if at.After(last) {
			last = at
		}
	}
	return last, true
}

// falseAlarms counts, over healthy members (not crashed, not faulty), the suspicions
// originated, the suspicions that ran out, and the distinct members declared dead by anyone.
func (t *tally) falseAlarms() (suspicions, timeouts, deadMembers int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	healthy := func(s string) bool { return !slices.Contains(t.killed, s) && !t.faulty[s] }
	for s, n := range t.suspicions {
		if healthy(s) {
			suspicions += n
		}
	}
	for s, n := range t.timeouts {
		if healthy(s) {
			timeouts += n
		}
	}
	for s, obs := range t.deaths {
		if healthy(s) && len(obs) > 0 {
			deadMembers++
		}
	}
	return
}

// falseHeldOut counts the healthy members someone held out of its view as flapping.
func (t *tally) falseHeldOut() (members int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for s, obs := range t.held {
		if !slices.Contains(t.killed, s) && !t.faulty[s] && len(obs) > 0 {
			members++
		}
	}
	return members
}

// resetTraffic zeroes the traffic counters (at the start of a measuring window).
func (t *tally) resetTraffic() {
	t.packets.Store(0)
	t.bytes.Store(0)
	t.streamBytes.Store(0)
	t.suspectObs.Store(0)
}

// countedConn counts the bytes written to a stream.
type countedConn struct {
	net.Conn
	t *tally
}

func (c countedConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.t.streamBytes.Add(int64(n))
	return n, err
}
