#!/usr/bin/env bash
# with-engines.sh CMD [ARGS...]: run CMD with the local engines up and their environment exported
# (see engines.sh env), then exit with CMD's status.
#
# Engines this script finds stopped are started and shared: every with-engines.sh run using them
# registers itself in $RUN_DIR/holders, and the last one to finish stops them -- also when CMD fails or
# is interrupted. Engines that were already running when no with-engines.sh run held them (started by
# `engines.sh start` / `make engines-up`) are left running for their owner to stop.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ENGINES=$HERE/engines.sh
RUN_DIR=${SHARDWISE_ENGINES_RUN_DIR:-$HERE/.run}
HOLDERS=$RUN_DIR/holders
AUTO=$RUN_DIR/auto-started # present while the engines were started by with-engines.sh

if (($# == 0)); then
	echo "usage: $0 COMMAND [ARGS...]" >&2
	exit 2
fi
mkdir -p "$HOLDERS"

# Serialise start/stop decisions between concurrent runs in one checkout (flock is in util-linux; without
# it runs are not coordinated). engines.sh runs with fd 9 closed: engines inheriting it would hold the
# lock for as long as they live.
lock() {
	exec 9>"$RUN_DIR/with-engines.lock"
	if command -v flock >/dev/null 2>&1; then flock 9; fi
}
unlock() { exec 9>&-; }

# live_holders: prune holders whose process is gone, print how many remain.
live_holders() {
	local f n=0
	for f in "$HOLDERS"/*; do
		[[ -e $f ]] || continue
		if kill -0 "${f##*/}" 2>/dev/null; then
			n=$((n + 1))
		else
			rm -f "$f"
		fi
	done
	echo "$n"
}

release() {
	lock
	rm -f "$HOLDERS/$$"
	if [[ -f $AUTO ]] && (($(live_holders) == 0)); then
		"$ENGINES" stop 9>&-
		rm -f "$AUTO"
	fi
	unlock
}

lock
if ! "$ENGINES" status >/dev/null 2>&1 9>&-; then
	touch "$AUTO"
fi
if ! "$ENGINES" start 9>&-; then
	# engines.sh stopped whatever it had started itself.
	(($(live_holders) > 0)) || rm -f "$AUTO"
	unlock
	exit 1
fi
: >"$HOLDERS/$$"
unlock

trap release EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

eval "$("$ENGINES" env)"
"$@"
rc=$?
exit $rc
