# bench/lib.sh: shared by the benchmarks. Sourced, not run.
BUILD=${HOTSWAP_BUILD:-build}
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
ROOT=$PWD
HOTSWAP="$ROOT/$BUILD/hotswap"
FIXTURE="$ROOT/$BUILD/fixture-server"
LOADCLIENT="$ROOT/$BUILD/loadclient"
WORK=$(mktemp -d /tmp/hotswap-bench.XXXXXX)
PIDS=()
HOGS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}" "${HOGS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    # and, by pid, anything still holding a port a benchmark used
    local port left
    for port in $(cat "$WORK/ports" 2>/dev/null); do
        left=$(ss -Htuanp "( sport = :$port )" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2)
        [ -n "$left" ] && kill -KILL $left 2>/dev/null
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

progress() { echo "bench: $*" >&2; }

# start_hogs / stop_hogs: two busy loops on the machine meanwhile, as every test must pass beside
start_hogs() { sh -c 'while :; do :; done' & HOGS+=($!); sh -c 'while :; do :; done' & HOGS+=($!); }
stop_hogs() { kill -TERM "${HOGS[@]}" 2>/dev/null; wait "${HOGS[@]}" 2>/dev/null; HOGS=(); }

free_port() {
    local port hex
    while :; do
        port=$((20000 + RANDOM % 30000))
        printf -v hex ':%04X ' "$port"
        if ! grep -qi "$hex" /proc/net/tcp /proc/net/tcp6 2>/dev/null; then
            echo "$port" >>"$WORK/ports"   # for cleanup, which runs in the parent shell
            echo "$port"
            return
        fi
    done
}

now_ms() { date +%s%3N; }

# wait_for SECONDS COMMAND...: poll until COMMAND succeeds; fail at the deadline.
wait_for() {
    local deadline=$(( $(now_ms) + $1 * 1000 )); shift
    until "$@" >/dev/null 2>&1; do
        (( $(now_ms) >= deadline )) && { echo "bench: timed out waiting for: $*" >&2; return 1; }
        sleep 0.02
    done
}

answers() { "$LOADCLIENT" --connect "$1" --get / --timeout-ms 1000; }
gone() { ! kill -0 "$1" 2>/dev/null || [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" == Z ]]; }
field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"; }

machine() {
    echo "$(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), Linux $(uname -r), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
}

# median and max of numbers on stdin
median_max() { sort -n | awk '{a[NR]=$1} END {if (NR==0) {print "- -"; exit} m = (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; print m, a[NR]}'; }
