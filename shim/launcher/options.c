/* options.c: parsing the launcher's command line. Bad input: one line, usage hint, exit 64. */
#define _GNU_SOURCE
#include "options.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "channel.h"
#include "envparse.h"

void options_usage(void)
{
    fputs("usage: hotswap [OPTIONS] -- COMMAND [ARGS...]   run COMMAND, reload it on SIGHUP\n"
          "       hotswap reload [--wait ready|drained] [--pid PID | --control PATH]\n"
          "                      [-- COMMAND [ARGS...]]\n"
          "                       start a new generation (with a new command line), drain the old\n"
          "       hotswap stop   [--pid PID | --control PATH]  drain and stop, the launcher exits\n"
          "       hotswap rollback [--pid PID | --control PATH]  the parked generation (--keep-old)\n"
          "                       serves again, the one serving drains\n"
          "       hotswap try [--reloads N] [--http PATH | --connect-only] [--timeout DUR] [OPTIONS]\n"
          "                       ADDR -- COMMAND...\n"
          "                       will it work? runs COMMAND, loads ADDR, reloads N times (10),\n"
          "                       and says what was lost and why; exit 0 only if nothing was;\n"
          "                       all within DUR (default 5m; then it stops, and says so)\n"
          "       hotswap status [--json | --prometheus] [--pid PID | --control PATH]  generations,\n"
          "                       connections, listeners (--prometheus: metrics, text exposition format)\n"
          "\n"
          "options:\n"
          "  --ready-timeout DUR  a new generation must be ready within DUR (default 30s)\n"
          "  --ready HOW          when a generation is ready: accept (default: its first wait for\n"
          "                       connections) or notify (it sends READY=1 to its NOTIFY_SOCKET;\n"
          "                       until then its listeners take no connection)\n"
          "  --drain-timeout DUR  an old generation may drain for DUR, then is stopped (default 30s)\n"
          "  --datagram-timeout DUR  a UDP datagram the old generation has not answered DUR into\n"
          "                       its drain is no longer owed a reply (default 1s)\n"
          "  --keep-old DUR       keep the drained old generation parked for DUR after a reload\n"
          "                       (default 0: stopped), for hotswap rollback; a new generation\n"
          "                       that dies meanwhile brings it back at once\n"
          "  --max-draining N     generations draining at once, at most (default 2): past it\n"
          "                       the oldest is cut (reloads back to back)\n"
          "  --overlap WHEN       auto (default): a new generation starts beside the old one\n"
          "                       until one fails on a lock, pid file or data file the old\n"
          "                       one holds, then reloads go in sequence; never: always in\n"
          "                       sequence (the old one drains and stops, listeners held, then\n"
          "                       the new one starts); always: never in sequence\n"
          "  --kill-timeout DUR   SIGKILL a generation DUR after its stop signal (default 10s)\n"
          "  --stop-signal SIG    signal that stops a drained generation (default TERM)\n"
          "  --drain-signal SIG   signal the shim drains on (default RTMIN+10)\n"
          "  --graceful-signal SIG  once the new generation serves, send SIG to the old one's\n"
          "                       command (nginx QUIT, haproxy USR1, apache WINCH, most TERM):\n"
          "                       it ends its connections with its protocol's own goodbye\n"
          "  --handover-idle      during a drain, pass idle keep-alive connections to the new\n"
          "                       generation instead of closing them (stateless protocols only)\n"
          "  --idle-close MODE    which connections a drain ends once idle: turn (default: HTTP/1.x\n"
          "                       by its framing, any other once the server spoke last and the\n"
          "                       client acknowledged it and sent nothing), http (HTTP/1.x by its\n"
          "                       framing only; on the seccomp route none), never (none: each ends\n"
          "                       by its client or at --drain-timeout)\n"
          "  --socket-activation  also hand the listeners over as systemd does (LISTEN_FDS,\n"
          "                       LISTEN_PID, LISTEN_FDNAMES), for a server that adopts them itself\n"
          "  --kill-mode MODE     whom the stop signal reaches: control-group (default: every\n"
          "                       process of the generation) or mixed (the command's process; the\n"
          "                       rest once it has exited, as systemd's KillMode=mixed)\n"
          "  --intercept ROUTE    how the server's socket calls are reached: preload (the shim),\n"
          "                       seccomp (a filter the launcher answers), or auto (default:\n"
          "                       seccomp for Go and statically linked programs)\n"
          "  --track HOW          how the launcher knows a generation's processes: cgroup (a\n"
          "                       cgroup v2 group each), tree (/proc), or auto (default: cgroup\n"
          "                       where one can be made)\n"
          "  --restart POLICY     replace a generation that dies outside a reload: on-failure\n"
          "                       (default; not after exit 0), always, or never (the launcher exits)\n"
          "  --restart-max-backoff DUR  restarts in a row wait 100ms, doubling up to DUR (default 10s)\n"
          "  --check 'CMD ...'    run CMD (sh -c) before each reload; the reload goes on only if\n"
          "                       it exits 0 within --ready-timeout (nginx -t, haproxy -c ...)\n"
          "  --env-file FILE      KEY=VALUE lines set for each generation, read again at every\n"
          "                       reload (a malformed line refuses the reload)\n"
          "  --control PATH       control socket (default $XDG_RUNTIME_DIR/hotswap/PID.sock,\n"
          "                       /run/hotswap/PID.sock for root, else /tmp/hotswap-UID/PID.sock)\n"
          "  --pid PID            (reload, stop, status) the launcher to talk to (default: the\n"
          "                       one running here, if there is just one)\n"
          "  --wait WHAT          (reload) return once the new generation serves (ready), or once\n"
          "                       the old one is gone too (drained, the default)\n"
          "  --json               (status) one JSON object instead of the table\n"
          "  --prometheus         (status) metrics in Prometheus's text format instead of the table\n"
          "  --shim PATH          libhotswap.so to preload (default: beside hotswap, or ../lib/)\n"
          "  -h, --help           this text\n"
          "  -V, --version        the version\n"
          "DUR: a number of seconds, or with a unit: 500ms, 2s, 1m.\n"
          "systemd: NOTIFY_SOCKET gets READY=1, RELOADING=1, STOPPING=1, STATUS=; listeners passed\n"
          "to hotswap by socket activation (LISTEN_FDS) are held and handed to every generation.\n",
          stdout);
}

