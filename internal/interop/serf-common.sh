# serf-common.sh: what serf-suites.sh and serf-agents.sh share, sourced by both: Serf's
# module and version, the memberlist import rewrite, and where things are. Each script
# defines die (prints, exits 2) and say before calling these.

SERF_MOD=github.com/hashicorp/serf
SERF_VERSION=v0.11.0
ML_OLD=github.com/hashicorp/memberlist
ML_NEW=github.com/swim-go/swim/memberlist
SWIM_MOD=github.com/swim-go/swim

repo_root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)
ml_dir=$repo_root/memberlist

# serf_source: sets serf_dir to Serf's source in the module cache, downloading it if needed.
# Outside any module, so that nothing around the caller's cwd affects the download.
serf_source() {
	local dl_json
	dl_json=$(cd / && go mod download -json "$SERF_MOD@$SERF_VERSION") || {
		echo "$dl_json" >&2
		die "go mod download $SERF_MOD@$SERF_VERSION failed"
	}
	serf_dir=$(sed -n 's/^[[:space:]]*"Dir":[[:space:]]*"\(.*\)",\{0,1\}[[:space:]]*$/\1/p' <<<"$dl_json")
	[[ -n $serf_dir && -d $serf_dir ]] || { echo "$dl_json" >&2; die "no Dir in go mod download output"; }
}

# serf_copy DIR: a writable copy of Serf's source in DIR.
serf_copy() {
	mkdir -p -- "$1"
	cp -R -- "$serf_dir/." "$1/"
	chmod -R u+w -- "$1"
}

# serf_rewrite DIR LOG: points the Serf copy in DIR at this repository's memberlist package:
# every import of $ML_OLD becomes $ML_NEW, and go.mod requires and replaces $ML_NEW
# (=> <repo>/memberlist) and $SWIM_MOD (=> <repo>), then go mod tidy (its output in LOG).
serf_rewrite() {
	local dir=$1 log=$2 files f left
	(
		cd -- "$dir"
		mapfile -t files < <(grep -rlF --include='*.go' "\"$ML_OLD\"" . | sort)
		((${#files[@]})) || die "no file imports $ML_OLD; wrong Serf source?"
		sed -i.orig "s#\"$ML_OLD\"#\"$ML_NEW\"#g" "${files[@]}"
		for f in "${files[@]}"; do rm -f -- "$f.orig"; done
		if left=$(grep -rnF --include='*.go' "\"$ML_OLD" .); then
			echo "$left" >&2
			die "imports of $ML_OLD left after the rewrite"
		fi
		say "rewrote the memberlist import in ${#files[@]} files"
		go mod edit \
			-droprequire "$ML_OLD" \
			-require "$ML_NEW@v0.0.0" -replace "$ML_NEW=$ml_dir" \
			-require "$SWIM_MOD@v0.0.0" -replace "$SWIM_MOD=$repo_root"
		go mod tidy >"$log" 2>&1 || { cat "$log" >&2; die "go mod tidy failed"; }
	)
}
