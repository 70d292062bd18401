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
#   3. compile both test packages; if that fails, say whether our package itself does not build,
#      or list every memberlist identifier Serf (test files included) misses;
#   4. go test -count=1 -v each suite, print its wall time and its PASS/FAIL/SKIP counts.
# Nothing in the repository is written; everything happens in the work dir.
#
# Retry policy. Some of Serf's tests are flaky on the *real* hashicorp/memberlist on a loaded
# 2-core machine: TestForceLeaveCommandRun_prune fails in 10-40% of runs (Serf's own race:
# handlePrune erases the member in a goroutine and the test checks Members() right after the
# command returns; the same rate on this package), TestSerf_update occasionally (timing). With
# no rerun CI would go red on every few runs for reasons outside this repository, and skipping
# the test would hide it; so the tests that fail are rerun, alone, up to
# --reruns times (default 1). Every rerun is announced, both results are printed, and a test that
# needed a rerun is listed as FLAKY in the summary. A test that never passes fails the run.
# --reruns 0 makes the run strict. A package-level failure (a panic, a timeout, a test binary
# that exits without a "--- FAIL" line) is never retried, since the tests after it never ran.
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

# shellcheck source=serf-common.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/serf-common.sh"

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
die() { echo "serf-suites: $*" >&2; exit 2; }
say() { echo "serf-suites: $*"; }

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
serf_source
serf_copy "$src"
: >"$src/.serf-suites-copy"
cd -- "$src"

# ---- point Serf at our memberlist -----------------------------------------------------------
if ((!real)); then
	serf_rewrite "$src" "$logs/tidy.log"
	if go list -m "$ML_OLD" >/dev/null 2>&1; then
		echo "serf-suites: note: $ML_OLD is still in the build list (indirect dependency)"
	fi
fi

# write_missing_go FILE: a small stdlib-only Go program that type-checks the named Serf packages
# (test files included) from source against the export data of everything else, and lists every
# memberlist identifier they miss. go build stops at the first package that fails and at ten
# errors per package; this reports them all.
write_missing_go() {
	mkdir -p -- "$(dirname -- "$1")"
	cat >"$1" <<'GO'
// Lists what Serf's packages fail to type-check against, with all errors (not just ten) and
// including test files. Run in the Serf module root: go run missing.go PKG...
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
)

type listed struct {
	ImportPath, Dir, Export, ForTest string
	GoFiles, TestGoFiles, XTestGoFiles []string
	Module                             *struct{ Path string }
	Error                              *struct{ Err string }
}

func main() {
	args := append([]string{"list", "-e", "-deps", "-test", "-export", "-json"}, os.Args[1:]...)
	out, err := exec.Command("go", args...).Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, "go list:", err)
	}
	pkgs := map[string]*listed{}
	exports := map[string]string{}
	var mainMod string
	if b, err := exec.Command("go", "list", "-m").Output(); err == nil {
		mainMod = strings.TrimSpace(string(b))
	}
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		var p listed
		if err := dec.Decode(&p); err != nil {
			break
		}
		if p.ForTest != "" || strings.HasSuffix(p.ImportPath, ".test") {
			continue
		}
		pkgs[p.ImportPath] = &p
		if p.Export != "" {
			exports[p.ImportPath] = p.Export
		}
	}
	fset := token.NewFileSet()
	gc := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		if f, ok := exports[path]; ok {
			return os.Open(f)
		}
		return nil, fmt.Errorf("no export data for %s", path)
	})
	var errs []types.Error
	checked := map[string]*types.Package{}
	var imp importerFunc
	check := func(path string, files []string, dir string) *types.Package {
		var asts []*ast.File
		for _, f := range files {
			a, err := parser.ParseFile(fset, filepath.Join(dir, f), nil, parser.SkipObjectResolution)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				continue
			}
			asts = append(asts, a)
		}
		conf := types.Config{Importer: imp, Sizes: types.SizesFor("gc", runtime.GOARCH),
			Error: func(err error) {
				if te, ok := err.(types.Error); ok && !te.Soft {
					errs = append(errs, te)
				}
			}}
		p, _ := conf.Check(path, fset, asts, nil)
		return p
	}
	imp = func(path string) (*types.Package, error) {
		if p, ok := checked[path]; ok {
			return p, nil
		}
		if lp := pkgs[path]; lp != nil && lp.Module != nil && lp.Module.Path == mainMod {
			p := check(path, lp.GoFiles, lp.Dir)
			checked[path] = p
			return p, nil
		}
		return gc.Import(path)
	}
	for _, arg := range os.Args[1:] {
		b, err := exec.Command("go", "list", "-f", "{{.ImportPath}}", arg).Output()
		if err != nil {
			continue
		}
		path := strings.TrimSpace(string(b))
		lp := pkgs[path]
		if lp == nil {
			continue
		}
		check(path+" [test]", append(append([]string{}, lp.GoFiles...), lp.TestGoFiles...), lp.Dir)
		if len(lp.XTestGoFiles) > 0 {
			check(path+"_test", lp.XTestGoFiles, lp.Dir)
		}
	}
	idents := map[string][]string{}
	res := []*regexp.Regexp{
		regexp.MustCompile(`undefined: (memberlist\.\w+)`),
		regexp.MustCompile(`type \*?(memberlist\.\w+) has no field or method (\w+)`),
		regexp.MustCompile(`unknown field (\w+) in struct literal of type (memberlist\.\w+)`),
		regexp.MustCompile(`(memberlist\.\w+).*missing method (\w+)`),
	}
	seen := map[string]bool{}
	var other []string
	for _, e := range errs {
		pos := fset.Position(e.Pos)
		key := pos.String() + e.Msg
		if seen[key] {
			continue
		}
		seen[key] = true
		where := fmt.Sprintf("%s:%d", relTo(pos.Filename), pos.Line)
		id := ""
		for i, re := range res {
			if m := re.FindStringSubmatch(e.Msg); m != nil {
				switch i {
				case 0:
					id = m[1]
				case 2:
					id = m[2] + "." + m[1]
				default:
					id = m[1] + "." + m[2]
				}
				break
			}
		}
		if id == "" {
			other = append(other, where+": "+e.Msg)
			continue
		}
		idents[id] = append(idents[id], where)
	}
	names := make([]string, 0, len(idents))
	for k := range idents {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		w := idents[k]
		more := ""
		if len(w) > 3 {
			more = fmt.Sprintf(" and %d more", len(w)-3)
			w = w[:3]
		}
		fmt.Printf("  %-50s used at %s%s\n", k, strings.Join(w, ", "), more)
	}
	if len(other) > 0 {
		fmt.Println("  other type errors:")
		sort.Strings(other)
		for _, o := range other {
			fmt.Println("    " + o)
		}
	}
	if len(errs) == 0 {
		fmt.Println("  (no type errors found)")
	}
}

