// Package memberlist is hashicorp/memberlist's API (v0.7.0) on top of swim: a program written
// for memberlist builds and runs with only its import path changed to
// github.com/swim-go/swim/memberlist, and speaks memberlist's wire protocol, so it can join a
// cluster of memberlist, Serf or Consul members.
//
// Where memberlist has a known defect, this package keeps swim's behaviour and says so on the
// method: Members returns copies (no data race with the protocol, hashicorp/memberlist#306),
// and every method may be called from a delegate callback (no deadlock, hashicorp/memberlist#23).
package memberlist
