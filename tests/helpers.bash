# helpers.bash: shared by the suites. Everything waits for a condition with a deadline; nothing
# sleeps and hopes.

BUILD="${HOTSWAP_BUILD:-build}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HOTSWAP="${HOTSWAP_BIN:-$ROOT/$BUILD/hotswap}"   # HOTSWAP_BIN: an installed one (tests/package)
SHIM="$ROOT/$BUILD/libhotswap.so"
FIXTURE="$ROOT/$BUILD/fixture-server"
PATTERN_SERVER="$ROOT/$BUILD/pattern-server"
LOADCLIENT="$ROOT/$BUILD/loadclient"

# refute COMMAND...: fails (saying so) if COMMAND succeeds. A bare `! COMMAND` asserts nothing in
# the middle of a bats test (errexit ignores a negated command); tests/layout.bats forbids it.
refute() {
    if "$@"; then
        echo "expected to fail, but succeeded: $*" >&2
        return 1
    fi
}

# wait_until SECONDS COMMAND...: run COMMAND every 50 ms until it succeeds; fail at the deadline.
wait_until() {
    local seconds=$1; shift
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            echo "timed out after ${seconds}s waiting for: $*" >&2
            return 1
        fi
        sleep 0.05
    done
}

# A TCP port no socket uses, on any address. Asked of the kernel with a filter (sock_diag, by
# ss): /proc/net/tcp writes every socket out as text, and beside a suite whose load leaves 100,000
# sockets in TIME_WAIT each read took a fifth of a second (a test that picks 128 ports took 74 s).
# Outside the kernel's ephemeral range: a port in it, free when picked, is any client's to take
# (the loads beside make thousands of connections a second), and a server that binds it seconds
# later (yaws, slow to start on a busy machine) found it in use, again at every restart.
read -r EPHEMERAL_LOW EPHEMERAL_HIGH </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null ||
    EPHEMERAL_LOW=32768 EPHEMERAL_HIGH=60999
if ((EPHEMERAL_LOW - 20000 >= 4000)); then
    PORT_FIRST=20000 PORT_COUNT=$((EPHEMERAL_LOW - 20000))
else
    PORT_FIRST=$((EPHEMERAL_HIGH + 1)) PORT_COUNT=$((65535 - EPHEMERAL_HIGH))
fi
((PORT_COUNT >= 1000)) || PORT_FIRST=20000 PORT_COUNT=30000 # a host with no room outside it
free_port() {
    local port
    while :; do
        port=$((PORT_FIRST + (RANDOM * 32768 + RANDOM) % PORT_COUNT))
        if [[ -z "$(ss -Htan "( sport = :$port )" 2>/dev/null)" ]]; then
            echo "$port"
            return
        fi
    done
}

# A process that is gone, or a zombie waiting to be reaped, no longer counts as running.
process_running() {
    local state
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n "$state" && "$state" != Z && "$state" != X ]]
}

process_gone() { ! process_running "$1"; }

# Stopping what a test started, by pid: never by name, so that two suites can run at once.
# Every process a test starts (and what those start, unless they clear their environment) carries
# this tag, so that teardown finds whatever is left however it was started: an orphan of a killed
# launcher, a second launcher in the same test, a prefork worker whose parent is gone.
export TEST_RUN_TAG="${BATS_TEST_TMPDIR:-}"

# tagged: the processes this test started that are still there (its own shell aside).
tagged() {
    [[ -n "$TEST_RUN_TAG" ]] || return 0
    grep -lzxF "TEST_RUN_TAG=$TEST_RUN_TAG" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3 | grep -vx "$BASHPID"
}

# descendants PID...: every process descended from the PIDs, one per line.
descendants() {
    ps -e -o pid=,ppid= | awk -v roots="$*" '
        BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) mine[r[i]] = 0 }
        { parent[$1] = $2 }
        END {
            do { grew = 0
                 for (p in parent) if (!(p in mine) && (parent[p] in mine)) { mine[p] = 1; grew = 1 }
            } while (grew)
            for (p in mine) if (mine[p]) print p
        }'
}

