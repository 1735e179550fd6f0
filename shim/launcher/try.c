/* try.c: `hotswap try`: will it work for my server? Runs the server under a launcher of its own
 * (a scratch control socket), drives a closed-loop load at it (tryload.c), reloads it N times,
 * stops it, and says what happened, and for each problem its likely cause and what addresses
 * it. Exit 0 only if nothing was lost. */
#define _GNU_SOURCE
#include "try.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "textsafe.h"
#include "tryload.h"

#define READY_WAIT_S 30
#define PIDS_MAX 256

static void sleep_ms(long ms)
{
    struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) < 0 && errno == EINTR)
        ;
}

/* try's own bound (--timeout): when everything must be over, and whether it was reached. */
static int64_t try_deadline_ms;
static bool out_of_time;

static int64_t time_left_ms(void)
{
    int64_t left = try_deadline_ms - now_ms();
    if (left <= 0)
        out_of_time = true;
    return left > 0 ? left : 0;
}

/* Runs this program with `args`; its last output line in `last` (stdout and stderr). At try's
 * bound it is stopped, and 124 returned (timeout(1)'s status). */
static int run_self(char *const args[], char *last, size_t size)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], 1);
        dup2(pipefd[1], 2);
        execv("/proc/self/exe", args);
        _exit(127);
    }
    close(pipefd[1]);
    char buf[4096], line[1024] = "";
    size_t used = 0;
    ssize_t n = 0;
    bool stopped = false;
    for (;;) {
        struct pollfd output = {.fd = pipefd[0], .events = POLLIN};
        int64_t left = time_left_ms();
        int ready = left > 0 ? poll(&output, 1, (int)(left < 1000 ? left : 1000)) : 0;
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready == 0 && pid > 0) {
            if (time_left_ms() > 0)
                continue;
            kill(pid, SIGTERM); /* the client goes; its reload goes on in the launcher */
            stopped = true;
            break;
        }
        if ((n = read(pipefd[0], buf, sizeof buf)) < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                line[used] = '\0';
                if (used)
                    snprintf(last, size, "%s", line);
                used = 0;
            } else if (used < sizeof line - 1) {
                line[used++] = buf[i];
            }
        }
    }
    close(pipefd[0]);
    int status = 0;
    while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (stopped)
        return 124;
    return pid < 0 ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Does the launcher's log hold `needle`? */
static bool log_says(const char *log_path, const char *needle, char *line_out, size_t size)
{
    FILE *f = fopen(log_path, "re");
    if (!f)
        return false;
    char line[2048];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        if (strcasestr(line, needle)) {
            found = true;
            if (line_out) {
                line[strcspn(line, "\n")] = '\0';
                snprintf(line_out, size, "%s", line);
            }
        }
    fclose(f);
    return found;
}

/* The launcher: stopped (its generations drain and stop), within try's bound; past it, killed,
 * with every process the log names as a generation's. */
static int left_running(const char *log_path, pid_t *left, int room);
static void stop_launcher(pid_t launcher, const char *log_path)
{
    kill(launcher, SIGTERM);
    /* at least a second for the stop itself, whatever is left of the bound */
    int64_t until = now_ms() + (time_left_ms() > 1000 ? time_left_ms() : 1000);
    int status;
    for (;;) {
        pid_t got = waitpid(launcher, &status, WNOHANG);
        if (got == launcher || (got < 0 && errno != EINTR))
            return;
        if (now_ms() >= until)
            break;
        sleep_ms(20);
    }
    out_of_time = true;
    kill(launcher, SIGKILL);
    while (waitpid(launcher, &status, 0) < 0 && errno == EINTR)
        ;
    pid_t left[64];
    int count = left_running(log_path, left, 64);
    for (int i = 0; i < count; i++)
        kill(left[i], SIGKILL);
}

/* Every pid the log names as a generation's ("gen N pid P"), alive still (not a zombie). */
static int left_running(const char *log_path, pid_t *left, int room)
{
    FILE *f = fopen(log_path, "re");
    if (!f)
        return 0;
    char line[2048];
    int count = 0;
    pid_t seen[PIDS_MAX];
    int seen_count = 0;
    while (fgets(line, sizeof line, f)) {
        int gen, pid;
        const char *at = strstr(line, "gen ");
        if (!at || sscanf(at, "gen %d pid %d", &gen, &pid) != 2)
            continue;
        bool known = false;
        for (int i = 0; i < seen_count; i++)
            known = known || seen[i] == pid;
        if (known || seen_count >= PIDS_MAX)
            continue;
        seen[seen_count++] = pid;
        char path[64], state = 'X';
        snprintf(path, sizeof path, "/proc/%d/stat", pid);
        FILE *stat = fopen(path, "re");
        if (stat) {
            if (fscanf(stat, "%*d (%*[^)]) %c", &state) != 1)
                state = 'X';
            fclose(stat);
        }
        if (stat && state != 'Z' && state != 'X' && count < room)
            left[count++] = pid;
    }
    fclose(f);
    return count;
}