static void __attribute__((noreturn, format(printf, 1, 2))) usage_error(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    fputs("hotswap: ", stderr);
    vfprintf(stderr, fmt, args);
    fputs(" (see hotswap --help)\n", stderr);
    va_end(args);
    exit(EXIT_USAGE);
}

static int64_t parse_duration(const char *option, const char *text)
{
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    double scale = 1000;
    if (strcmp(end, "ms") == 0)
        scale = 1;
    else if (strcmp(end, "s") == 0 || *end == '\0')
        scale = 1000;
    else if (strcmp(end, "m") == 0)
        scale = 60000;
    else
        end = NULL;
    if (!end || end == text || errno || value < 0 || value * scale > 86400000.0 * 7)
        usage_error("%s: '%s' is not a duration (like 500ms, 2s, 1m)", option, text);
    return (int64_t)(value * scale);
}

int signal_from_name(const char *name)
{
    static const struct {
        const char *name;
        int number;
    } names[] = {
        {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT},   {"KILL", SIGKILL}, {"USR1", SIGUSR1},
        {"USR2", SIGUSR2}, {"TERM", SIGTERM}, {"WINCH", SIGWINCH}, {"URG", SIGURG},   {"PIPE", SIGPIPE},
        {"ALRM", SIGALRM}, {"CONT", SIGCONT}, {"STOP", SIGSTOP},   {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN},
        {"TTOU", SIGTTOU}, {"CHLD", SIGCHLD}, {"SEGV", SIGSEGV},   {"BUS", SIGBUS},   {"FPE", SIGFPE},
        {"ILL", SIGILL},   {"ABRT", SIGABRT}, {"TRAP", SIGTRAP},   {"SYS", SIGSYS},
    };
    if (strncasecmp(name, "SIG", 3) == 0)
        name += 3;
    char *end;
    if (*name >= '0' && *name <= '9') {
        long number = strtol(name, &end, 10);
        return (*end || number < 1 || number > SIGRTMAX) ? -1 : (int)number;
    }
    if (strncasecmp(name, "RTMIN", 5) == 0) {
        long offset = name[5] ? strtol(name + 5, &end, 10) : 0;
        if ((name[5] && *end) || offset < 0 || SIGRTMIN + offset > SIGRTMAX)
            return -1;
        return SIGRTMIN + (int)offset;
    }
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(name, names[i].name) == 0)
            return names[i].number;
    return -1;
}

