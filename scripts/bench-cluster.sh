# shellcheck shell=bash
# Shared by scripts/bench-vs-etcd and scripts/bench-failover (sourced, not
# run): a temporary directory, the release `drover` binary, a 3-node
# Drover cluster of control-only agents on loopback, and cleanup of every
# process started here when the script exits.
#
# Environment:
#   DROVER_BIN    use this drover binary instead of building the release one
#   DROVER_PORT   first Drover node's port (default 17401; the others follow)
#   BENCH_DIR     where to put data and logs (default: a new /tmp directory)

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DROVER_PORT="${DROVER_PORT:-17401}"
WORK="${BENCH_DIR:-$(mktemp -d /tmp/drover-bench.XXXXXX)}"
mkdir -p "$WORK"
# Pids of what this script started, by name; cleanup ends exactly these.
declare -A STARTED=()

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}
epoch_ms() { date +%s%3N; }

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  local name
  for name in "${!STARTED[@]}"; do
    kill "${STARTED[$name]}" 2>/dev/null || true
  done
  # Give them a moment to stop, then make sure.
  sleep 0.5
  for name in "${!STARTED[@]}"; do
    kill -9 "${STARTED[$name]}" 2>/dev/null || true
    wait "${STARTED[$name]}" 2>/dev/null || true
  done
  if [[ $status -ne 0 ]]; then
    log "failed (exit $status); logs and data are in $WORK"
  else
    # Data directories can be large; the logs and results stay.
    rm -rf "$WORK"/data
    log "logs and results are in $WORK"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Starts a process in the background with its output in $WORK/NAME.log.
start() {
  local name="$1"
  shift
  NO_COLOR=1 "$@" >>"$WORK/$name.log" 2>&1 &
  STARTED[$name]=$!
}