/* A line of the launcher's log (or of a client's output) as try shows it. The launcher's own
 * lines are escaped already, but the server's stderr goes to the same log, raw: every byte
 * outside printable ASCII is escaped; backslashes are left as they are (the launcher's escapes). */
static const char *log_text(const char *line, char *buf, size_t size)
{
    textsafe_escape(buf, size, line, strlen(line), TEXTSAFE_KEEP_BACKSLASHES);
    return buf;
}

/* A problem, its likely cause, and what addresses it. */
static int problems;
static void problem(const char *what, const char *cause, const char *see)
{
    char shown[4096];
    problems++;
    printf("try: problem: %s\ntry:   likely cause: %s\ntry:   see: %s\n", log_text(what, shown, sizeof shown), cause,
           see);
}

/* A drain that ran to its timeout, and what held it, from the launcher's lines: "gen N cut ... at
 * the drain timeout (MS ms)[; pid P holds one, the shim counted S]", and "the kernel shows N
 * (pid P holds one)". */
static void explain_slow_drain(const char *log_path)
{
    char line[2048], waited[2048];
    if (!log_says(log_path, "at the drain timeout", line, sizeof line))
        return;
    const char *holds = strstr(line, "; pid ");
    int holder = 0;
    long counted = -1;
    if (holds)
        sscanf(holds, "; pid %d holds one, the shim counted %ld", &holder, &counted);
    const char *cut = strstr(line, " cut ");
    if (counted < 0 && !(cut && sscanf(cut, " cut %ld", &counted) == 1))
        counted = 0;
    bool unseen = log_says(log_path, "the shim counts no open connection, the kernel shows", waited, sizeof waited);
    char cause[512];
    if (strstr(line, "datagram") && !strstr(line, " 0 datagrams"))
        snprintf(cause, sizeof cause,
                 "the drain ran to its timeout: datagrams the old generation received were "
                 "still owed a reply (it answers slower than --datagram-timeout, or not at all)");
    else if (unseen || (holder && counted == 0))
        snprintf(cause, sizeof cause,
                 "the drain ran to its timeout: the kernel shows connections held by pid %d that "
                 "the shim never counted (received over a Unix socket, inherited, or the shim is not in that "
                 "process)",
                 holder);
    else
        snprintf(cause, sizeof cause,
                 "the drain ran to its timeout: %ld connection%s the shim counts but cannot "
                 "end (not plain HTTP/1.x it can frame: TLS, HTTP/2, a binary protocol; or a request still "
                 "running); the server's own graceful stop ends them with its protocol's goodbye: "
                 "--graceful-signal SIG (nginx QUIT, haproxy USR1, apache WINCH, most servers TERM)",
                 counted, counted == 1 ? "" : "s");
    problem(line, cause,
            "hotswap(1): --graceful-signal, --idle-close, --drain-timeout; README.md, Keep-alive connections");
}

