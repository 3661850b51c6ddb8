#!/usr/bin/env bash
# Local engines for Shardwise's integration tests: kinesis-mock (npm kinesis-local, the engine LocalStack
# uses for Kinesis) and dynalite (DynamoDB), both bound to 127.0.0.1 only.
#
#   localstack-test/engines.sh start    install (npm ci) if needed, start both, wait until they answer
#   localstack-test/engines.sh stop     stop both by PID (SIGTERM, then SIGKILL after a grace period)
#   localstack-test/engines.sh status   say what is running
#   localstack-test/engines.sh env      print export lines for clients: eval "$(localstack-test/engines.sh env)"
#
# Ports (override with these variables, for every command including env):
#   SHARDWISE_KINESIS_PORT      4568  kinesis-mock plain HTTP (HTTP/1.1, h2c)   -> AWS_ENDPOINT_URL_KINESIS
#   SHARDWISE_KINESIS_TLS_PORT  4569  kinesis-mock HTTPS (h2 via ALPN, self-signed) -> SHARDWISE_KINESIS_TLS_ENDPOINT
#   SHARDWISE_DYNAMODB_PORT     4570  dynalite plain HTTP                       -> AWS_ENDPOINT_URL_DYNAMODB
# Other knobs: SHARDWISE_ENGINE_DELAY (kinesis-mock state-change delays, default 100ms),
# SHARDWISE_ENGINES_TIMEOUT_MS (how long start waits for an engine to answer, default 60000).
# PIDs, ports and logs live in localstack-test/.run/ (SHARDWISE_ENGINES_RUN_DIR to keep a second set of
# engines, on other ports, apart from the first).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RUN_DIR=${SHARDWISE_ENGINES_RUN_DIR:-$HERE/.run}
KINESIS_PORT=${SHARDWISE_KINESIS_PORT:-4568}
KINESIS_TLS_PORT=${SHARDWISE_KINESIS_TLS_PORT:-4569}
DYNAMODB_PORT=${SHARDWISE_DYNAMODB_PORT:-4570}
ENGINE_DELAY=${SHARDWISE_ENGINE_DELAY:-100ms}
START_TIMEOUT_MS=${SHARDWISE_ENGINES_TIMEOUT_MS:-60000}
STOP_GRACE_TENTHS=30 # SIGTERM grace period in tenths of a second

KINESIS_DIR=$HERE/node_modules/kinesis-local
DYNALITE_CLI=$HERE/node_modules/dynalite/cli.js
PROBE=$HERE/lib/probe.js
PRELOAD=$HERE/lib/bind-loopback.js
# dynalite only: a client resetting its connection mid-request must not kill the engine (see the file).
DYNALITE_PRELOAD=$HERE/lib/survive-client-aborts.js
# Engines run in their own session when setsid exists, so a Ctrl-C meant for a later command in the
# same terminal does not kill them behind engines.sh's back.
DETACH=
command -v setsid >/dev/null 2>&1 && DETACH=setsid

log() { printf 'engines: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

need_node() {
	command -v node >/dev/null 2>&1 || die "node not found: install Node.js >= 20 (with npm)"
	local major
	major=$(node -p 'process.versions.node.split(".")[0]')
	((major >= 20)) || die "node $(node --version) is too old: Node.js >= 20 is required"
}

install_if_missing() {
	if [[ -f $KINESIS_DIR/main.js && -f $DYNALITE_CLI && -d $HERE/node_modules/aws-kinesis-agg &&
		-f $HERE/node_modules/aws-kcl/index.js && -d $HERE/node_modules/log4js ]]; then
		return
	fi
	command -v npm >/dev/null 2>&1 || die "npm not found: install Node.js >= 20 with npm"
	log "installing pinned engines (npm ci in $HERE)"
	(cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error >&2) || die "npm ci failed"
}

pid_file() { printf '%s/%s.pid' "$RUN_DIR" "$1"; }
ports_file() { printf '%s/%s.ports' "$RUN_DIR" "$1"; }

# wanted_ports NAME: the ports this invocation asks NAME to serve.
wanted_ports() {
	case $1 in
	kinesis) printf '%s %s' "$KINESIS_PORT" "$KINESIS_TLS_PORT" ;;
	dynamodb) printf '%s' "$DYNAMODB_PORT" ;;
	esac
}