# How busy the rest of the machine was: user CPU time of processes this
# script neither started nor waited for (another build, say), which makes
# figures noisy on a small machine. `cpu_mark` before, `other_cores` after
# prints the mean number of cores they used in between. User time only:
# the kernel's share of loopback traffic and fsyncs is done for us but
# booked to no process of ours.
CLK_TCK="$(getconf CLK_TCK 2>/dev/null || echo 100)"
cpu_ticks() {
  # the machine's user ticks, then ours: the started processes and the
  # children this shell has waited for (from `times`, run in this shell)
  local busy ours=0 pid
  busy="$(awk '/^cpu / { print $2 + $3; exit }' /proc/stat)"
  for pid in "${STARTED[@]}"; do
    if [[ -r "/proc/$pid/stat" ]]; then
      ours=$((ours + $(awk '{ print $14 }' "/proc/$pid/stat" 2>/dev/null || echo 0)))
    fi
  done
  times >"$WORK/.times"
  ours=$((ours + $(tail -n 1 "$WORK/.times" | awk -v hz="$CLK_TCK" '
    function secs(t,  m) { m = t; sub(/m.*/, "", m); sub(/^[0-9]+m/, "", t); sub(/s$/, "", t); return m * 60 + t }
    { printf "%d", secs($1) * hz }')))
  echo "$busy $ours"
}
cpu_mark() {
  CPU_MARK="$(cpu_ticks) $(epoch_ms)"
}
other_cores() {
  local now
  now="$(cpu_ticks) $(epoch_ms)"
  awk -v hz="$CLK_TCK" -v a="$CPU_MARK" -v b="$now" 'BEGIN {
    split(a, x, " "); split(b, y, " ")
    other = (y[1] - x[1]) - (y[2] - x[2]); if (other < 0) other = 0
    secs = (y[3] - x[3]) / 1000; if (secs <= 0) secs = 1
    printf "%.2f", other / hz / secs
  }'
}
# The kernel's count of connections dropped because a listener's accept
# queue was full (machine-wide), when nstat is there.
listen_overflows() {
  if command -v nstat >/dev/null; then
    nstat -az TcpExtListenOverflows 2>/dev/null | awk '$1 == "TcpExtListenOverflows" { print $2 }'
  fi
}

# Sets DROVER to the release binary, building it unless DROVER_BIN is set.
build_drover() {
  if [[ -n "${DROVER_BIN:-}" ]]; then
    DROVER="$DROVER_BIN"
  else
    log "building drover (release)"
    (cd "$REPO" && cargo build --release -p drover-node) >"$WORK/build.log" 2>&1 ||
      die "cargo build failed; see $WORK/build.log"
    DROVER="${CARGO_TARGET_DIR:-$REPO/target}/release/drover"
  fi
  [[ -x "$DROVER" ]] || die "no drover binary at $DROVER"
}

port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

drover_addr() { echo "127.0.0.1:$((DROVER_PORT + $1 - 1))"; }
# shellcheck disable=SC2034 # used by the scripts that source this
DROVER_ADDRS="$(drover_addr 1),$(drover_addr 2),$(drover_addr 3)"

# Writes node.toml for control-only nodes 1..3, peers of each other.
write_drover_configs() {
  local i j
  for i in 1 2 3; do
    port_free "$((DROVER_PORT + i - 1))" || die "port $((DROVER_PORT + i - 1)) is in use (set DROVER_PORT)"
    mkdir -p "$WORK/data/drover-$i"
    {
      echo "id = $i"
      echo "listen = \"$(drover_addr "$i")\""
      echo "data_dir = \"$WORK/data/drover-$i\""
      echo 'role = "control"'
      echo 'docker = "off"'
      for j in 1 2 3; do
        printf '\n[[peers]]\nid = %s\naddr = "%s"\n' "$j" "$(drover_addr "$j")"
      done
    } >"$WORK/drover-$i.toml"
  done
}

start_drover_node() {
  start "drover-$1" "$DROVER" agent --config "$WORK/drover-$1.toml"
}

# Stops the three nodes (SIGKILL: nothing of theirs is kept) and removes
# their data, so the next start_drover_node begins a fresh cluster.
stop_drover_cluster() {
  local i
  for i in 1 2 3; do
    [[ -n "${STARTED[drover-$i]:-}" ]] || continue
    kill -9 "${STARTED[drover-$i]}" 2>/dev/null || true
    wait "${STARTED[drover-$i]}" 2>/dev/null || true
    unset "STARTED[drover-$i]"
    rm -rf "$WORK/data/drover-$i"
    mkdir -p "$WORK/data/drover-$i"
  done
}

# One node's `cluster status --json`, or nothing if it does not answer.
drover_status() {
  timeout 5 "$DROVER" cluster status --addr "$(drover_addr "$1")" --json 2>/dev/null || true
}

# The id a node's status names as leader (empty if none), and its own state.
json_field() {
  # $1: JSON text, $2: top-level field; numbers and strings only.
  sed -n "s/.*\"$2\":\"\{0,1\}\([^\",}]*\)\"\{0,1\}[,}].*/\1/p" <<<"$1"
}

# Prints the id of a node that reports itself leader, among $@ (default
# all three); empty if none does.
drover_leader() {
  local i doc nodes=("$@")
  [[ ${#nodes[@]} -gt 0 ]] || nodes=(1 2 3)
  for i in "${nodes[@]}"; do
    doc="$(drover_status "$i")"
    if [[ -n "$doc" && "$(json_field "$doc" state)" == "Leader" ]]; then
      echo "$i"
      return
    fi
  done
}

# Waits until every node answers and all name the same leader.
wait_drover_ready() {
  local deadline=$((SECONDS + ${1:-60})) i doc leader seen
  while ((SECONDS < deadline)); do
    seen=""
    for i in 1 2 3; do
      doc="$(drover_status "$i")"
      leader="$(json_field "$doc" leader)"
      if [[ -z "$doc" || -z "$leader" || "$leader" == "null" ]]; then
        seen="no"
        break
      fi
      [[ -z "$seen" || "$seen" == "$leader" ]] || seen="no"
      [[ "$seen" == "no" ]] && break
      seen="$leader"
    done
    if [[ -n "$seen" && "$seen" != "no" ]]; then
      echo "$seen"
      return 0
    fi
    sleep 0.2
  done
  return 1
}