static void explain_log(const char *log_path, unsigned long counts[TRY_OUTCOMES])
{
    char line[2048];
    if (log_says(log_path, "never said hello", line, sizeof line))
        problem(line, "the shim is not loaded in the server (a static or setuid binary, or LD_PRELOAD cleared)",
                "hotswap(1), --intercept seccomp (it reaches Go and statically linked programs)");
    if (log_says(log_path, "but the shim never saw that socket", line, sizeof line)) {
        /* the launcher's own analysis, after the colon, is the cause: try never guesses another */
        const char *why = strstr(line, "never saw that socket: ");
        char cause[1024];
        snprintf(cause, sizeof cause, "%s", why ? why + strlen("never saw that socket: ") : "unknown");
        char *end = strstr(cause, "; it will never count as ready");
        if (end)
            *end = '\0';
        bool wrapper = strstr(cause, "forked it instead of exec'ing it") != NULL;
        problem(line, cause,
                wrapper ? "README.md, Known limits (a wrapper must exec the server)"
                        : "hotswap(1), --intercept seccomp (it reaches Go and statically linked programs)");
    }
    /* The launcher's own analysis first (sequential.c): a lock or pid file the old one holds. */
    bool beside = log_says(log_path, "could not lock", line, sizeof line) ||
                  log_says(log_path, "waits to lock", line, sizeof line) ||
                  log_says(log_path, "a pid file's check", line, sizeof line) ||
                  log_says(log_path, "holds a lock on", line, sizeof line) ||
                  log_says(log_path, "holds open for writing", line, sizeof line);
    if (beside && log_says(log_path, "cannot run beside", NULL, 0))
        printf("try: note: %s\ntry:   reloads went in sequence from then on: the old generation stops before the new "
               "one starts (hotswap(1), --overlap)\n",
               log_text(line, (char[4096]){0}, 4096));
    else if (beside)
        problem(line,
                "the new generation cannot run beside the old one: a lock, a pid file or a data file the old one holds",
                "hotswap(1): --overlap auto or never (reloads in sequence)");
    else if (log_says(log_path, "exited before it was ready", line, sizeof line)) {
        if (log_says(log_path, "address already in use", NULL, 0))
            problem(line,
                    "the new generation binds something the old one still holds and the shim does not "
                    "hand over (another port, a Unix path)",
                    "README.md, Known limits");
        else if (log_says(log_path, "pid", NULL, 0) &&
                 (log_says(log_path, "already running", NULL, 0) || log_says(log_path, "is running", NULL, 0)))
            problem(line, "a pidfile (or lock) check refuses a second instance while the old one runs",
                    "README.md: give each generation its own pidfile (--env-file, or hotswap reload -- COMMAND)");
        else
            problem(line, "the new generation exits at start: its own lines in the log say why", "the launcher log");
    }
    if (log_says(log_path, "not ready within", line, sizeof line))
        problem(line, "it takes longer to be ready, or never waits for connections on a listener",
                "hotswap(1): --ready-timeout, --ready notify");
    explain_slow_drain(log_path);
    if (counts[TRY_REFUSED])
        problem("connections were refused", "the listening socket was closed or not yet bound at some moment",
                "the launcher log; README.md, Known limits");
    if (counts[TRY_KEPT_ENDED])
        problem("reused keep-alive connections ended under a request, before any byte of its answer",
                "the server (or the drain) closed a kept-alive connection as the client sent on it, without "
                "saying \"Connection: close\" first: a client that repeats the request is fine, one that does "
                "not (wrk, many proxies) sees an error",
                "hotswap(1): --handover-idle; README.md, Keep-alive connections");
    if (counts[TRY_RESET] || counts[TRY_EOF])
        problem("connections were cut (reset, or closed before a complete answer)",
                "a generation stopped with requests in flight (a short --drain-timeout), or the server exits on "
                "the drain signal",
                "hotswap(1): --drain-timeout, --drain-signal");
    if (counts[TRY_TIMEOUT])
        problem("requests timed out (5 s)", "connections queued where no process accepts them",
                "the launcher log; hotswap(1), --ready");
    if (counts[TRY_BAD])
        problem("answers with a status of 500 or more, or malformed",
                "the new generation answers before it can serve (it warms up after listen)",
                "hotswap(1): --ready notify");
}

/* The launcher's command line: this one without `try` and try's own options and address, with
 * the scratch control socket. */
static char **launcher_args_of(int argc, char **argv, int addr_index, const char *control)
{
    char **args = calloc((size_t)argc + 4, sizeof *args);
    if (!args)
        return NULL;
    int n = 0, i = 2; /* past "hotswap try" */
    args[n++] = "hotswap";
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--reloads") == 0 || strcmp(a, "--http") == 0 || strcmp(a, "--timeout") == 0)
            i++; /* and its value */
        else if (i != addr_index && strncmp(a, "--reloads=", 10) != 0 && strncmp(a, "--http=", 7) != 0 &&
                 strncmp(a, "--timeout=", 10) != 0 && strcmp(a, "--connect-only") != 0)
            args[n++] = argv[i];
    }
    args[n++] = "--control";
    args[n++] = (char *)control;
    for (; i < argc; i++)
        args[n++] = argv[i];
    args[n] = NULL;
    return args;
}