# check_same_ports NAME: a running NAME must serve the ports asked for, or its clients would be
# pointed at the wrong place.
check_same_ports() {
	local f have=unknown
	f=$(ports_file "$1")
	[[ -f $f ]] && have=$(<"$f")
	if [[ $have != "$(wanted_ports "$1")" ]]; then
		die "$1 is already running (pid $(<"$(pid_file "$1")"), recorded in $RUN_DIR) on ports $have, not $(wanted_ports "$1"). Use those ports, stop it with engines.sh stop, or keep a separate set with SHARDWISE_ENGINES_RUN_DIR=<dir>."
	fi
}

STARTED=() # engines this invocation started (the only ones a failed start stops)

# running NAME: succeeds when the PID recorded for NAME is alive and still one of our engine processes
# (guards against a recycled PID after a crash or reboot).
running() {
	local f pid
	f=$(pid_file "$1")
	[[ -f $f ]] || return 1
	pid=$(<"$f")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	[[ -r /proc/$pid/cmdline ]] || return 0
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$(marker "$1")"
}

marker() {
	case $1 in
	kinesis) printf 'kinesis-local/main.js' ;;
	dynamodb) printf 'dynalite/cli.js' ;;
	esac
}

check_port_free() {
	local name=$1 var=$2 port=$3
	if ! node "$PROBE" free "$port" 2>/dev/null; then
		die "cannot start $name: 127.0.0.1:$port is already in use by another process. Stop it, or choose another port with $var=<port>."
	fi
}

tail_log() {
	local f=$RUN_DIR/$1.log
	[[ -f $f ]] || return 0
	log "last lines of $f:"
	tail -n 20 "$f" >&2 || true
}

start_kinesis() {
	if running kinesis; then
		log "kinesis-mock already running (pid $(<"$(pid_file kinesis)"))"
		return
	fi
	# In 0.6.2 some *_DURATION settings are cross-wired (deregister/start/stop encryption): set all alike.
	(
		cd "$KINESIS_DIR"
		export KINESIS_MOCK_PLAIN_PORT=$KINESIS_PORT KINESIS_MOCK_TLS_PORT=$KINESIS_TLS_PORT
		export KINESIS_MOCK_CERT_PATH=$KINESIS_DIR/server.json
		export SHARD_LIMIT=${SHARDWISE_SHARD_LIMIT:-1000} ON_DEMAND_STREAM_COUNT_LIMIT=1000
		export LOG_LEVEL=${SHARDWISE_KINESIS_LOG_LEVEL:-ERROR} AWS_REGION=us-east-1
		export SHOULD_PERSIST_DATA=false
		local d
		for d in CREATE_STREAM DELETE_STREAM REGISTER_STREAM_CONSUMER DEREGISTER_STREAM_CONSUMER \
			START_STREAM_ENCRYPTION STOP_STREAM_ENCRYPTION MERGE_SHARDS SPLIT_SHARD UPDATE_SHARD_COUNT \
			UPDATE_STREAM_MODE; do
			export "${d}_DURATION=$ENGINE_DELAY"
		done
		export NODE_OPTIONS="--require=$PRELOAD"
		exec $DETACH node "$KINESIS_DIR/main.js" </dev/null >"$RUN_DIR/kinesis.log" 2>&1
	) &
	echo $! >"$(pid_file kinesis)"
	wanted_ports kinesis >"$(ports_file kinesis)"
	STARTED+=(kinesis)
	log "kinesis-mock starting (pid $!, http 127.0.0.1:$KINESIS_PORT, https 127.0.0.1:$KINESIS_TLS_PORT)"
}

start_dynamodb() {
	if running dynamodb; then
		log "dynalite already running (pid $(<"$(pid_file dynamodb)"))"
		return
	fi
	(
		cd "$HERE"
		export NODE_OPTIONS="--require=$PRELOAD --require=$DYNALITE_PRELOAD"
		exec $DETACH node "$DYNALITE_CLI" --host 127.0.0.1 --port "$DYNAMODB_PORT" \
			--createTableMs 100 --deleteTableMs 100 --updateTableMs 100 </dev/null >"$RUN_DIR/dynamodb.log" 2>&1
	) &
	echo $! >"$(pid_file dynamodb)"
	wanted_ports dynamodb >"$(ports_file dynamodb)"
	STARTED+=(dynamodb)
	log "dynalite starting (pid $!, http 127.0.0.1:$DYNAMODB_PORT)"
}

