#!/usr/bin/env bash
# serf-agents.sh runs real `serf agent` processes of HashiCorp Serf v0.11.0 in mixed clusters on
# 127.0.0.1: half of them built on the real hashicorp/memberlist v0.7.0 ("stock"), half on this
# repository's memberlist package ("swim"), and checks that they work together as one cluster.
#
# It needs only Go, bash and coreutils, and network access to the Go module proxy (or a warm
# module cache):
#   1. go mod download -json github.com/hashicorp/serf@v0.11.0, copied twice to the work dir;
#   2. builds ./cmd/serf from the unchanged copy (serf-stock), and from a copy whose imports of
#      "github.com/hashicorp/memberlist" are rewritten to "github.com/swim-go/swim/memberlist",
#      with go.mod requiring and replacing github.com/swim-go/swim/memberlist (=> <repo>/memberlist)
#      and github.com/swim-go/swim (=> <repo>), then go mod tidy (serf-swim) - the same rewrite
#      as serf-suites.sh;
#   3. builds a tiny stdlib-only helper that reads the CLI's -format json output (and finds free
#      ports), since jq may be missing;
#   4. runs the scenarios below, each on a fresh cluster of four agents s1, w1, s2, w2 (s = stock,
#      w = swim), each agent with -profile=local (but see d), -tag lib=stock|swim -tag order=N,
#      a debug log, and event handlers for user:ping-event (appends "NAME PAYLOAD" to a file) and
#      query:ping-query (answers pong-NAME):
#        a        join either way: w1 joins s1, s2 joins w1, w2 joins s2 (a swim agent joins a
#                 stock one and the other way round); every agent lists all four alive, with
#                 their tags, once gossip (or a push/pull) has told each of the others
#        b.swim   serf tags -set on w1: every agent sees the new tags   (then b.stock: on s1)
#        c.stock  serf event from s1: every agent runs its handler once  (then c.swim: from w1)
#        d.swim   serf query from w1: acks and pong-NAME responses from all four (d.stock: s1);
#                 this cluster runs Serf's default LAN profile, see --query-profile
#        e.swim   serf leave on w1: the three others list it as left, not failed  (e.stock: s1)
#        f.swim   kill -9 w1: the three others list it as failed  (f.stock: s1)
#        g.form   all four with the same -encrypt key: the cluster forms and an event reaches all
#        g.badkey agents with another key (one stock, one swim) fail to join and are listed by no
#                 one (and themselves list only themselves) for 3 s
#        h        examples/node -serf (swim's own API, no Serf code) joins s1: all four list it
#                 alive with its -meta as tags; it shows an event from s1, acks a query from
#                 w1, and after SIGINT all four list it as left (Serf's LAN profile, as d)
#      In b-h each agent joins every agent started before it, so that each member learns the
#      others in a push/pull and the scenario starts from a complete cluster at once. Every check
#      polls with a deadline; a table (scenario, expectation, observed, result, seconds) is
#      printed at the end. A row's time includes forming its cluster when it is the first row of
#      that cluster. The timestamped actions of each scenario are in its log dir, actions.txt.
# Nothing in the repository is written. Every agent is killed when the script exits, however it
# exits.
#
# Usage: serf-agents.sh [--keep DIR] [--port-base N] [--only LIST] [--libs L]
#                       [--query-profile P] [--query-rounds N]
#   --keep DIR      use DIR as the work dir (created if missing) and keep it afterwards; the Serf
#                   copies, binaries and logs in it are made afresh on each run
#   --port-base N   first port to try (default 17946); each agent takes two free ports (serf bind,
#                   RPC) found upwards from there, TCP and UDP, on 127.0.0.1
#   --only LIST     run only the scenario groups in LIST, comma separated letters (e.g. a,f,g)
#   --libs L        mixed (default); stock or swim run every agent on that build, as a baseline
#                   (node names and row ids keep their mixed-mode positions)
#   --query-profile P   the -profile of scenario d's cluster: lan (default), wan or local
#   --query-rounds N    queries sent from each of w1 and s1 in d (default 1); each must be
#                   complete, none is retried
# Without --keep a fresh temp dir is used; it is removed when every scenario passed and kept (its
# path is printed, with the logs of each scenario in DIR/logs/<scenario>/) otherwise.
# Exit status: 0 every scenario passed, 1 a scenario failed, 2 setup or build failure.
set -euo pipefail

# shellcheck source=serf-common.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/serf-common.sh"

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
die() { echo "serf-agents: $*" >&2; exit 2; }
say() { echo "serf-agents: $*"; }

