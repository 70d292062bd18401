// Package swim is a weakly-consistent, self-healing group membership library: every process of
// a distributed application learns which members are alive, suspected, failed or left, and what
// each advertises about itself. It implements the SWIM protocol with the Lifeguard extensions
// and speaks hashicorp/memberlist's wire protocol, so mixed clusters work.
package swim