wait_ready() {
	local name=$1 probe=$2 port=$3 pid
	pid=$(<"$(pid_file "$name")")
	if ! node "$PROBE" "$probe" "$port" "$pid" "$START_TIMEOUT_MS"; then
		tail_log "$name"
		return 1
	fi
}

cmd_start() {
	need_node
	install_if_missing
	mkdir -p "$RUN_DIR"
	# Check every port before starting anything, so a busy port leaves nothing half-started.
	if running kinesis; then
		check_same_ports kinesis
	else
		check_port_free kinesis-mock SHARDWISE_KINESIS_PORT "$KINESIS_PORT"
		check_port_free kinesis-mock SHARDWISE_KINESIS_TLS_PORT "$KINESIS_TLS_PORT"
	fi
	if running dynamodb; then
		check_same_ports dynamodb
	else
		check_port_free dynalite SHARDWISE_DYNAMODB_PORT "$DYNAMODB_PORT"
	fi
	local rc=0
	start_kinesis
	start_dynamodb
	wait_ready kinesis wait-kinesis "$KINESIS_PORT" || rc=1
	((rc != 0)) || wait_ready kinesis wait-port "$KINESIS_TLS_PORT" || rc=1
	wait_ready dynamodb wait-dynamodb "$DYNAMODB_PORT" || rc=1
	if ((rc != 0)); then
		# Stop only what this invocation started; engines found running belong to whoever started them.
		((${#STARTED[@]} == 0)) || stop_engines "${STARTED[@]}"
		die "start failed; logs in $RUN_DIR"
	fi
	log "ready: kinesis http://127.0.0.1:$KINESIS_PORT (tls https://127.0.0.1:$KINESIS_TLS_PORT), dynamodb http://127.0.0.1:$DYNAMODB_PORT"
}

# stop_engines NAME...: SIGTERM every running engine named, wait up to the grace period for all of them,
# SIGKILL what is left. PID files are removed.
stop_engines() {
	local name f pid i left
	local -a pids=() names=()
	for name in "$@"; do
		f=$(pid_file "$name")
		[[ -f $f ]] || continue
		if running "$name"; then
			pid=$(<"$f")
			kill -TERM "$pid" 2>/dev/null || true
			pids+=("$pid")
			names+=("$name")
		fi
		rm -f "$f" "$(ports_file "$name")"
	done
	((${#pids[@]} > 0)) || return 0
	for ((i = 0; i < STOP_GRACE_TENTHS; i++)); do
		left=0
		for pid in "${pids[@]}"; do
			kill -0 "$pid" 2>/dev/null && left=1
		done
		((left)) || break
		sleep 0.1
	done
	for i in "${!pids[@]}"; do
		pid=${pids[$i]}
		if kill -0 "$pid" 2>/dev/null; then
			log "${names[$i]} (pid $pid) still running after SIGTERM; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
		log "${names[$i]} stopped (pid $pid)"
	done
}

cmd_stop() { stop_engines kinesis dynamodb; }

cmd_status() {
	local rc=0 name
	for name in kinesis dynamodb; do
		if running "$name"; then
			printf '%s: running (pid %s)\n' "$name" "$(<"$(pid_file "$name")")"
		else
			printf '%s: stopped\n' "$name"
			rc=3
		fi
	done
	return $rc
}

cmd_env() {
	cat <<ENV
export AWS_ENDPOINT_URL_KINESIS=http://127.0.0.1:$KINESIS_PORT
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$DYNAMODB_PORT
export SHARDWISE_KINESIS_TLS_ENDPOINT=https://127.0.0.1:$KINESIS_TLS_PORT
export AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=shardwise-local
export AWS_SECRET_ACCESS_KEY=shardwise-local
ENV
}

case ${1:-} in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
env) cmd_env ;;
*)
	echo "usage: $0 start|stop|status|env" >&2
	exit 2
	;;
esac