type importerFunc func(string) (*types.Package, error)

func (f importerFunc) Import(path string) (*types.Package, error) { return f(path) }

func relTo(f string) string {
	if wd, err := os.Getwd(); err == nil {
		if r, err := filepath.Rel(wd, f); err == nil {
			return r
		}
	}
	return f
}
GO
}

# ---- compile ---------------------------------------------------------------------------------
# -run '^$' builds and vets each test binary and runs no test, so compile errors are reported
# here and the timed runs below measure only the tests.
t0=$(now)
if ! go test -count=1 -run '^$' "${pkgs[@]}" >"$logs/compile.log" 2>&1; then
	cat "$logs/compile.log" >&2
	echo >&2
	if ((!real)) && ! go build "$ML_NEW" >"$logs/compile-ours.log" 2>&1; then
		# Our package is being edited, or is broken: nothing to say about Serf yet.
		echo "serf-suites: $ML_NEW itself does not compile (see above); fix it, or retry" \
			"if it is being edited" >&2
	elif ((!real)); then
		echo "serf-suites: Serf does not compile against $ML_NEW. Missing or mismatched" \
			"identifiers (all of them, test files included):" >&2
		# Built and run from Serf's module root (stdlib only), where go list sees Serf's build.
		write_missing_go "$work/missing/main.go"
		{ go build -o "$work/missing/missing" "$work/missing/main.go" &&
			"$work/missing/missing" "${pkgs[@]}"; } >&2 ||
			echo "serf-suites: (the identifier lister failed; see the compiler output above)" >&2
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
# the globals last_failed (failed top-level tests), last_rc and last_pkgfail (1 when the test
# binary died or failed without failing tests, so that later tests may not have run).
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
	last_rc=$rc last_pkgfail=0
	if ((rc != 0)) && { ((${#last_failed[@]} == 0)) ||
		grep -qE '^(panic: |fatal error: )|test timed out after' "$log"; }; then
		last_pkgfail=1
	fi
	printf '%-34s wall %6s s (go: %s)  PASS %d (%d top-level)  FAIL %d  SKIP %d  %s\n' \
		"$label" "$(elapsed "$t0" "$t1")" "${gotime:-?}" "$pass" "$top" "$fail" "$skip" \
		"$([[ $rc == 0 ]] && echo ok || echo FAIL)"
	if ((fail)); then failure_lines "$log"; fi
	if ((last_pkgfail)); then
		echo "  go test exited $rc: the test binary died or failed outside a test (panic, timeout," \
			"build error); tests after that point did not run:"
		grep -nE -m 20 '^(panic:|fatal error:|FAIL|.*test timed out|.*Log in goroutine after)' "$log" | sed 's/^/    /' || true
		grep -A 5 -m 1 '^running tests:' "$log" | sed 's/^/    /' || true
		echo "  last lines of $log:"
		tail -n 10 "$log" | sed 's/^/    /'
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
	if ((last_pkgfail)); then
		summary+=("$pkg: FAIL (package failure${first_failed[*]:+ after failing ${first_failed[*]}}, see $logs/$label-$mode.log)")
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
		if ((last_pkgfail)); then
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
	echo "  FLAKY (failed, then passed when rerun alone):"
	printf '    %s\n' "${flaky[@]}"
fi
if ((${#still_failing[@]})); then
	failed_overall=1 finished=1
	echo "serf-suites: FAIL"
	exit 1
fi
finished=1
echo "serf-suites: PASS"
