#!/usr/bin/env bash
# serf-suites.sh runs HashiCorp Serf v0.11.0's own test suites ./serf/ and ./cmd/serf/command/
# against this repository's memberlist package (github.com/swim-go/swim/memberlist).
#
# It needs only Go and network access to the module proxy (or a warm module cache):
#   1. go mod download -json github.com/hashicorp/serf@v0.11.0, then copy the Dir it reports to a
#      writable work dir;
#   2. rewrite every import of "github.com/hashicorp/memberlist" to
#      "github.com/swim-go/swim/memberlist", and make Serf's go.mod require and replace both
#      github.com/swim-go/swim/memberlist (=> <repo>/memberlist) and github.com/swim-go/swim
#      (=> <repo>), then go mod tidy;
#   3. compile both test packages (on failure, list the memberlist identifiers Serf misses);
#   4. go test -count=1 -v each suite, print its wall time and its PASS/FAIL/SKIP counts.
#
# Retry policy. Some of Serf's tests are flaky on the *real* hashicorp/memberlist on a loaded
# 2-core machine: TestForceLeaveCommandRun_prune fails ~40% of isolated runs (Serf's own race:
# handlePrune erases the member in a goroutine and the test checks Members() right after the
# command returns), TestSerf_update occasionally. So the tests that fail are rerun, alone, up to
# --reruns times (default 1). Every rerun is announced, both results are printed, and a test that
# needed a rerun is listed as FLAKY in the summary. A test that never passes fails the run.
# --reruns 0 makes the run strict. A package-level failure (panic, timeout, a test binary that
# exits without a "--- FAIL" line) is never retried.
#
# Usage: serf-suites.sh [--real] [-run REGEX] [--keep DIR] [--reruns N] [--timeout D]
#                       [--suite serf|cmd]...
#   --real        run the same suites on the real hashicorp/memberlist v0.7.0 (no rewrite), as the
#                 baseline for times and flakes
#   -run REGEX    passed through to go test -run
#   --keep DIR    use DIR as the work dir (created if missing) and keep it afterwards; the Serf
#                 copy is made afresh in DIR/serf on each run, logs go to DIR/logs
#   --reruns N    rerun failing tests up to N times (default 1; 0 = no reruns)
#   --timeout D   go test -timeout per suite run (default 10m)
#   --suite S     run only suite S (serf or cmd); may be repeated; default both
# Without --keep a fresh temp dir is used; it is removed when every test passed and kept (its path
# is printed) otherwise, so that the full -v logs can be read.
# Exit status: 0 all tests passed (possibly after reruns), 1 a test or suite failed, 2 setup or
# compile failure.
set -euo pipefail

SERF_MOD=github.com/hashicorp/serf
SERF_VERSION=v0.11.0
ML_OLD=github.com/hashicorp/memberlist
ML_NEW=github.com/swim-go/swim/memberlist
SWIM_MOD=github.com/swim-go/swim

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
repo_root=$(cd -- "$script_dir/../.." && pwd -P)
ml_dir=$repo_root/memberlist

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
die() { echo "serf-suites: $*" >&2; exit 2; }