/* A signal the server can be sent; not one that would break it (envparse.c: signal_usable). */
static int parse_signal(const char *option, const char *text)
{
    int number = signal_from_name(text);
    if (number < 0)
        usage_error("%s: '%s' is not a signal (like TERM, 15, RTMIN+10)", option, text);
    if (!signal_usable(number))
        usage_error("%s: '%s' is not a usable signal: it would break the server "
                    "(not KILL, STOP, TSTP, TTIN, TTOU, PIPE, CHLD, SEGV, BUS, FPE, ILL, ABRT, TRAP or SYS)",
                    option, text);
    return number;
}

static int parse_count(const char *option, const char *text, long low, long high)
{
    long value;
    if (!env_parse_count(text, high, &value) || value < low)
        usage_error("%s: '%s' is not a whole number from %ld to %ld", option, text, low, high);
    return (int)value;
}

static int parse_pid(const char *text)
{
    char *end;
    long pid = strtol(text, &end, 10);
    if (!*text || *end || pid < 1 || pid > 4194304)
        usage_error("--pid: '%s' is not a process id", text);
    return (int)pid;
}

const char *default_control_path(int pid, char *buf, unsigned size)
{
    const char *runtime = getenv("XDG_RUNTIME_DIR");
    if (runtime && runtime[0] == '/')
        snprintf(buf, size, "%s/hotswap/%d.sock", runtime, pid);
    else if (geteuid() == 0)
        snprintf(buf, size, "/run/hotswap/%d.sock", pid);
    else
        snprintf(buf, size, "/tmp/hotswap-%u/%d.sock", (unsigned)geteuid(), pid);
    return buf;
}

/* An option's value: "--opt VALUE" or "--opt=VALUE". */
static const char *option_value(int argc, char **argv, int *i, const char *name)
{
    size_t len = strlen(name);
    if (strncmp(argv[*i], name, len) == 0 && argv[*i][len] == '=')
        return argv[*i] + len + 1;
    if (*i + 1 >= argc)
        usage_error("%s needs a value", name);
    return argv[++*i];
}

static bool is_option(const char *arg, const char *name)
{
    size_t len = strlen(name);
    return strncmp(arg, name, len) == 0 && (arg[len] == '\0' || arg[len] == '=');
}

/* `value` among `names` (its index, an enum's value), or a usage error naming the choices. */
static int parse_choice(const char *option, const char *value, const char *what, const char *const names[],
                        size_t count)
{
    char choices[128] = "";
    for (size_t i = 0; i < count; i++) {
        if (strcmp(value, names[i]) == 0)
            return (int)i;
        snprintf(choices + strlen(choices), sizeof choices - strlen(choices), "%s%s", i ? ", " : "", names[i]);
    }
    usage_error("%s: '%s' is not %s (%s)", option, value, what, choices);
}

