package swim

// Suspicion (SWIM section 4.2, Lifeguard section 4.2). A member that misses its probe is not
// declared dead at once: it becomes suspect, the suspicion is gossiped, and the member has until
// the suspicion timeout to hear of it and refute. Lifeguard makes the timeout start long and
// shrink as other members independently confirm the suspicion, so a healthy member accused by
// one slow prober has plenty of time, while a member that many find unreachable is declared
// dead quickly:
//
//	min = SuspicionMult * log10(max(1, n)) * ProbeInterval
//	max = SuspicionMaxTimeoutMult * min
//	k   = SuspicionMult - 2 confirmations wanted (0 in clusters too small to supply them)
//	timeout(c) = max(min, max - (ln(c+1) / ln(k+1)) * (max - min))
//
// counted from when the suspicion began. This file is the arithmetic and the bookkeeping of
// confirmations; the core owns the timer.

import (
	"math"
	"strconv"
	"time"

	"github.com/swim-go/swim/internal/wire"
)

// suspicion is one running suspicion of one member.
type suspicion struct {
	start      time.Time
	min, max   time.Duration
	k          int      // confirmations that can shorten the timeout
	accuser    string   // who raised it; not a confirmation
	confirmers []string // distinct members who confirmed it, at most k
	gen        uint64   // tells this suspicion's timers from an earlier one's
}

// suspicionBounds returns the Lifeguard minimum and maximum suspicion timeouts for a cluster
// of n members. The log factor is kept to millisecond precision, as memberlist does.
func suspicionBounds(mult, maxMult, n int, interval time.Duration) (lo, hi time.Duration) {
	nodeScale := math.Max(1, math.Log10(math.Max(1, float64(n))))
	lo = time.Duration(float64(mult)*nodeScale*1000) * interval / 1000
	return lo, time.Duration(maxMult) * lo
}

// confirmationsWanted is k: how many independent confirmations bring the timeout to its
// minimum. In a cluster of n members at most n-2 others can confirm.
func confirmationsWanted(mult, n int) int {
	k := mult - 2
	if n-2 < k || k < 0 {
		return 0
	}
	return k
}

// timeout is the suspicion's current timeout, counted from start.
func (s *suspicion) timeout() time.Duration {
	if s.k < 1 {
		return s.min
	}
	frac := math.Log(float64(len(s.confirmers)+1)) / math.Log(float64(s.k+1))
	t := time.Duration(float64(s.max) - frac*float64(s.max-s.min))
	t = t.Truncate(time.Millisecond)
	return max(t, s.min)
}

func (s *suspicion) deadline() time.Time { return s.start.Add(s.timeout()) }

// confirm counts from as a confirmation; it reports whether it was a new one.
func (s *suspicion) confirm(from string) bool {
	if len(s.confirmers) >= s.k || from == s.accuser {
		return false
	}
	for _, f := range s.confirmers {
		if f == from {
			return false
		}
	}
	s.confirmers = append(s.confirmers, from)
	return true
}

// startSuspicion begins suspecting m, raised by accuser, and arms its timer.
func (c *core) startSuspicion(m *member, accuser string) {
	n := len(c.members.list)
	lo, hi := suspicionBounds(c.cfg.SuspicionMult, c.cfg.SuspicionMaxTimeoutMult, n, c.cfg.ProbeInterval)
	k := confirmationsWanted(c.cfg.SuspicionMult, n)
	if k < 1 {
		hi = lo
	}
	c.tseq++
	s := &suspicion{start: c.now, min: lo, max: hi, k: k, accuser: accuser, gen: c.tseq}
	m.setSusp(s)
	c.arm(s.deadline(), timerSuspicion, 0, m.name, s.gen)
	c.arm(c.now.Add(lo/lastCalls), timerLastCall, 0, m.name, s.gen)
}

// lastCalls is how many last calls fit in the shortest suspicion timeout. With one (at half
// of it, the other half being the deadline itself) a member that missed the refutation had
// a single round trip to recover it; under 20% loss on every packet that fails a third of
// the time, and with Local timings (one indirect check, SuspicionMult 3) that was several
// false deaths a minute among 64 members. Four round trips still failed about one time in
// 60 under 20% loss each way, and a member whose suspicion had shrunk to the minimum by
// confirmations got only three; eight make it about one in 3,000, at the cost of packets
// that only members still suspecting send.
const lastCalls = 8

// lastCall sends a member still suspected the accusation directly, ahead of a ping, every
// lastCalls-th of the earliest possible deadline until the suspicion ends.
// Usually the refutation has long arrived and the suspicion is over; when this member missed
// it (every copy gossiped its way was lost), the suspect answers the accusation with its
// current alive piggybacked on the ack, and a false death is avoided at the cost of a packet
// pair. A member that is really dead does not answer, and nothing else changes.
func (c *core) lastCall(name string, gen uint64) {
	m := c.members.get(name)
	if m == nil || m.susp() == nil || m.susp().gen != gen || m.state() != StateSuspect {
		return
	}
	susp := m.susp()
	c.accuse(m, susp.accuser, c.pingFor(c.nextSeqNo(), m.name).Append(c.msgBuf[:0]))
	c.arm(c.now.Add(susp.min/lastCalls), timerLastCall, 0, m.name, susp.gen)
}

// confirmSuspicion counts a confirmation of m's suspicion and, if it was new, re-arms the timer
// at the earlier deadline. It reports whether the confirmation was new.
func (c *core) confirmSuspicion(m *member, from string) bool {
	s := m.susp()
	if !s.confirm(from) {
		return false
	}
	c.arm(s.deadline(), timerSuspicion, 0, m.name, s.gen)
	return true
}

func (c *core) stopSuspicion(m *member) { m.setSusp(nil) }

// suspicionTimeout declares m dead if the suspicion of generation gen is still running and
// its deadline has come.
func (c *core) suspicionTimeout(name string, gen uint64) {
	m := c.members.get(name)
	if m == nil || m.susp() == nil || m.susp().gen != gen || c.now.Before(m.susp().deadline()) {
		return
	}
	if m.state() != StateSuspect {
		m.setSusp(nil)
		return
	}
	c.log.Info("suspect declared dead", "peer", name, "incarnation", m.incarnation,
		"confirmations", len(m.susp().confirmers))
	c.metrics.countBy(MetricSuspicionTimeout, 1, "confirmed", strconv.FormatBool(len(m.susp().confirmers) >= m.susp().k))
	c.deadNode(&wire.Dead{Incarnation: m.incarnation, Node: name, From: c.self.name})
}
