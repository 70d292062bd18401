// Package ring is a consistent hash ring kept in step with swim membership, in the manner
// of ringpop: every member of a cluster runs a Ring fed by its own membership events, so
// each knows, without asking anyone, which member owns a key (a user, a shard, a lock).
// Members that see the same membership agree on every key; when a member joins or leaves,
// only about 1/n of the keys move, and only to or from it.
//
// # Using it
//
// Make a Ring and install it as the member's event delegate; it adds a member on
// NotifyJoin, removes it on NotifyLeave (dead, left, or held out for flapping) and takes
// its new address or metadata on NotifyUpdate:
//
//	r := ring.New(ring.Config{})
//	cfg := swim.DefaultLANConfig()
//	cfg.Events = r // or swim.EventDelegates{r, &swim.ChannelEventDelegate{Ch: events}}
//	m, err := swim.Create(cfg)
//	...
//	owner, ok := r.Lookup("user:42")     // the member that owns the key
//	replicas := r.LookupN("user:42", 3)   // it, then the next two distinct members
//	if owner.Name == cfg.Name { ... handle it here ... } else { ... forward to owner.Address() ... }
//
// Add, Remove and Batch change the ring directly (a static member list, tests). Checksum
// summarises the membership that places keys: exchange it to see whether two members'
// rings agree.
//
// # Lookups and changes
//
// Lookup, LookupN, LookupBounded, Members, Len and Checksum read an immutable snapshot
// through one atomic load: they take no lock, never wait for a change, and are safe from
// any goroutine; Lookup and LookupBounded allocate nothing. A change builds a new snapshot
// and swaps it in. Changes are batched so that a burst costs one rebuild, not one per
// member: Add and Remove apply all the members they are given at once, Batch applies a
// list of changes at once, and events are queued and applied by a goroutine of the ring's
// own, which takes everything that arrived while it was rebuilding into its next batch (it
// exits when the queue is empty). Add, Remove and Batch are visible to every lookup that
// starts after they return; an event is visible shortly after it returns, and Sync waits
// for it.
//
// # Placement
//
// Each member owns VirtualNodes points on a 64-bit circle, hashed from its name and the
// point's number; a key belongs to the owner of the first point at or after the key's
// hash. Points depend only on names, so the order members arrive in, and their addresses,
// change nothing; equal points are ordered by name. The points are kept in a sorted array,
// each with its owner's slot number beside it, with a jump table over the hash's top bits
// that narrows a lookup to one or two points, so a lookup is a few memory reads.
//
// The hash is xxhash64 (github.com/cespare/xxhash/v2) unless Config.Hash says otherwise.
// Every member must hash alike, in every process and every version, or rings disagree:
// xxhash64 is specified and stable, fast (and hashes a string without copying it), and well
// kept and widely used (Prometheus' client among many). hash/maphash is seeded per process
// by design, so two processes would place keys differently; hash/fnv is stable but reads a
// byte at a time.
//
// DefaultVirtualNodes is 512: over 200 sets of 100 member names and 1,000,000 keys, the
// busiest member held at most 1.23 times the mean keys (median 1.11), where at 256 points
// one set in 200 went over 1.25. Measured by TestBalanceTable (go test -run
// TestBalanceTable -v ./ring -args -ring.table -ring.sets=200), for 100 members and
// 1,000,000 keys; the spread is over the 200 name sets; "moved" is the share of keys a
// 101st member takes, over the ideal 1/101:
//
//	VirtualNodes  max/mean: median    p95  worst  snapshot bytes  moved
//	          16            1.736  2.014  2.225           52572   1.29
//	          64            1.332  1.450  1.539          159324   1.16
//	         128            1.236  1.308  1.387          301660   1.01
//	         256            1.160  1.212  1.251          389724   0.95
//	         384            1.132  1.176  1.240          608860   0.94
//	         512            1.112  1.149  1.230          762460   0.93
//	        1024            1.081  1.107  1.125         1507932   0.96
//
// A snapshot takes about 15 bytes a point: 8 for the point, 4 for its owner, 2 to 4 for the
// jump table; a ring of up to 16,384 points has four times the jump table (8 to 16 bytes a
// point, at most 256 KiB), which made a lookup among 10 members a third faster.
//
// Config.Weight scales a member's points, for example by a capacity read from its
// metadata; a weight of zero drains a member without removing it.
//
// # Bounded loads
//
// LookupBounded implements consistent hashing with bounded loads (Mirrokni, Thorup and
// Zadimoghaddam, 2016): a key goes to the first member in ring order from its point that
// holds fewer than ceil(c*(m+1)/n) of the m keys placed so far (weighted by points), so no
// member ever holds more than c times the mean. Where a key lands then depends on the keys
// placed before it, so it needs the loads, which the caller keeps in a Loads and records
// each placement in; it suits one placer (a leader assigning shards) rather than every
// member answering on its own, which is what Lookup is for.
package ring
