#!/usr/bin/env bash
# with-engines.sh CMD [ARGS...]: run CMD with the local engines up and their environment exported
# (see engines.sh env), then stop the engines this script started -- also when CMD fails or is
# interrupted -- and exit with CMD's status. Engines that were already running beforehand (engines-up)
# are left running for their owner to stop.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ENGINES=$HERE/engines.sh

if (($# == 0)); then
	echo "usage: $0 COMMAND [ARGS...]" >&2
	exit 2
fi

already=0
"$ENGINES" status >/dev/null 2>&1 && already=1

stop_engines() {
	if ((already == 0)); then
		"$ENGINES" stop
	fi
}
trap stop_engines EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Even a failed start may have left one engine half-up: the EXIT trap stops it.
"$ENGINES" start || exit 1
eval "$("$ENGINES" env)"

"$@"
rc=$?
exit $rc
