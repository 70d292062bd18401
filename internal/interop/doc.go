// Package interop proves on real loopback sockets that swim and hashicorp/memberlist members
// form one cluster. It is its own module so that the library never depends on memberlist.
package interop