keep="" port_base=17946 only="" libs=mixed query_profile=lan query_rounds=1
while (($#)); do
	case $1 in
	--keep) (($# >= 2)) || die "--keep needs a DIR"; keep=$2; shift ;;
	--keep=*) keep=${1#*=} ;;
	--port-base) (($# >= 2)) || die "--port-base needs N"; port_base=$2; shift ;;
	--port-base=*) port_base=${1#*=} ;;
	--only) (($# >= 2)) || die "--only needs a LIST"; only=$2; shift ;;
	--only=*) only=${1#*=} ;;
	--libs) (($# >= 2)) || die "--libs needs mixed, stock or swim"; libs=$2; shift ;;
	--libs=*) libs=${1#*=} ;;
	--query-profile) (($# >= 2)) || die "--query-profile needs lan, wan or local"; query_profile=$2; shift ;;
	--query-profile=*) query_profile=${1#*=} ;;
	--query-rounds) (($# >= 2)) || die "--query-rounds needs N"; query_rounds=$2; shift ;;
	--query-rounds=*) query_rounds=${1#*=} ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument: $1" ;;
	esac
	shift
done
[[ $port_base =~ ^[0-9]+$ ]] && ((port_base >= 1024 && port_base < 65000)) ||
	die "--port-base wants a port in 1024..64999, got $port_base"
[[ $only =~ ^[a-h](,[a-h])*$ || -z $only ]] || die "--only wants letters a-h separated by commas, got $only"
[[ $libs == mixed || $libs == stock || $libs == swim ]] || die "--libs wants mixed, stock or swim, got $libs"
[[ $query_profile == lan || $query_profile == wan || $query_profile == local ]] ||
	die "--query-profile wants lan, wan or local, got $query_profile"
[[ $query_rounds =~ ^[1-9][0-9]*$ ]] || die "--query-rounds wants a positive number, got $query_rounds"
wanted() { [[ -z $only || ,$only, == *,$1,* ]]; }

command -v go >/dev/null || die "go not found in PATH"
command -v timeout >/dev/null || die "timeout (coreutils) not found in PATH"
[[ -f $ml_dir/go.mod ]] || die "no memberlist module at $ml_dir"
((BASH_VERSINFO[0] >= 5)) || die "bash 5 or newer needed (EPOCHREALTIME, associative arrays)"
# A go.work above the work dir must not change what we build.
export GOWORK=off

# ---- work dir -------------------------------------------------------------------------------
marker=.serf-agents-work
if [[ -n $keep ]]; then
	mkdir -p -- "$keep"
	work=$(cd -- "$keep" && pwd -P)
	if [[ -n $(ls -A -- "$work") && ! -f $work/$marker ]]; then
		die "$work is not empty and was not made by this script; not touching it"
	fi
	for d in stock swim helper bin logs; do
		if [[ -e $work/$d ]]; then chmod -R u+w -- "$work/$d"; rm -rf -- "${work:?}/$d"; fi
	done
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/serf-agents.XXXXXX")
fi
[[ $work != *"'"* ]] || die "the work dir path must not contain a single quote: $work"
: >"$work/$marker"
bin=$work/bin logs=$work/logs
mkdir -p -- "$bin" "$logs"

declare -A pid=() bindp=() rpcp=() exp_status=() exp_tags=()
finished=0 failed_overall=0
sdir="" # the current scenario's log dir

kill_agents() {
	local n p
	for n in "${!pid[@]}"; do
		p=${pid[$n]}
		[[ -z $sdir ]] || note "kill -KILL $n pid $p (end of scenario)"
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	pid=()
}
cleanup() {
	kill_agents
	if [[ -z $keep && $finished == 1 && $failed_overall == 0 ]]; then
		chmod -R u+w -- "$work" 2>/dev/null || true
		rm -rf -- "$work"
	else
		say "work dir kept: $work (agent logs in $logs/<scenario>/<node>.log)"
	fi
}
trap cleanup EXIT
trap 'echo "serf-agents: interrupted" >&2; exit 2' INT TERM

now() { echo "${EPOCHREALTIME:-$(date +%s.%N)}"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
# usec: the current time in microseconds, for deadlines.
usec() { local t=$EPOCHREALTIME; echo "${t/./}"; }

t_start=$(now)
say "Serf $SERF_VERSION agents: stock ($ML_OLD v0.7.0) and swim ($ML_NEW => $ml_dir)"
say "repo $repo_root, work dir $work, $(go version)"
[[ $libs == mixed ]] || say "--libs $libs: EVERY agent runs serf-$libs (a baseline); the node names" \
	"and row ids keep their mixed-mode positions (s* stock, w* swim) although they do not hold"

# ---- fetch, copy and build Serf -------------------------------------------------------------
serf_source
serf_copy "$work/stock"
serf_copy "$work/swim"
serf_rewrite "$work/swim" "$logs/tidy.log"

t0=$(now)
for d in stock swim; do
	if ! (cd -- "$work/$d" && go build -o "$bin/serf-$d" ./cmd/serf) >"$logs/build-$d.log" 2>&1; then
		cat "$logs/build-$d.log" >&2
		if [[ $d == swim ]] && ! (cd -- "$ml_dir" && go build ./...) >/dev/null 2>&1; then
			echo "serf-agents: $ML_NEW itself does not compile; fix it, or retry if it is being edited" >&2
		fi
		die "building serf ($d) failed (log: $logs/build-$d.log)"
	fi
done
(cd -- "$repo_root/examples/node" && go build -o "$bin/node" .) >"$logs/build-node.log" 2>&1 ||
	{ cat "$logs/build-node.log" >&2; die "building examples/node failed"; }
if (cd -- "$work/swim" && go list -deps ./cmd/serf | grep -qxF "$ML_OLD"); then
	die "the swim build still links $ML_OLD"
fi

# The helper: reads the CLI's json on stdin and prints sorted, comparable lines; finds ports.
mkdir -p -- "$work/helper"
cat >"$work/helper/main.go" <<'GO'
// Helper for serf-agents.sh.
//   members   < serf members -format json : "NAME STATUS k=v,k=v" per member, sorted
//   query     < serf query -format json   : "acks: A,B" and "responses: A=payload,B=payload"
//   freeport N                            : the first port >= N free on 127.0.0.1 for TCP and UDP
package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
)

func tagString(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "helper:", err)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 2 {
		fail(fmt.Errorf("usage: helper members|query|freeport N"))
	}
	switch os.Args[1] {
	case "members":
		var c struct {
			Members []struct {
				Name, Status string
				Tags         map[string]string
			} `json:"members"`
		}
		if err := json.NewDecoder(os.Stdin).Decode(&c); err != nil {
			fail(err)
		}
		var lines []string
		for _, m := range c.Members {
			lines = append(lines, m.Name+" "+m.Status+" "+tagString(m.Tags))
		}
		sort.Strings(lines)
		for _, l := range lines {
			fmt.Println(l)
		}
	case "query":
		var q struct {
			Acks      []string
			Responses map[string]string
		}
		if err := json.NewDecoder(os.Stdin).Decode(&q); err != nil {
			fail(err)
		}
		sort.Strings(q.Acks)
		resp := map[string]string{}
		for k, v := range q.Responses {
			resp[k] = strings.TrimRight(v, "\n")
		}
		fmt.Println("acks: " + strings.Join(q.Acks, ","))
		fmt.Println("responses: " + tagString(resp))
	case "freeport":
		n, err := strconv.Atoi(os.Args[2])
		if err != nil {
			fail(err)
		}
		for p := n; p < 65536; p++ {
			addr := "127.0.0.1:" + strconv.Itoa(p)
			l, err := net.Listen("tcp", addr)
			if err != nil {
				continue
			}
			u, err := net.ListenPacket("udp", addr)
			l.Close()
			if err != nil {
				continue
			}
			u.Close()
			fmt.Println(p)
			return
		}
		fail(fmt.Errorf("no free port from %d", n))
	default:
		fail(fmt.Errorf("unknown command %q", os.Args[1]))
	}
}
GO
(cd -- "$work/helper" && go build -o "$bin/helper" main.go) >"$logs/build-helper.log" 2>&1 ||
	{ cat "$logs/build-helper.log" >&2; die "building the json helper failed"; }
say "built serf-stock, serf-swim and the helper in $(elapsed "$t0" "$(now)") s"

cli=$bin/serf-stock # the RPC client is the same code in both builds
# Deadlines (seconds). Gossip with -profile=local sends each broadcast only
# RetransmitMult * ceil(log10(n+1)) = 2 times, so in a 4-member cluster a member misses a given
# join, tag update or event now and then (with stock agents too: 4 of 15 stock-only chain
# formations took 20 s) and catches up at a push/pull, every 15 s per member: every deadline of
# a gossiped change covers that. A crash is noticed within a probe interval (1 s) and confirmed
# after the suspicion timeout: 3 s with one independent suspicion from another member, up to
# 6 x 3 s = 18 s without.
dl_start=10 dl_form_all=15 dl_gossip=45 dl_fail=30 settle_bad=3
have_profile=1
agent_help=$("$cli" agent -h 2>&1 || true) # (not piped into grep -q: SIGPIPE + pipefail)
if [[ $agent_help != *"-profile="* ]]; then
	say "note: serf agent has no -profile flag; using its default (LAN) timings, longer deadlines"
	have_profile="" dl_gossip=75 dl_fail=60
fi
profile=local # the -profile of the agents started next
for d in stock swim; do
	"$bin/serf-$d" version >"$logs/version-$d.txt" 2>&1 || die "serf-$d does not run"
done

# ---- agents ---------------------------------------------------------------------------------
next_port=$port_base
# alloc_port: sets $port to the next port free for TCP and UDP on 127.0.0.1.
port=""
alloc_port() {
	port=$("$bin/helper" freeport "$next_port") || die "no free port from $next_port"
	next_port=$((port + 1))
}

# new_cluster NAME: kills the agents of the previous scenario, forgets its expectations, and makes
# the log dir of the next one.
new_cluster() {
	kill_agents
	bindp=() rpcp=() exp_status=() exp_tags=()
	sdir=$logs/$1
	mkdir -p -- "$sdir"
}

why="" # the reason a check last failed, for the table

# note MSG: a timestamped line in the scenario's actions.txt, to line up with the agents' logs.
note() { echo "$(date +%Y/%m/%d\ %T.%N | cut -c1-23) $*" >>"$sdir/actions.txt"; }

# poll SECS CMD...: runs CMD until it succeeds (0) or SECS have passed (1). CMD sets $why;
# poll sets $took, the seconds it waited.
took=""
poll() {
	local t0 end
	t0=$(now)
	end=$(($(usec) + $1 * 1000000))
	shift
	while :; do
		if "$@"; then took=$(elapsed "$t0" "$(now)"); return 0; fi
		if (($(usec) >= end)); then took=$(elapsed "$t0" "$(now)"); return 1; fi
		sleep 0.2
	done
}

# rpc_ok NAME: the agent's RPC answers; fails fast (with $why) when the process has died.
rpc_ok() {
	if ! kill -0 "${pid[$1]}" 2>/dev/null; then
		why="agent $1 exited: $(tail -n 3 "$sdir/$1.log" | tr '\n' ' ')"
		return 0 # stop polling; start_agent checks the process again
	fi
	why="agent $1: RPC 127.0.0.1:${rpcp[$1]} does not answer"
	timeout 5 "$cli" members -rpc-addr="127.0.0.1:${rpcp[$1]}" >/dev/null 2>&1
}

# start_agent NAME LIB ORDER [ARGS...]: starts one agent (ARGS go to serf agent) and waits for
# its RPC. Its handler appends "EVENT PAYLOAD" to $sdir/NAME.events for user:ping-event and
# prints pong-NAME for query:ping-query.
start_agent() {
	local name=$1 l=$2 order=$3
	shift 3
	local h=$sdir/$name.handler.sh
	cat >"$h" <<EOF
#!/bin/sh
# event handler of agent $name ($l)
case "\$SERF_EVENT" in
user) printf '%s %s\n' "\$SERF_USER_EVENT" "\$(cat)" >>'$sdir/$name.events' ;;
query) cat >/dev/null; echo "pong-\$SERF_SELF_NAME" ;;
esac
EOF
	chmod +x "$h"
	: >"$sdir/$name.events"
	alloc_port && bindp[$name]=$port
	alloc_port && rpcp[$name]=$port
	"$bin/serf-$l" agent -node "$name" \
		-bind "127.0.0.1:${bindp[$name]}" -rpc-addr "127.0.0.1:${rpcp[$name]}" \
		${have_profile:+"-profile=$profile"} -log-level=debug \
		-tag "lib=$l" -tag "order=$order" \
		-event-handler "user:ping-event='$h'" -event-handler "query:ping-query='$h'" \
		"$@" >"$sdir/$name.log" 2>&1 &
	pid[$name]=$!
	note "started $name ($l) pid ${pid[$name]}"
	echo "$name $l pid ${pid[$name]} bind 127.0.0.1:${bindp[$name]} rpc 127.0.0.1:${rpcp[$name]}" \
		>>"$sdir/agents.txt"
	poll "$dl_start" rpc_ok "$name" && kill -0 "${pid[$name]}" 2>/dev/null || return 1
	exp_status[$name]=alive
	exp_tags[$name]="lib=$l,order=$order"
}

# join FROM TO...: serf join run on FROM's RPC, to the bind address of each TO.
join() {
	local from=$1 out t addrs=()
	shift
	for t in "$@"; do addrs+=("127.0.0.1:${bindp[$t]}"); done
	note "serf join $from -> $*"
	if out=$(timeout 15 "$cli" join -rpc-addr="127.0.0.1:${rpcp[$from]}" "${addrs[@]}" 2>&1); then
		return 0
	fi
	why="serf join $from -> $* failed: $(tr '\n\t' '  ' <<<"$out" | tr -s ' ')"
	return 1
}

# expected_members: what every observer should list, in the helper's format.
expected_members() {
	local n
	for n in "${!exp_status[@]}"; do
		echo "$n ${exp_status[$n]} ${exp_tags[$n]}"
	done | LC_ALL=C sort
}

# members_as_expected OBSERVER...: every OBSERVER lists exactly the expected members.
members_as_expected() {
	local exp o out
	exp=$(expected_members)
	for o in "$@"; do
		out=$(timeout 5 "$cli" members -format json -rpc-addr="127.0.0.1:${rpcp[$o]}" 2>&1 |
			"$bin/helper" members 2>&1) || true
		if [[ $out != "$exp" ]]; then
			why="$o lists [$(paste -sd ';' <<<"$out")], want [$(paste -sd ';' <<<"$exp")]"
			return 1
		fi
	done
}

# lib_of NAME: the build an agent runs: stock for s*, swim for w*, unless --libs says otherwise.
lib_of() {
	case $libs in
	mixed) [[ $1 == s* ]] && echo stock || echo swim ;;
	*) echo "$libs" ;;
	esac
}

# side NAME: the build NAME stands for in the row ids: stock for s*, swim for w*.
side() { [[ $1 == s* ]] && echo stock || echo swim; }

# form_cluster chain|all [ARGS...]: starts s1, w1, s2, w2 (ARGS go to every serf agent) and
# joins them, then waits until all four list all four alive with their tags. chain: each joins
# the one before (w1->s1, s2->w1, w2->s2), and the others learn of it by gossip. all: each joins
# every one before it, so that every member hears of every other in a push/pull, and the
# scenarios that only need a cluster do not wait for gossip that missed a member.
form_cluster() {
	local mode=$1 n order=0 before=()
	shift
	for n in s1 w1 s2 w2; do
		order=$((order + 1))
		start_agent "$n" "$(lib_of "$n")" "$order" "$@" || return 1
		if ((${#before[@]})); then
			if [[ $mode == chain ]]; then join "$n" "${before[-1]}"; else join "$n" "${before[@]}"; fi || return 1
		fi
		before+=("$n")
	done
	poll "$([[ $mode == chain ]] && echo "$dl_gossip" || echo "$dl_form_all")" members_as_expected s1 w1 s2 w2
}

# events_seen LINE COUNT OBSERVER...: each OBSERVER's handler logged LINE exactly COUNT times.
events_seen() {
	local line=$1 want=$2 o got
	shift 2
	for o in "$@"; do
		got=$(grep -cxF -- "$line" "$sdir/$o.events" || true)
		if ((got != want)); then
			why="$o handled \"$line\" $got times, want $want (its events: [$(paste -sd ';' "$sdir/$o.events")])"
			return 1
		fi
	done
}

# ---- results --------------------------------------------------------------------------------
declare -a r_id=() r_exp=() r_obs=() r_res=() r_sec=()
row_t0=""
row_start() { row_t0=$(now); }
# record ID EXPECTATION PASS|FAIL OBSERVED
record() {
	local s obs=$4 sig
	s=$(elapsed "$row_t0" "$(now)")
	# This script stops agents only with serf leave or SIGKILL; an agent that logged a caught
	# signal (SIGTERM, SIGINT, SIGHUP) was signalled by something else on the machine.
	sig=$(grep -l 'Caught signal' "$sdir"/*.log 2>/dev/null | xargs -r -n1 basename | paste -sd ' ') || true
	[[ -z $sig ]] || obs+=" [NOTE: caught a signal this script never sends: $sig]"
	note "record $1 $3: $obs"
	r_id+=("$1") r_exp+=("$2") r_res+=("$3") r_obs+=("$obs") r_sec+=("$s")
	[[ $3 == PASS ]] || failed_overall=1
	printf 'serf-agents: %-9s %s  %5s s  %s\n' "$1" "$3" "$s" "$obs"
	[[ $3 == PASS ]] || echo "serf-agents:   logs: $sdir"
	row_start
}
# skip_rows REASON ID EXPECTATION [ID EXPECTATION]...: rows that could not run count as failed.
skip_rows() {
	local reason=$1
	shift
	while (($# >= 2)); do
		record "$1" "$2" FAIL "not run: $reason"
		shift 2
	done
}
all4="s1 w1 s2 w2"
others() { local n; for n in $all4; do [[ $n == "$1" ]] || printf '%s ' "$n"; done; }

# ---- scenarios ------------------------------------------------------------------------------
scenario_a() {
	local e="s1<-w1<-s2<-w2 joins; all 4 list all 4 alive + tags"
	new_cluster a-join
	row_start
	if form_cluster chain; then
		record a "$e" PASS "4/4 agents list s1,w1,s2,w2 alive with lib/order tags (after $took s)"
	else
		record a "$e" FAIL "$why"
	fi
}

scenario_b() {
	local eb1="tags -set k=from-w1 on w1: all 4 see it" eb2="tags -set k=from-s1 on s1: all 4 see it"
	new_cluster b-tags
	row_start
	form_cluster all || { skip_rows "cluster did not form: $why" b.swim "$eb1" b.stock "$eb2"; return; }
	local n out
	for n in w1 s1; do
		local id e="$eb1"
		id=b.$(side "$n")
		[[ $n == w1 ]] || e=$eb2
		note "serf tags -set k=from-$n on $n"
		if ! out=$(timeout 10 "$cli" tags -rpc-addr="127.0.0.1:${rpcp[$n]}" -set "k=from-$n" 2>&1); then
			record "$id" "$e" FAIL "serf tags failed: $(tr '\n' ' ' <<<"$out")"
			continue
		fi
		exp_tags[$n]="${exp_tags[$n]%%,k=*},k=from-$n"
		# lib < k < order in byte order; keep the expected tags sorted as the helper prints them.
		exp_tags[$n]=$(tr ',' '\n' <<<"${exp_tags[$n]}" | LC_ALL=C sort | paste -sd ',')
		if poll "$dl_gossip" members_as_expected $all4; then
			record "$id" "$e" PASS "4/4 agents list $n with ${exp_tags[$n]} (after $took s)"
		else
			record "$id" "$e" FAIL "$why"
		fi
	done
}

scenario_c() {
	local ec1="event from s1: handler runs once on all 4" ec2="event from w1: handler runs once on all 4"
	new_cluster c-event
	row_start
	form_cluster all || { skip_rows "cluster did not form: $why" c.stock "$ec1" c.swim "$ec2"; return; }
	local n out
	for n in s1 w1; do
		local id e="$ec1"
		id=c.$(side "$n")
		[[ $n == s1 ]] || e=$ec2
		note "serf event from $n"
		if ! out=$(timeout 10 "$cli" event -coalesce=false -rpc-addr="127.0.0.1:${rpcp[$n]}" \
			ping-event "from-$n" 2>&1); then
			record "$id" "$e" FAIL "serf event failed: $(tr '\n' ' ' <<<"$out")"
			continue
		fi
		if poll "$dl_gossip" events_seen "ping-event from-$n" 1 $all4; then
			record "$id" "$e" PASS "4/4 handlers logged \"ping-event from-$n\" once (after $took s)"
		else
			record "$id" "$e" FAIL "$why"
		fi
	done
}

scenario_d() {
	local ed1="query from w1: acks + pong-NAME from all 4" ed2="query from s1: acks + pong-NAME from all 4"
	new_cluster d-query
	# A query is gossiped like any broadcast, but a member that misses it is never caught up:
	# with -profile=local's 2 sends per broadcast, 6 of 60 queries in a stock-only cluster missed
	# a member. Serf's default LAN profile sends each 4 times (0 misses in 120 queries, stock,
	# swim and mixed), so this cluster uses it; --query-profile local shows the other case.
	profile=$query_profile
	row_start
	form_cluster all || {
		profile=local
		skip_rows "cluster did not form: $why" d.swim "$ed1" d.stock "$ed2"
		return
	}
	profile=local
	local n out want i ok misses
	want=$'acks: s1,s2,w1,w2\nresponses: s1=pong-s1,s2=pong-s2,w1=pong-w1,w2=pong-w2'
	for n in w1 s1; do
		local id e="$ed1"
		id=d.$(side "$n")
		[[ $n == w1 ]] || e=$ed2
		ok=0 misses=""
		for ((i = 1; i <= query_rounds; i++)); do
			# Each query counts, none is retried. -timeout 4s rather than Serf's default (3.2 s
			# with LAN timings, 1.6 s with local), so that a handler slowed down by a busy
			# 2-core machine still answers in time.
			note "serf query $i/$query_rounds from $n"
			if ! out=$(timeout 20 "$cli" query -format json -timeout 4s \
				-rpc-addr="127.0.0.1:${rpcp[$n]}" ping-query 2>&1 | "$bin/helper" query 2>&1); then
				misses+="#$i: serf query failed: $(tr '\n' ' ' <<<"$out"); "
			elif [[ $out == "$want" ]]; then
				ok=$((ok + 1))
			else
				misses+="#$i: $(paste -sd ' ' <<<"$out"); "
			fi
		done
		local what="$ok/$query_rounds queries (profile $query_profile) got acks and pong-NAME from s1,s2,w1,w2"
		if ((ok == query_rounds)); then
			record "$id" "$e" PASS "$what"
		else
			record "$id" "$e" FAIL "$what; incomplete: $misses"
		fi
	done
}

# exited NAME: the agent's process has ended.
exited() {
	why="agent $1 (pid ${pid[$1]}) still running"
	! kill -0 "${pid[$1]}" 2>/dev/null
}

scenario_e() {
	local n
	for n in w1 s1; do
		local id
		id=e.$(side "$n")
		local e="serf leave on $n: the other 3 list it left"
		new_cluster "e-leave-$n"
		row_start
		form_cluster all || { skip_rows "cluster did not form: $why" "$id" "$e"; continue; }
		local out
		note "serf leave on $n"
		if ! out=$(timeout 20 "$cli" leave -rpc-addr="127.0.0.1:${rpcp[$n]}" 2>&1); then
			record "$id" "$e" FAIL "serf leave failed: $(tr '\n' ' ' <<<"$out")"
			continue
		fi
		exp_status[$n]=left
		if ! poll "$dl_start" exited "$n"; then
			record "$id" "$e" FAIL "$why after serf leave"
		elif read -ra rest <<<"$(others "$n")" && poll "$dl_gossip" members_as_expected "${rest[@]}"; then
			record "$id" "$e" PASS "$n exited; $(others "$n")list $n left, the rest alive (after $took s)"
		else
			record "$id" "$e" FAIL "$why"
		fi
	done
}

scenario_f() {
	local n
	for n in w1 s1; do
		local id
		id=f.$(side "$n")
		local e="kill -9 $n: the other 3 list it failed"
		new_cluster "f-crash-$n"
		row_start
		form_cluster all || { skip_rows "cluster did not form: $why" "$id" "$e"; continue; }
		local t_kill
		note "kill -KILL $n pid ${pid[$n]}"
		kill -KILL "${pid[$n]}"
		wait "${pid[$n]}" 2>/dev/null || true
		t_kill=$(now)
		exp_status[$n]=failed
		read -ra rest <<<"$(others "$n")"
		if poll "$dl_fail" members_as_expected "${rest[@]}"; then
			record "$id" "$e" PASS "$(others "$n")list $n failed $(elapsed "$t_kill" "$(now)") s after the kill"
		else
			record "$id" "$e" FAIL "$why"
		fi
	done
}

# nobody_lists_intruders: the cluster is exactly as expected and each intruder lists only itself.
nobody_lists_intruders() {
	members_as_expected $all4 || return 1
	local x out
	for x in xs xw; do
		out=$(timeout 5 "$cli" members -format json -rpc-addr="127.0.0.1:${rpcp[$x]}" 2>&1 |
			"$bin/helper" members 2>&1) || true
		if [[ $out != "$x alive ${exp_tags[$x]}" ]]; then
			why="intruder $x lists [$(paste -sd ';' <<<"$out")], want only itself"
			return 1
		fi
	done
}

scenario_g() {
	local eg1="all 4 with -encrypt K: cluster forms, event from w2 reaches all"
	local eg2="xs (stock), xw (swim) with key K2: join fails, nobody lists them"
	local key bad
	key=$(head -c16 /dev/urandom | base64)
	bad=$(head -c16 /dev/urandom | base64)
	new_cluster g-encrypt
	echo "key $key, intruders' key $bad" >"$sdir/keys.txt"
	row_start
	if ! form_cluster all -encrypt "$key"; then
		skip_rows "encrypted cluster did not form: $why" g.form "$eg1" g.badkey "$eg2"
		return
	fi
	if ! timeout 10 "$cli" event -coalesce=false -rpc-addr="127.0.0.1:${rpcp[w2]}" ping-event from-w2 \
		>"$sdir/event.out" 2>&1; then
		record g.form "$eg1" FAIL "serf event failed: $(paste -sd ' ' "$sdir/event.out")"
	elif poll "$dl_gossip" events_seen "ping-event from-w2" 1 $all4; then
		record g.form "$eg1" PASS "4/4 encrypted agents alive; 4/4 handlers logged the event once (after $took s)"
	else
		record g.form "$eg1" FAIL "$why"
	fi

	# The intruders: the stock one tries a swim member, the swim one a stock member.
	local x target obs="" ok=1
	local xs_lib=stock xw_lib=swim
	[[ $libs == mixed ]] || xs_lib=$libs xw_lib=$libs
	start_agent xs "$xs_lib" 5 -encrypt "$bad" || { skip_rows "agent xs did not start: $why" g.badkey "$eg2"; return; }
	start_agent xw "$xw_lib" 6 -encrypt "$bad" || { skip_rows "agent xw did not start: $why" g.badkey "$eg2"; return; }
	for x in xs xw; do
		target=$([[ $x == xs ]] && echo w1 || echo s1)
		if join "$x" "$target"; then
			ok=0 obs+="serf join $x -> $target SUCCEEDED; "
		else
			obs+="join $x -> $target fails as it should (${why:0:120}...); "
		fi
	done
	# xs and xw are not members of the cluster: keep them out of the expectations, and check for
	# settle_bad seconds that nobody lists them (a negative check needs a window, not a deadline).
	unset 'exp_status[xs]' 'exp_status[xw]'
	local end=$(($(usec) + settle_bad * 1000000)) samples=0
	while (($(usec) < end)); do
		samples=$((samples + 1))
		if ! nobody_lists_intruders; then ok=0 obs+="$why; " && break; fi
		sleep 0.3
	done
	if ((ok)); then
		record g.badkey "$eg2" PASS "${obs}for ${settle_bad} s ($samples samples) no one lists them"
	else
		record g.badkey "$eg2" FAIL "$obs"
	fi
}

# scenario_h: examples/node -serf, swim's own API with no Serf code, as a plain member of a
# Serf cluster: listed with its -meta as tags, handed user events, acking queries, and left
# after SIGINT (Ctrl-C), by way of the leave intent it announces.
scenario_h() {
	local ej="node -serf joins s1: all 4 agents list it alive with its tags"
	local ee="event from s1: the node shows it" eq="query from w1: the node acks it"
	local el="SIGINT to the node: the 4 agents list it left"
	new_cluster h-node
	# Serf's LAN profile, as in d: a query is one-shot, and local timings send it only twice.
	profile=lan
	row_start
	form_cluster all || {
		profile=local
		skip_rows "cluster did not form: $why" h.join "$ej" h.event "$ee" h.query "$eq" h.leave "$el"
		return
	}
	profile=local
	alloc_port && bindp[n1]=$port
	"$bin/node" -name n1 -bind "127.0.0.1:${bindp[n1]}" -config lan -serf -meta role=web,dc=one \
		-join "127.0.0.1:${bindp[s1]}" >"$sdir/n1.log" 2>&1 &
	pid[n1]=$!
	note "started node n1 pid ${pid[n1]}"
	exp_status[n1]=alive
	exp_tags[n1]="dc=one,role=web"
	if ! poll "$dl_gossip" members_as_expected $all4; then
		record h.join "$ej" FAIL "$why"
		skip_rows "the node did not join" h.event "$ee" h.query "$eq" h.leave "$el"
		return
	fi
	record h.join "$ej" PASS "s1 w1 s2 w2 list n1 alive with dc=one,role=web (after $took s)"

	note "serf event from s1"
	timeout 15 "$cli" event -coalesce=false -rpc-addr="127.0.0.1:${rpcp[s1]}" ping-event for-node >/dev/null 2>&1 || true
	node_saw() {
		why="the node's output has no line for the event: $(tail -n 3 "$sdir/n1.log" | tr '\n' ' ')"
		grep -qF 'serf user event "ping-event" payload="for-node"' "$sdir/n1.log"
	}
	if poll "$dl_gossip" node_saw; then
		record h.event "$ee" PASS "n1 printed the event (after $took s)"
	else
		record h.event "$ee" FAIL "$why"
	fi

	local out
	note "serf query from w1"
	out=$(timeout 20 "$cli" query -format json -timeout 4s -rpc-addr="127.0.0.1:${rpcp[w1]}" \
		ping-query 2>&1 | "$bin/helper" query 2>&1) || true
	if [[ $(head -n 1 <<<"$out") == "acks: n1,s1,s2,w1,w2" ]]; then
		record h.query "$eq" PASS "acks from n1,s1,s2,w1,w2 (the node answers no payload)"
	else
		record h.query "$eq" FAIL "got: $(paste -sd ' ' <<<"$out")"
	fi

	note "kill -INT n1"
	kill -INT "${pid[n1]}"
	exp_status[n1]=left
	if ! poll "$dl_start" exited n1; then
		record h.leave "$el" FAIL "$why after SIGINT"
	elif poll "$dl_gossip" members_as_expected $all4; then
		record h.leave "$el" PASS "n1 exited; s1 w1 s2 w2 list it left (after $took s)"
	else
		record h.leave "$el" FAIL "$why"
	fi
}

for s in a b c d e f g h; do
	if wanted "$s"; then "scenario_$s"; fi
done
kill_agents

# ---- table ----------------------------------------------------------------------------------
echo
echo "== results (Serf $SERF_VERSION agents, stock = $ML_OLD v0.7.0, swim = $ML_NEW)"
w=11
for e in "${r_exp[@]}"; do ((${#e} <= w)) || w=${#e}; done
printf "%-9s | %-${w}s | %-4s | %6s | %s\n" scenario expectation res secs observed
printf '%s\n' "$(printf '%.0s-' $(seq 1 $((w + 40))))"
npass=0 nfail=0
for i in "${!r_id[@]}"; do
	printf "%-9s | %-${w}s | %-4s | %6s | %s\n" "${r_id[$i]}" "${r_exp[$i]}" "${r_res[$i]}" \
		"${r_sec[$i]}" "${r_obs[$i]}"
	if [[ ${r_res[$i]} == PASS ]]; then npass=$((npass + 1)); else nfail=$((nfail + 1)); fi
done
echo
say "$npass passed, $nfail failed; total $(elapsed "$t_start" "$(now)") s"
finished=1
if ((failed_overall)); then
	say "FAIL"
	exit 1
fi
say "PASS"