# holders ADDR: the processes that hold a TCP or UDP socket on ADDR's local port, as the kernel
# shows them (a server that cleared its environment still holds its listener).
holders() {
    local port=${1##*:}
    [[ "$port" =~ ^[0-9]+$ ]] || return 0
    ss -Htuanp "( sport = :$port )" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u
}

# kill_all PID...: SIGKILL to the PIDs and every process descended from them (all found first).
kill_all() {
    (($#)) || return 0
    local pids
    pids=$(descendants "$@")
    kill -KILL "$@" $pids 2>/dev/null || true
}

# stop_leftovers [ADDR...]: SIGKILL to whatever this test started that is still running, and to
# whatever holds the ADDRs.
stop_leftovers() {
    local addr left=()
    mapfile -t left < <(tagged)
    for addr in "$@"; do mapfile -t -O "${#left[@]}" left < <(holders "$addr"); done
    kill_all "${left[@]}"
}

# get ADDR PATH: one request; prints the body ("gen=G pid=P").
get() { "$LOADCLIENT" --connect "$1" --get "${2:-/}" --timeout-ms 3000; }

# generation_of ADDR: the generation that answers now.
generation_of() { get "$1" | sed -n 's/^gen=\([0-9]*\) .*/\1/p'; }

answers_with_gen() { [[ "$(generation_of "$1")" == "$2" ]]; }

# start_hotswap ADDR [hotswap options...] -- fixture options...: starts the launcher in the
# background (HS_PID), its log in HS_LOG; waits until generation 1 answers on ADDR. The server is
# the fixture server, or HS_SERVER (the pattern server). HS_NOFILE=N: the launcher, and so every
# generation, runs with an fd limit of N (prlimit: the kernel's own limit, soft and hard).
start_hotswap() {
    local addr=$1; shift
    local opts=() fixture_args=()
    while (($#)) && [[ "$1" != -- ]]; do opts+=("$1"); shift; done
    [[ "${1:-}" == -- ]] && shift
    fixture_args=("$@")
    HS_ADDR=$addr
    HS_LOG="$BATS_TEST_TMPDIR/hotswap.log"
    HS_CONTROL="$BATS_TEST_TMPDIR/control.sock"
    local limit=()
    [[ -z "${HS_NOFILE:-}" ]] || limit=(prlimit --nofile="$HS_NOFILE" --)
    "${limit[@]}" "$HOTSWAP" --control "$HS_CONTROL" "${opts[@]}" -- "${HS_SERVER:-$FIXTURE}" --listen "$addr" \
        "${fixture_args[@]}" 2>"$HS_LOG" &
    HS_PID=$!
    wait_until 10 answers_with_gen "$addr" 1 || { cat "$HS_LOG" >&2; return 1; }
}

reload() { "$HOTSWAP" reload --control "$HS_CONTROL"; }

# reloads_in_sequence COUNT FIRST_GEN [ADDR]: COUNT reloads, each done (exit 0) in sequence, the
# first with generation FIRST_GEN ready, each next with the one after; with ADDR, that generation
# answers there after each.
reloads_in_sequence() {
    local count=$1 gen=$2 addr=${3:-} i
    for ((i = 1; i <= count; i++)); do
        run reload
        [ "$status" -eq 0 ] || { echo "reload $i: $output"; return 1; }
        [[ "$output" == *"ok: in sequence: gen $gen ready in"* ]] || { echo "reload $i: $output"; return 1; }
        [[ -z "$addr" ]] || [ "$(generation_of "$addr")" = "$gen" ] || { echo "reload $i: gen $gen not answering"; return 1; }
        gen=$((gen + 1))
    done
}

# start_load ADDR [loadclient options...]: a closed-loop load in the background (LOAD_PID).
start_load() {
    local addr=$1; shift
    LOAD_OUT="$BATS_TEST_TMPDIR/load.out"
    "$LOADCLIENT" --connect "$addr" -c 8 -d 300 --out "$LOAD_OUT" "$@" >/dev/null &
    LOAD_PID=$!
}

# stop_load: stops the load; its summary line in LOAD_SUMMARY, its exit status in LOAD_STATUS.
# (Not under `run`: wait works only in the shell that started the load.)
stop_load() {
    kill -TERM "$LOAD_PID"
    LOAD_STATUS=0
    wait "$LOAD_PID" || LOAD_STATUS=$?
    LOAD_PID=
    LOAD_SUMMARY=$(cat "$LOAD_OUT")
    echo "load: $LOAD_SUMMARY (exit $LOAD_STATUS)"
}

# reload_times N CONNS [load options...]: N reloads of the server start_hotswap started, under a
# load of CONNS connections, the new generation answering after each; the load's summary in
# LOAD_SUMMARY.
reload_times() {
    local count=$1 conns=$2; shift 2
    start_load "$HS_ADDR" -c "$conns" "$@"
    for ((gen = 2; gen <= count + 1; gen++)); do
        run reload
        [ "$status" -eq 0 ] || { echo "reload to gen $gen: $output"; return 1; }
        [ "$(generation_of "$HS_ADDR")" = "$gen" ]
    done
    stop_load
    echo "# $LOAD_SUMMARY" >&3
    [ "$LOAD_STATUS" -eq 0 ]
}

# field NAME LINE: the value of NAME=... in a summary line.
field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"; }

# stop_hotswap: graceful stop; the launcher's exit status in HS_STATUS.
stop_hotswap() {
    kill -TERM "$HS_PID"
    HS_STATUS=0
    wait "$HS_PID" || HS_STATUS=$?
    HS_PID=
}

# teardown for every suite: nothing may outlive a test.
teardown_hotswap() {
    if [[ -n "${STOPPED_PID:-}" ]]; then kill -CONT "$STOPPED_PID" 2>/dev/null || true; fi
    if [[ -n "${LOAD_PID:-}" ]] && process_running "$LOAD_PID"; then kill -TERM "$LOAD_PID" 2>/dev/null || true; fi
    if [[ -n "${HS_PID:-}" ]] && process_running "$HS_PID"; then
        kill -TERM "$HS_PID" 2>/dev/null || true
        wait_until 20 process_gone "$HS_PID" || kill -KILL "$HS_PID" 2>/dev/null || true
    fi
    stop_leftovers ${HS_ADDR:+"$HS_ADDR"}
    # under `make test-asan`: any sanitizer report in the launcher's or the server's stderr fails
    if [[ -n "${HS_LOG:-}" && -f "$HS_LOG" ]] &&
        grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$HS_LOG"; then
        echo "--- sanitizer report" >&2; cat "$HS_LOG" >&2
        return 1
    fi
    if [[ -n "${HS_LOG:-}" && -f "$HS_LOG" && ( -z "${BATS_TEST_COMPLETED:-}" || -n "${DEBUG:-}" ) ]]; then
        echo "--- hotswap log" >&2; cat "$HS_LOG" >&2
    fi
}

# descends_from PID ANCESTOR: PID is ANCESTOR or one of its descendants.
descends_from() {
    local pid=$1
    while [[ -n "$pid" && "$pid" != 0 && "$pid" != 1 ]]; do
        [[ "$pid" == "$2" ]] && return 0
        pid=$(awk '{print $4}' "/proc/$pid/stat" 2>/dev/null)
    done
    return 1
}

# pid_of_answer ADDR: the pid that served a request.
pid_of_answer() { get "$1" | sed -n 's/.* pid=\([0-9]*\).*/\1/p'; }

# has_threads PID N, has_fds PID N: the process has at least N threads / open fds.
has_threads() { (($(ls "/proc/$1/task" | wc -l) >= $2)); }
has_fds() { (($(ls "/proc/$1/fd" | wc -l) >= $2)); }

# high_fd_limit: an fd limit far past 65536 (200000) where this machine lets it be raised (root
# with CAP_SYS_RESOURCE), else the hard limit as it is, said on the test's output. The high-fd
# quirks put fds just below the limit: past the shim's static tables (1024 fds) either way.
high_fd_limit() {
    if prlimit --nofile=200000 true 2>/dev/null; then
        echo 200000
    else
        echo "# note: the fd limit cannot be raised here; fds up to $(ulimit -Hn) only" >&3
        ulimit -Hn
    fi
}

# has_fd_above PID N: the process has an fd numbered above N open.
has_fd_above() { ls "/proc/$1/fd" | awk -v n="$2" '$1 > n { found = 1 } END { exit !found }'; }

# require_tool COMMAND PACKAGE: installs Debian's PACKAGE (apt-get) when COMMAND is missing.
require_tool() {
    command -v "$1" >/dev/null && return 0
    echo "installing $2 for $1 (apt-get)" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2"; } >/dev/null 2>&1
    command -v "$1" >/dev/null || { echo "cannot install $2" >&2; return 1; }
}

# status_of [--json]: `hotswap status` of the launcher start_hotswap started.
status_of() { "$HOTSWAP" status "$@" --control "$HS_CONTROL"; }

# cpu_ms PID: the CPU time PID's threads have used so far, in ms (/proc/PID/task/*/schedstat,
# in ns: finer than utime + stime's clock ticks).
cpu_ms() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{n += $1} END {printf "%d\n", n / 1e6}'; }

# runnable_ns PID[,PID...]: how long PID's threads have been running or ready to run (waiting for a CPU)
# so far, in ns (/proc/PID/task/*/schedstat: time on a CPU, time waiting on a run queue).
runnable_ns() {
    local pid
    for pid in ${1//,/ }; do cat /proc/"$pid"/task/*/schedstat 2>/dev/null; done | awk '{n += $1 + $2} END {printf "%d\n", n}'
}

# busy_percent PID[,PID...] SECONDS: the share of the next SECONDS that PID's threads spend running or
# ready to run, in whole percent of one core. A busy loop scores about 100 per spinning thread
# however few CPU cycles a loaded machine leaves it (utime + stime would not say: a spinning
# loop that waits for a CPU most of the time uses little); a process asleep in its waits, about
# 0. (A measurement over a fixed window: the one sleep that waits for no condition.)
busy_percent() {
    local before after start end
    before=$(runnable_ns "$1") start=$EPOCHREALTIME
    sleep "$2"
    after=$(runnable_ns "$1") end=$EPOCHREALTIME
    awk -v ns=$((after - before)) -v start="$start" -v end="$end" 'BEGIN { printf "%d\n", ns / 1e7 / (end - start) }'
}

# accept_queue ADDR: connections waiting in the accept queue of the listener on ADDR's port.
accept_queue() { ss -Hltn "( sport = :${1##*:} )" | awk '{n += $2} END {print n + 0}'; }
queued() { (($(accept_queue "$1") >= $2)); }

# serving PID ADDR N: PID holds at least N established connections on ADDR's port (kernel's view).
serving() { (($(ss -Htnp state established "( sport = :${2##*:} )" | grep -c "pid=$1,") >= $3)); }

# accepted_from PID CLIENT ADDR: PID holds the server's end of the connection that CLIENT (a pid)
# opened to ADDR (kernel's view). Under load an fd count cannot tell, and a connection still in
# the accept queue at a reload is the next generation's to take.
accepted_from() {
    local client_port
    client_port=$(ss -Htnp state established "( dport = :${3##*:} )" |
        awk -v who="pid=$2," 'index($0, who) { n = split($3, part, ":"); print part[n]; exit }')
    [[ -n $client_port ]] &&
        ss -Htnp state established "( sport = :${3##*:} and dport = :$client_port )" | grep -q "pid=$1,"
}

# hold_request_open ADDR: connects to ADDR (IPv4) and sends half a request, which keeps the
# generation that accepted it draining, however long a loaded machine takes, until
# finish_held_request sends the rest; that prints the answer.
hold_request_open() {
    exec {HELD_FD}<>"/dev/tcp/${1%:*}/${1##*:}"
    printf 'GET /held HTTP/1.0\r\n' >&"$HELD_FD"
}
finish_held_request() {
    printf '\r\n' >&"$HELD_FD"
    timeout 10 cat <&"$HELD_FD"
    exec {HELD_FD}>&-
}

# holds_listener PID ADDR: the kernel shows PID holding the listening socket on ADDR's port;
# lets_go_of_listener: it does not (a drained process has the dummy on the listener's fd number).
holds_listener() { ss -Hltnp "( sport = :${2##*:} )" | grep -q "pid=$1,"; }
lets_go_of_listener() { if holds_listener "$@"; then return 1; fi; }

# only_the_old_generation_accepts ADDR N: reload with N requests in flight on generation 1
# (OLD_PID, set by the caller, which started the requests and keeps them open: hold_request_open),
# then, once its drain has run, stop (SIGSTOP) generation 2 and queue one connection on the shared
# listener: from then on, a drained generation 1 is the only process that could take it. Sets
# NEW_PID (stopped: release_new_generation), QUEUED (the queued client; its answer in
# $BATS_TEST_TMPDIR/queued.body) and RELOADING.
only_the_old_generation_accepts() {
    local addr=$1 in_flight=$2
    wait_until 10 serving "$OLD_PID" "$addr" "$in_flight"
    reload >"$BATS_TEST_TMPDIR/reload.out" &
    RELOADING=$!
    wait_until 10 poked_until grep -q "gen 1 pid $OLD_PID draining" "$HS_LOG"
    wait_until 5 poked_until lets_go_of_listener "$OLD_PID" "$addr"
    NEW_PID=$(sed -n 's/.*gen 2 pid \([0-9]*\) ready in.*/\1/p' "$HS_LOG")
    [[ -n "$NEW_PID" ]]
    kill -STOP "$NEW_PID"
    STOPPED_PID=$NEW_PID
    "$LOADCLIENT" --connect "$addr" --get / --timeout-ms 30000 >"$BATS_TEST_TMPDIR/queued.body" &
    QUEUED=$!
    wait_until 5 queued_or_answered "$addr"
}

# poked_until COMMAND...: COMMAND, and where it fails, one request to HS_ADDR first. On the
# seccomp route an event loop's accept is what the launcher sees: the new generation is ready at
# its first, the old one lets go of the listener at its first after the drain began.
poked_until() { "$@" || { get "$HS_ADDR" >/dev/null; false; }; }

# queued_or_answered ADDR: the queued client's connection waits in the queue, or was answered
# (by generation 1: generation 2 is stopped).
queued_or_answered() { queued "$1" 1 || [[ -s "$BATS_TEST_TMPDIR/queued.body" ]]; }

# untaken ADDR: the queued connection is still in the queue, for generation 2 to take; what
# generation 1 answered, if it took it.
untaken() {
    if [[ -s "$BATS_TEST_TMPDIR/queued.body" ]]; then
        echo "generation 1 took the queued connection after its drain: $(cat "$BATS_TEST_TMPDIR/queued.body")"
        return 1
    fi
    queued "$1" 1
}

# release_new_generation: SIGCONT to the generation 2 only_the_old_generation_accepts stopped,
# which answers the queued client.
release_new_generation() {
    kill -CONT "$STOPPED_PID"
    STOPPED_PID=
    wait "$QUEUED"
    grep -q "^gen=2 pid=$NEW_PID" "$BATS_TEST_TMPDIR/queued.body"
}