#define CHOICE(option, value, what, ...)                                  \
    parse_choice(option, value, what, (const char *const[]){__VA_ARGS__}, \
                 sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

/* The subcommand, if argv[1] names one: the index of the first argument after it. */
static int parse_command(int argc, char **argv, struct options *opt)
{
    if (argc < 2 || argv[1][0] == '-')
        return 1;
    if (strcmp(argv[1], "reload") == 0)
        opt->command = CMD_RELOAD;
    else if (strcmp(argv[1], "stop") == 0)
        opt->command = CMD_STOP;
    else if (strcmp(argv[1], "rollback") == 0)
        opt->command = CMD_ROLLBACK;
    else if (strcmp(argv[1], "try") == 0)
        opt->command = CMD_TRY;
    else if (strcmp(argv[1], "status") == 0)
        opt->command = CMD_STATUS;
    else
        usage_error("unknown command '%s'; to run a server: hotswap -- %s ...", argv[1], argv[1]);
    return 2;
}

/* The options that take a value, at argv[*i] (which moves past the value). False: not one. */
static bool parse_valued_option(int argc, char **argv, int *i, struct options *opt, bool *restart_given)
{
    const char *arg = argv[*i];
#define VALUE(name) option_value(argc, argv, i, name)
    if (is_option(arg, "--ready-timeout"))
        opt->gen.ready_timeout_ms = parse_duration("--ready-timeout", VALUE("--ready-timeout"));
    else if (is_option(arg, "--ready"))
        opt->gen.ready_notify = CHOICE("--ready", VALUE("--ready"), "a readiness", "accept", "notify") == 1;
    else if (is_option(arg, "--keep-old"))
        opt->gen.keep_old_ms = parse_duration("--keep-old", VALUE("--keep-old"));
    else if (is_option(arg, "--drain-timeout"))
        opt->gen.drain_timeout_ms = parse_duration("--drain-timeout", VALUE("--drain-timeout"));
    else if (is_option(arg, "--datagram-timeout"))
        opt->gen.datagram_timeout_ms = parse_duration("--datagram-timeout", VALUE("--datagram-timeout"));
    else if (is_option(arg, "--kill-timeout"))
        opt->gen.kill_timeout_ms = parse_duration("--kill-timeout", VALUE("--kill-timeout"));
    else if (is_option(arg, "--stop-signal"))
        opt->gen.stop_signal = parse_signal("--stop-signal", VALUE("--stop-signal"));
    else if (is_option(arg, "--drain-signal"))
        opt->gen.drain_signal = parse_signal("--drain-signal", VALUE("--drain-signal"));
    else if (is_option(arg, "--graceful-signal"))
        opt->gen.graceful_signal = parse_signal("--graceful-signal", VALUE("--graceful-signal"));
    else if (is_option(arg, "--kill-mode"))
        opt->gen.stop_main_first = CHOICE("--kill-mode", VALUE("--kill-mode"), "a mode", "control-group", "mixed") == 1;
    else if (is_option(arg, "--intercept"))
        opt->gen.intercept =
            (enum intercept_mode)CHOICE("--intercept", VALUE("--intercept"), "a route", "auto", "preload", "seccomp");
    else if (is_option(arg, "--overlap"))
        opt->overlap = (enum overlap)CHOICE("--overlap", VALUE("--overlap"), "an overlap", "auto", "never", "always");
    else if (is_option(arg, "--idle-close"))
        opt->gen.idle_close =
            (enum idle_close)CHOICE("--idle-close", VALUE("--idle-close"), "a mode", "turn", "http", "never");
    else if (is_option(arg, "--track"))
        opt->track = (enum track_mode)CHOICE("--track", VALUE("--track"), "a way to track", "auto", "cgroup", "tree");
    else if (is_option(arg, "--restart-max-backoff"))
        opt->restart_max_backoff_ms = parse_duration("--restart-max-backoff", VALUE("--restart-max-backoff"));
    else if (is_option(arg, "--restart"))
        opt->restart = (enum restart_policy)parse_choice("--restart", VALUE("--restart"), "a policy",
                                                         restart_policy_names, RESTART_POLICIES);
    else if (is_option(arg, "--control"))
        opt->control_path = VALUE("--control");
    else if (is_option(arg, "--max-draining"))
        opt->max_draining = parse_count("--max-draining", VALUE("--max-draining"), 1, MAX_DRAINING_LIMIT);
    else if (is_option(arg, "--env-file"))
        opt->env_file = VALUE("--env-file");
    else if (is_option(arg, "--check"))
        opt->check_command = VALUE("--check");
    else if (is_option(arg, "--shim"))
        opt->shim_path = VALUE("--shim");
    else if (opt->command == CMD_TRY && is_option(arg, "--reloads"))
        opt->try_reloads = parse_count("--reloads", VALUE("--reloads"), 1, 1000);
    else if (opt->command == CMD_TRY && is_option(arg, "--timeout"))
        opt->try_timeout_ms = parse_duration("--timeout", VALUE("--timeout"));
    else if (opt->command == CMD_TRY && is_option(arg, "--http")) {
        opt->try_http_path = VALUE("--http");
        if (opt->try_http_path[0] != '/' || strpbrk(opt->try_http_path, " \r\n"))
            usage_error("--http: '%s' is not a path (/..., no spaces)", opt->try_http_path);
    } else if (opt->command == CMD_RELOAD && is_option(arg, "--wait"))
        opt->wait_ready = CHOICE("--wait", VALUE("--wait"), "what to wait for", "drained", "ready") == 1;
    else if (is_option(arg, "--pid"))
        opt->target_pid = parse_pid(VALUE("--pid"));
    else
        return false;
#undef VALUE
    if (is_option(arg, "--restart") || is_option(arg, "--restart-max-backoff"))
        *restart_given = true;
    return true;
}

/* What the options cannot be together, once all are read; `rest` is the index after "--". */
static void check_combination(int argc, char **argv, int rest, struct options *opt, bool restart_given)
{
    if (opt->command == CMD_TRY) {
        if (!opt->try_addr)
            usage_error("try: give the address the server listens on: hotswap try ADDR -- COMMAND...");
        if (rest >= argc)
            usage_error("try: no server command given: hotswap try %s -- COMMAND...", opt->try_addr);
        if (opt->target_pid || opt->control_path)
            usage_error("try runs a launcher of its own: no --pid or --control");
        opt->argv = argv + rest;
    } else if (opt->command == CMD_RUN) {
        if (rest >= argc)
            usage_error("no server command given");
        if (opt->target_pid)
            usage_error("--pid is for 'hotswap reload', 'hotswap stop' and 'hotswap status'");
        if (opt->overlap == OVERLAP_NEVER && opt->gen.keep_old_ms > 0)
            usage_error("--keep-old and --overlap never: in sequence the old generation is stopped before the new "
                        "one starts, so none is kept to roll back to");
        if (opt->gen.graceful_signal && opt->gen.keep_old_ms > 0)
            usage_error("--keep-old and --graceful-signal: the old generation would stop itself on its graceful "
                        "signal, so none is kept to roll back to");
        opt->argv = argv + rest;
    } else if (restart_given) {
        usage_error("--restart and --restart-max-backoff are for running a server");
    } else if (opt->check_command || opt->env_file) {
        usage_error("%s is for running a server", opt->check_command ? "--check" : "--env-file");
    } else if (rest < argc && opt->command == CMD_RELOAD) {
        opt->argv = argv + rest; /* the next generation's new command line */
    } else if (rest < argc) {
        usage_error("'hotswap %s' takes no command", argv[1]);
    } else if (opt->target_pid && opt->control_path) {
        usage_error("give --pid or --control, not both");
    }
}

void options_parse(int argc, char **argv, struct options *opt)
{
    *opt = (struct options){
        .command = CMD_RUN,
        .gen =
            {
                .ready_timeout_ms = 30000,
                .drain_timeout_ms = 30000,
                .datagram_timeout_ms = 1000,
                .kill_timeout_ms = 10000,
                .stop_signal = SIGTERM,
                .drain_signal = SIGRTMIN + HS_DEFAULT_DRAIN_SIGNAL_OFFSET,
            },
        .max_draining = 2,
        .restart = RESTART_ON_FAILURE,
        .restart_max_backoff_ms = RESTART_DEFAULT_MAX_BACKOFF_MS,
        .try_reloads = 10,
        .try_timeout_ms = 300000,
        .try_http_path = "/",
    };
    bool restart_given = false;
    int i = parse_command(argc, argv, opt);
    for (; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--") == 0) {
            i++;
            break;
        } else if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            opt->command = CMD_HELP;
            return;
        } else if (strcmp(arg, "-V") == 0 || strcmp(arg, "--version") == 0) {
            opt->command = CMD_VERSION;
            return;
        } else if (parse_valued_option(argc, argv, &i, opt, &restart_given)) {
            continue;
        } else if (strcmp(arg, "--handover-idle") == 0) {
            opt->gen.handover_idle = true;
        } else if (opt->command == CMD_TRY && strcmp(arg, "--connect-only") == 0) {
            opt->try_connect_only = true;
        } else if (opt->command == CMD_TRY && !opt->try_addr && arg[0] != '-') {
            opt->try_addr = arg;
            opt->try_addr_index = i;
        } else if (strcmp(arg, "--socket-activation") == 0) {
            opt->gen.socket_activation = true;
        } else if (strcmp(arg, "--json") == 0 || strcmp(arg, "--prometheus") == 0) {
            if (opt->command != CMD_STATUS)
                usage_error("%s is for 'hotswap status'", arg);
            *(arg[2] == 'j' ? &opt->json : &opt->prometheus) = true;
            if (opt->json && opt->prometheus)
                usage_error("give --json or --prometheus, not both");
        } else if (arg[0] == '-') {
            usage_error("unknown option '%s'", arg);
        } else if (opt->command == CMD_RUN) {
            usage_error("put '--' before the server command: hotswap [OPTIONS] -- %s", arg);
        } else {
            usage_error("unexpected argument '%s'", arg);
        }
    }
    check_combination(argc, argv, i, opt, restart_given);
}