real=0 run_re="" keep="" reruns=1 timeout=10m
suites=()
while (($#)); do
	case $1 in
	--real) real=1 ;;
	-run | --run) (($# >= 2)) || die "$1 needs a REGEX"; run_re=$2; shift ;;
	-run=* | --run=*) run_re=${1#*=} ;;
	--keep) (($# >= 2)) || die "--keep needs a DIR"; keep=$2; shift ;;
	--keep=*) keep=${1#*=} ;;
	--reruns) (($# >= 2)) || die "--reruns needs N"; reruns=$2; shift ;;
	--reruns=*) reruns=${1#*=} ;;
	--timeout) (($# >= 2)) || die "--timeout needs a duration"; timeout=$2; shift ;;
	--timeout=*) timeout=${1#*=} ;;
	--suite) (($# >= 2)) || die "--suite needs serf or cmd"; suites+=("$2"); shift ;;
	--suite=*) suites+=("${1#*=}") ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument: $1" ;;
	esac
	shift
done
[[ $reruns =~ ^[0-9]+$ ]] || die "--reruns wants a number, got $reruns"
((${#suites[@]})) || suites=(serf cmd)
pkgs=()
for s in "${suites[@]}"; do
	case $s in
	serf) pkgs+=(./serf/) ;;
	cmd) pkgs+=(./cmd/serf/command/) ;;
	*) die "unknown suite $s (want serf or cmd)" ;;
	esac
done

command -v go >/dev/null || die "go not found in PATH"
[[ -f $ml_dir/go.mod ]] || die "no memberlist module at $ml_dir"
# A go.work above the work dir must not change what we build.
export GOWORK=off

# ---- work dir -------------------------------------------------------------------------------
if [[ -n $keep ]]; then
	mkdir -p -- "$keep"
	work=$(cd -- "$keep" && pwd -P)
	if [[ -e $work/serf ]]; then
		[[ -f $work/serf/.serf-suites-copy ]] ||
			die "$work/serf exists and was not made by this script; not touching it"
		chmod -R u+w -- "$work/serf"
		rm -rf -- "$work/serf"
	fi
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/serf-suites.XXXXXX")
fi
src=$work/serf
logs=$work/logs
mkdir -p -- "$logs"
finished=0 failed_overall=0
cleanup() {
	if [[ -z $keep && $finished == 1 && $failed_overall == 0 ]]; then
		chmod -R u+w -- "$work" 2>/dev/null || true
		rm -rf -- "$work"
	else
		echo "serf-suites: work dir kept: $work (logs in $logs)"
	fi
}
trap cleanup EXIT

now() { echo "${EPOCHREALTIME:-$(date +%s.%N)}"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

if ((real)); then
	target="real $ML_OLD (as required by Serf's go.mod)"
else
	target="$ML_NEW => $ml_dir"
fi
echo "serf-suites: Serf $SERF_VERSION on $target"
echo "serf-suites: repo $repo_root, work dir $work, $(go version)"

# ---- fetch and copy Serf ---------------------------------------------------------------------
# Outside any module, so that nothing around the caller's cwd affects the download.
dl_json=$(cd / && go mod download -json "$SERF_MOD@$SERF_VERSION") || {
	echo "$dl_json" >&2
	die "go mod download $SERF_MOD@$SERF_VERSION failed"
}
serf_dir=$(sed -n 's/^[[:space:]]*"Dir":[[:space:]]*"\(.*\)",\{0,1\}[[:space:]]*$/\1/p' <<<"$dl_json")
[[ -n $serf_dir && -d $serf_dir ]] || { echo "$dl_json" >&2; die "no Dir in go mod download output"; }
mkdir -p -- "$src"
cp -R -- "$serf_dir/." "$src/"
chmod -R u+w -- "$src"
: >"$src/.serf-suites-copy"
cd -- "$src"

# ---- point Serf at our memberlist -----------------------------------------------------------
if ((!real)); then
	mapfile -t files < <(grep -rlF --include='*.go' "\"$ML_OLD\"" . | sort)
	((${#files[@]})) || die "no file imports $ML_OLD; wrong Serf source?"
	sed -i.orig "s#\"$ML_OLD\"#\"$ML_NEW\"#g" "${files[@]}"
	for f in "${files[@]}"; do rm -f -- "$f.orig"; done
	if left=$(grep -rnF --include='*.go' "\"$ML_OLD" .); then
		echo "$left" >&2
		die "imports of $ML_OLD left after the rewrite"
	fi
	echo "serf-suites: rewrote the memberlist import in ${#files[@]} files"
	go mod edit \
		-droprequire "$ML_OLD" \
		-require "$ML_NEW@v0.0.0" -replace "$ML_NEW=$ml_dir" \
		-require "$SWIM_MOD@v0.0.0" -replace "$SWIM_MOD=$repo_root"
	go mod tidy >"$logs/tidy.log" 2>&1 || { cat "$logs/tidy.log" >&2; die "go mod tidy failed"; }
	if go list -m "$ML_OLD" >/dev/null 2>&1; then
		echo "serf-suites: note: $ML_OLD is still in the build list (indirect dependency)"
	fi
fi

# ---- compile ---------------------------------------------------------------------------------
# -run '^$' builds and vets each test binary and runs no test, so compile errors are reported
# here and the timed runs below measure only the tests.
t0=$(now)
if ! go test -count=1 -run '^$' "${pkgs[@]}" >"$logs/compile.log" 2>&1; then
	cat "$logs/compile.log" >&2
	if ((!real)); then
		# Again with -e, so the compiler reports every error in Serf's packages, not just ten.
		go test -count=1 -run '^$' -gcflags="$SERF_MOD/...=-e" "${pkgs[@]}" \
			>"$logs/compile-all.log" 2>&1 || true
		echo >&2
		echo "serf-suites: Serf does not compile against $ML_NEW. Identifiers it misses:" >&2
		grep -oE 'undefined: memberlist\.[A-Za-z0-9_]+|\(type \*?memberlist\.[A-Za-z0-9_]+ has no field or method [A-Za-z0-9_]+\)|memberlist\.[A-Za-z0-9_]+ has no field or method [A-Za-z0-9_]+|missing method [A-Za-z0-9_]+|memberlist\.[A-Za-z0-9_]+ undefined' \
			"$logs/compile-all.log" | sort | uniq -c | sort -rn >&2 || true
		echo "serf-suites: all compiler errors: $logs/compile-all.log" >&2
	fi
	die "compile failed"
fi
echo "serf-suites: compiled ${pkgs[*]} in $(elapsed "$t0" "$(now)") s"

# ---- run -------------------------------------------------------------------------------------
# count PATTERN LOG: number of lines of LOG that match the extended regex PATTERN.
count() { grep -cE -- "$1" "$2" || true; }

# failure_lines LOG: the assertion messages (file_test.go:N: ...) of each failed top-level test,
# at most 15 lines each. Serf's tests do not run in parallel except two broadcast tests, so a
# test's messages sit between its "=== RUN"/"=== CONT" line and the next one.
failure_lines() {
	awk '
		/^=== (RUN|CONT|PAUSE|NAME) / { split($3, p, "/"); cur = p[1]; next }
		/^    [A-Za-z0-9_]+_test\.go:[0-9]+: / { if (n[cur] < 15) msg[cur] = msg[cur] "\n" $0; n[cur]++; next }
		/^--- FAIL: / { name = $3; printf "  --- FAIL: %s %s%s\n", name, $4, msg[name] }
	' "$1"
}

# run_suite PKG LABEL [go test args...]: runs go test -v once, prints a one-line result, fills
# the globals last_failed (failed top-level tests) and last_rc.
run_suite() {
	local pkg=$1 label=$2 log
	shift 2
	log="$logs/$label.log"
	local t0 t1 rc=0
	t0=$(now)
	go test -count=1 -v -timeout "$timeout" "$@" "$pkg" >"$log" 2>&1 || rc=$?
	t1=$(now)
	local pass fail skip top gotime
	pass=$(count '^[[:space:]]*--- PASS' "$log")
	top=$(count '^--- PASS' "$log")
	fail=$(count '^[[:space:]]*--- FAIL' "$log")
	skip=$(count '^[[:space:]]*--- SKIP' "$log")
	gotime=$(sed -nE 's/^(ok|FAIL)[[:space:]]+[^[:space:]]+[[:space:]]+([0-9.]+s).*/\2/p' "$log" | tail -1)
	mapfile -t last_failed < <(sed -nE 's/^--- FAIL: ([^[:space:]]+).*/\1/p' "$log")
	last_rc=$rc
	printf '%-34s wall %6s s (go: %s)  PASS %d (%d top-level)  FAIL %d  SKIP %d  %s\n' \
		"$label" "$(elapsed "$t0" "$t1")" "${gotime:-?}" "$pass" "$top" "$fail" "$skip" \
		"$([[ $rc == 0 ]] && echo ok || echo FAIL)"
	if ((fail)); then failure_lines "$log"; fi
	if ((rc != 0 && ${#last_failed[@]} == 0)); then
		echo "  go test exited $rc without a '--- FAIL' line (panic, timeout or build error):"
		grep -nE -m 20 '^(panic:|fatal error:|FAIL|.*test timed out|.*Log in goroutine after)' "$log" | sed 's/^/    /' || true
		echo "  last lines of $log:"
		tail -n 15 "$log" | sed 's/^/    /'
	fi
}

regex_quote() { sed 's/[][\.|$^*+?(){}]/\\&/g' <<<"$1"; }

declare -a summary=() flaky=() still_failing=()
for pkg in "${pkgs[@]}"; do
	label=$(tr -c 'A-Za-z0-9\n' '_' <<<"${pkg#./}" | sed 's/_*$//')
	mode=$([[ $real == 1 ]] && echo real || echo swim)
	args=()
	[[ -n $run_re ]] && args=(-run "$run_re")
	echo
	echo "== $pkg ($mode)"
	run_suite "$pkg" "$label-$mode" "${args[@]}"
	first_failed=("${last_failed[@]}")
	if ((last_rc != 0 && ${#first_failed[@]} == 0)); then
		summary+=("$pkg: FAIL (package failure, see $logs/$label-$mode.log)")
		still_failing+=("$pkg")
		continue
	fi
	pending=("${first_failed[@]}")
	attempt=0
	while ((${#pending[@]} && attempt < reruns)); do
		attempt=$((attempt + 1))
		re=""
		for t in "${pending[@]}"; do re+="${re:+|}$(regex_quote "$t")"; done
		echo "!! RERUN $attempt/$reruns of ${#pending[@]} failed test(s), alone: ${pending[*]}"
		run_suite "$pkg" "$label-$mode-rerun$attempt" -run "^($re)\$"
		if ((last_rc != 0 && ${#last_failed[@]} == 0)); then
			echo "!! rerun $attempt ended in a package failure; counting all of them as failed"
			break
		fi
		# A test is done only with a "--- PASS" line; one that did not run stays pending.
		next=()
		for t in "${pending[@]}"; do
			if grep -qE "^--- PASS: $(regex_quote "$t") " "$logs/$label-$mode-rerun$attempt.log"; then
				flaky+=("$pkg $t (failed on the first run, passed on rerun $attempt)")
			else
				next+=("$t")
			fi
		done
		pending=("${next[@]}")
	done
	if ((${#first_failed[@]} == 0)); then
		summary+=("$pkg: ok")
	elif ((${#pending[@]} == 0)); then
		summary+=("$pkg: ok after rerun (first run failed: ${first_failed[*]})")
	else
		summary+=("$pkg: FAIL: ${pending[*]}")
		for t in "${pending[@]}"; do still_failing+=("$pkg $t"); done
	fi
done

echo
echo "== summary ($([[ $real == 1 ]] && echo "real memberlist" || echo "swim memberlist"))"
printf '  %s\n' "${summary[@]}"
if ((${#flaky[@]})); then
	echo "  FLAKY (passed only on a rerun; the first result counts for nothing else):"
	printf '    %s\n' "${flaky[@]}"
fi
if ((${#still_failing[@]})); then
	failed_overall=1 finished=1
	echo "serf-suites: FAIL"
	exit 1
fi
finished=1
echo "serf-suites: PASS"