int try_run(const struct options *opt, int argc, char **argv)
{
    struct try_target target = {.host = opt->try_addr, .http_path = opt->try_connect_only ? NULL : opt->try_http_path};
    if (!try_parse_address(opt->try_addr, &target)) {
        char addr[512];
        textsafe_escape(addr, sizeof addr, opt->try_addr, strlen(opt->try_addr), 0);
        fprintf(stderr, "hotswap: try: '%s' is not IP:PORT, [IPv6]:PORT or unix:PATH\n", addr);
        return EXIT_USAGE;
    }
    try_deadline_ms = now_ms() + opt->try_timeout_ms;
    char dir[] = "/tmp/hotswap-try.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("hotswap: try: mkdtemp");
        return 1;
    }
    char control[64], log_path[64];
    snprintf(control, sizeof control, "%s/control.sock", dir);
    snprintf(log_path, sizeof log_path, "%s/hotswap.log", dir);
    char addr[512];
    textsafe_escape(addr, sizeof addr, opt->try_addr, strlen(opt->try_addr), 0);
    printf("try: %s, %d reload%s, %s; the launcher's log: %s\n", addr, opt->try_reloads,
           opt->try_reloads == 1 ? "" : "s",
           target.http_path ? "HTTP GET (fresh connections and keep-alive)" : "connect and close", log_path);
    fflush(stdout);

    pid_t launcher = fork();
    if (launcher == 0) {
        int log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (log_fd >= 0) {
            dup2(log_fd, 2);
            dup2(log_fd, 1);
        }
        char **launcher_args = launcher_args_of(argc, argv, opt->try_addr_index, control);
        if (launcher_args)
            execv("/proc/self/exe", launcher_args);
        _exit(127);
    }
    /* ready: one answer comes, or the launcher gave up */
    enum try_outcome probe = TRY_REFUSED;
    for (int i = 0; i < READY_WAIT_S * 10 && time_left_ms() > 0 && (probe = try_once(&target)) != TRY_OK; i++) {
        if (waitpid(launcher, NULL, WNOHANG) == launcher) {
            launcher = -1;
            break;
        }
        sleep_ms(100);
    }
    unsigned long counts[TRY_OUTCOMES] = {0};
    bool all_reloaded = true;
    if (probe != TRY_OK) {
        printf("try: the server never answered on %s (%s)\n", addr, try_outcome_names[probe]);
        all_reloaded = false;
    } else {
        char route[160] = "";
        if (log_says(log_path, "(the seccomp route)", route, sizeof route))
            printf("try: route: seccomp (the launcher answers its socket calls)\n");
        else
            printf("try: route: preload (libhotswap.so)\n");
        try_load_start(&target, 8, target.http_path ? 4 : 0);
        sleep_ms(300);
        for (int i = 1; i <= opt->try_reloads && time_left_ms() > 0; i++) {
            char *reload_args[] = {"hotswap", "reload", "--control", control, NULL};
            char last[1024] = "", shown[4096];
            int status = run_self(reload_args, last, sizeof last);
            printf("try: reload %d/%d: %s\n", i, opt->try_reloads, log_text(last, shown, sizeof shown));
            fflush(stdout);
            if (status != 0)
                all_reloaded = false;
            sleep_ms(300); /* the load runs between reloads too */
        }
        if (out_of_time) { /* the load's requests in flight end with the server, not 5 s later */
            stop_launcher(launcher, log_path);
            launcher = -1;
        }
        try_load_stop(counts);
    }
    if (launcher > 0)
        stop_launcher(launcher, log_path);
    if (out_of_time)
        printf("try: stopped at its time bound (--timeout %lld ms)\n", (long long)opt->try_timeout_ms);
    unsigned long failed = 0;
    for (int i = TRY_REFUSED; i < TRY_OUTCOMES; i++)
        failed += counts[i];
    printf("try: requests: %lu ok, %lu failed (refused %lu, reset %lu, eof %lu, timeout %lu, bad %lu", counts[TRY_OK],
           failed, counts[TRY_REFUSED], counts[TRY_RESET], counts[TRY_EOF], counts[TRY_TIMEOUT], counts[TRY_BAD]);
    if (target.http_path)
        printf(", a reused keep-alive connection ended under the request %lu", counts[TRY_KEPT_ENDED]);
    printf(")\n");
    /* a process the stop reached a moment ago may still be on its way out: up to a second */
    pid_t left[16];
    int left_count = left_running(log_path, left, 16);
    for (int waited = 0; left_count > 0 && waited < 1000; waited += 50) {
        sleep_ms(50);
        left_count = left_running(log_path, left, 16);
    }
    if (left_count == 0)
        printf("try: left running: nothing (every generation's processes exited)\n");
    for (int i = 0; i < left_count; i++) {
        char what[96];
        snprintf(what, sizeof what, "pid %d, named in the log as a generation's, still runs", (int)left[i]);
        problem(what,
                "a process that left its generation's reach (a daemon it started?), or one that ignores "
                "the stop signal",
                "hotswap(1): --kill-mode, --stop-signal, --track");
    }
    explain_log(log_path, counts);
    if (out_of_time)
        problem("try ran out of its time bound (--timeout) before it was done",
                "a reload or the stop waited on a drain that did not end (its cause is above, where the log "
                "names it)",
                "hotswap(1): try --timeout, --drain-timeout");
    if (!all_reloaded && problems == 0)
        problem("a reload did not succeed", "its line above says why", "the launcher log");
    bool ok = probe == TRY_OK && all_reloaded && failed == 0 && left_count == 0 && problems == 0;
    if (ok)
        printf("try: verdict: nothing lost in %d reloads: this server reloads with zero loss here\n", opt->try_reloads);
    else
        printf("try: verdict: NOT zero-loss here (%d problem%s above)\n", problems ? problems : 1,
               problems == 1 ? "" : "s");
    return ok ? 0 : 1;
}
