/* try.c: `hotswap try`: will it work for my server? Runs the server under a launcher of its own
 * (a scratch control socket), drives a closed-loop load at it (tryload.c), reloads it N times,
 * stops it, and says what happened, and for each problem its likely cause and what addresses
 * it. Exit 0 only if nothing was lost. */
#define _GNU_SOURCE
#include "try.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

/* Runs this program with `args`; its last output line in `last` (stdout and stderr). */
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
    ssize_t n;
    while ((n = read(pipefd[0], buf, sizeof buf)) > 0)
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
    close(pipefd[0]);
    int status = 0;
    while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
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

static void explain_log(const char *log_path, unsigned long counts[TRY_OUTCOMES])
{
    char line[2048];
    if (log_says(log_path, "never said hello", line, sizeof line))
        problem(line, "the shim is not loaded in the server (a static or setuid binary, or LD_PRELOAD cleared)",
                "hotswap(1), --intercept seccomp (it reaches Go and statically linked programs)");
    if (log_says(log_path, "but the shim never saw that socket", line, sizeof line))
        problem(line, "the shim is not in the process that listens: it makes its own system calls (Go, a static "
                      "binary), or is setuid, or LD_PRELOAD was cleared",
                "hotswap(1), --intercept seccomp (it reaches Go and statically linked programs)");
    if (log_says(log_path, "exited before it was ready", line, sizeof line)) {
        if (log_says(log_path, "address already in use", NULL, 0))
            problem(line, "the new generation binds something the old one still holds and the shim does not "
                          "hand over (another port, a Unix path)", "README.md, Known limits");
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
    if (log_says(log_path, "drain timeout", line, sizeof line))
        problem(line, "connections stayed open until --drain-timeout (idle keep-alive clients, long requests)",
                "hotswap(1): --handover-idle, --drain-timeout; README.md, Keep-alive connections");
    if (counts[TRY_REFUSED])
        problem("connections were refused", "the listening socket was closed or not yet bound at some moment",
                "the launcher log; README.md, Known limits");
    if (counts[TRY_RESET] || counts[TRY_EOF])
        problem("connections were cut (reset, or closed before a complete answer)",
                "a generation stopped with requests in flight (a short --drain-timeout), or the server exits on "
                "the drain signal", "hotswap(1): --drain-timeout, --drain-signal");
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
        if (strcmp(a, "--reloads") == 0 || strcmp(a, "--http") == 0)
            i++; /* and its value */
        else if (i != addr_index && strncmp(a, "--reloads=", 10) != 0 && strncmp(a, "--http=", 7) != 0 &&
                 strcmp(a, "--connect-only") != 0)
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
    for (int i = 0; i < READY_WAIT_S * 10 && (probe = try_once(&target)) != TRY_OK; i++) {
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
        for (int i = 1; i <= opt->try_reloads; i++) {
            char *reload_args[] = {"hotswap", "reload", "--control", control, NULL};
            char last[1024] = "", shown[4096];
            int status = run_self(reload_args, last, sizeof last);
            printf("try: reload %d/%d: %s\n", i, opt->try_reloads, log_text(last, shown, sizeof shown));
            fflush(stdout);
            if (status != 0)
                all_reloaded = false;
            sleep_ms(300); /* the load runs between reloads too */
        }
        try_load_stop(counts);
    }
    if (launcher > 0) {
        kill(launcher, SIGTERM);
        int status;
        while (waitpid(launcher, &status, 0) < 0 && errno == EINTR)
            ;
    }
    unsigned long failed = 0;
    for (int i = TRY_REFUSED; i < TRY_RETRYABLE; i++)
        failed += counts[i];
    printf("try: requests: %lu ok, %lu failed (refused %lu, reset %lu, eof %lu, timeout %lu, bad %lu)", counts[TRY_OK],
           failed, counts[TRY_REFUSED], counts[TRY_RESET], counts[TRY_EOF], counts[TRY_TIMEOUT], counts[TRY_BAD]);
    if (target.http_path)
        printf("; keep-alive: %lu repeated safely (the server closed an idle connection)", counts[TRY_RETRYABLE]);
    printf("\n");
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
        problem(what, "a process that left its generation's reach (a daemon it started?), or one that ignores "
                      "the stop signal", "hotswap(1): --kill-mode, --stop-signal, --track");
    }
    explain_log(log_path, counts);
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
