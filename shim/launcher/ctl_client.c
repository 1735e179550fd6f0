/* ctl_client.c: `hotswap reload`, `hotswap stop` and `hotswap status`, talking to a running
 * launcher over its control socket. The launcher streams progress lines (or the pieces of a
 * status document), then one final "ok ..." or "error ...". */
#define _GNU_SOURCE
#include "ctl_client.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl_command.h"
#include "ctl_dir.h"
#include "ctl_proto.h"
#include "log.h"
#include "textsafe.h"

/* How long a connect waits for a launcher to take the connection. A launcher accepts within
 * its loop's next turn; a socket whose queue stays full this long is not served (its owner is
 * stopped, or is not a launcher at all). */
#define CONNECT_DEADLINE_MS 5000
#define CONNECT_RETRY_MS 10

/* Who answers on a control socket: the socket's owner as the kernel recorded it when the
 * launcher made it (SO_PEERCRED), never what the answer says. Only a launcher of this user, or
 * root's, is believed: anyone else's "ok" could be a lie about a reload that never happened. */
static uid_t untrusted_uid;

static bool peer_trusted(int fd)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len < sizeof cred)
        return false;
    untrusted_uid = cred.uid;
    return cred.uid == geteuid() || cred.uid == 0;
}

/* A connect that never blocks: a Unix socket whose queue is full says EAGAIN at once (where a
 * blocking connect would wait for an accept that may never come), so it is tried again until
 * the deadline. Then the socket is made blocking again for the request and its replies.
 * ETIMEDOUT: the deadline passed. */
static int connect_with_deadline(int fd, const struct sockaddr_un *addr)
{
    int64_t deadline = now_ms() + CONNECT_DEADLINE_MS;
    while (connect(fd, (const struct sockaddr *)addr, sizeof *addr) < 0) {
        if (errno != EAGAIN && errno != EINTR)
            return -1;
        if (now_ms() >= deadline) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct timespec pause = {.tv_nsec = CONNECT_RETRY_MS * 1000000L};
        nanosleep(&pause, NULL);
    }
    int flags = fcntl(fd, F_GETFL);
    return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
}

/* The launcher's socket, connected. -1 with errno if it cannot be reached (ETIMEDOUT: its queue
 * stayed full); -2 if it is served by another user (untrusted_uid). */
static int connect_control(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (connect_with_deadline(fd, &addr) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    if (!peer_trusted(fd)) {
        close(fd);
        return -2;
    }
    return fd;
}

static void say_untrusted(const char *path)
{
    fprintf(stderr, "hotswap: %s is served by uid %u, not by you (uid %u) or root: refusing to talk to it\n", path,
            (unsigned)untrusted_uid, (unsigned)geteuid());
}

/* Prints what a launcher sent. A launcher escapes names already; this is for a process posing
 * as one: every byte outside printable ASCII but the newline that ends a line is escaped, so
 * what reaches the terminal is text, never an escape sequence. Backslashes pass as they are:
 * they are the launcher's own escapes. */
static void print_text(FILE *out, const char *text, size_t n)
{
    char clean[4 * CTL_LINE_MAX + 1];
    size_t length = textsafe_escape(clean, sizeof clean, text, n, TEXTSAFE_KEEP_NEWLINES | TEXTSAFE_KEEP_BACKSLASHES);
    fwrite(clean, 1, length, out);
}

/* The default directory a launcher's socket would be in (the directory of `path`) is checked as
 * the launcher checks it: anyone who could write there could have put a socket of their own in
 * it. Returns false having said why. A missing one passes: no launcher is there to reach. */
static bool default_dir_trusted(const char *path)
{
    char dir[sizeof(struct sockaddr_un) + 512], why[sizeof dir + 256];
    snprintf(dir, sizeof dir, "%s", path);
    if (ctl_dir_check(dirname(dir), false, why, sizeof why) != -2)
        return true;
    fprintf(stderr, "hotswap: %s\n", why);
    return false;
}

/* No --pid or --control: the one launcher of this user that answers in the default directory
 * (in a container, hotswap as PID 1). Returns its socket, connected, or -1 having said why. */
static int find_the_launcher(char *path, size_t size, int *status)
{
    *status = EXIT_UNAVAILABLE;
    char dir[256];
    default_control_path(1, dir, sizeof dir);
    if (!default_dir_trusted(dir))
        return -1;
    *strrchr(dir, '/') = '\0';
    DIR *listing = opendir(dir);
    int found = -1, count = 0;
    char pids[128] = "", untrusted[sizeof dir + 300] = "";
    for (struct dirent *entry; listing && (entry = readdir(listing));) {
        char *end;
        long pid = strtol(entry->d_name, &end, 10);
        if (pid <= 0 || strcmp(end, ".sock") != 0)
            continue;
        char candidate[sizeof dir + sizeof entry->d_name + 1];
        snprintf(candidate, sizeof candidate, "%s/%s", dir, entry->d_name);
        int fd = connect_control(candidate); /* a socket left by a killed launcher refuses */
        if (fd == -2 && !untrusted[0])
            snprintf(untrusted, sizeof untrusted, "%s", candidate);
        if (fd < 0)
            continue;
        if (++count == 1 && strlen(candidate) < size) {
            found = fd;
            memcpy(path, candidate, strlen(candidate) + 1);
        } else {
            close(fd);
        }
        size_t used = strlen(pids);
        snprintf(pids + used, sizeof pids - used, "%s%ld", used ? ", " : "", pid);
    }
    if (listing)
        closedir(listing);
    if (count == 1)
        return found;
    if (found >= 0)
        close(found);
    if (count == 0 && untrusted[0]) {
        say_untrusted(untrusted);
    } else if (count == 0) {
        fprintf(stderr, "hotswap: no running launcher found in %s (give --pid PID or --control PATH)\n", dir);
        *status = EXIT_UNAVAILABLE;
    } else {
        fprintf(stderr, "hotswap: %d launchers run here (pids %s): say which with --pid PID\n", count, pids);
        *status = EXIT_USAGE;
    }
    return -1;
}

int ctl_client_run(const struct options *opt)
{
    char buf[sizeof(struct sockaddr_un) + 512];
    const char *path = opt->control_path;
    int fd;
    if (!path && !opt->target_pid) {
        int status;
        if ((fd = find_the_launcher(buf, sizeof buf, &status)) < 0)
            return status;
        path = buf;
    } else {
        if (!path) {
            path = default_control_path(opt->target_pid, buf, sizeof buf);
            if (!default_dir_trusted(path))
                return EXIT_UNAVAILABLE;
        }
        fd = connect_control(path);
    }
    if (fd == -2) {
        say_untrusted(path);
        return EXIT_UNAVAILABLE;
    }
    if (fd < 0 && errno == ETIMEDOUT) {
        fprintf(stderr,
                "hotswap: cannot reach a launcher at %s: it does not accept connections (its queue stayed "
                "full for %d s)\n",
                path, CONNECT_DEADLINE_MS / 1000);
        return EXIT_UNAVAILABLE;
    }
    if (fd < 0) {
        fprintf(stderr, "hotswap: cannot reach a launcher at %s: %s\n", path, strerror(errno));
        return EXIT_UNAVAILABLE;
    }
    static char request[CTL_COMMAND_MAX];
    size_t request_len = (size_t)snprintf(request, sizeof request, "%s",
                                          opt->command == CMD_RELOAD     ? CTL_REQ_RELOAD
                                          : opt->command == CMD_STOP     ? CTL_REQ_STOP
                                          : opt->command == CMD_ROLLBACK ? CTL_REQ_ROLLBACK
                                          : opt->json                    ? CTL_REQ_STATUS_JSON
                                          : opt->prometheus              ? CTL_REQ_STATUS_PROMETHEUS
                                                                         : CTL_REQ_STATUS);
    if (opt->command == CMD_RELOAD && opt->argv && !ctl_command_encode(opt->argv, request, &request_len)) {
        fprintf(stderr,
                "hotswap: the new command line is too long (at most %d bytes, %d arguments) or holds "
                "control characters\n",
                CTL_COMMAND_MAX, CTL_COMMAND_ARGS_MAX);
        close(fd);
        return EXIT_USAGE;
    }
    if (opt->wait_ready && send(fd, CTL_REQ_WAIT_READY, strlen(CTL_REQ_WAIT_READY), MSG_NOSIGNAL) < 0) {
        fprintf(stderr, "hotswap: cannot send to %s: %s\n", path, strerror(errno));
        close(fd);
        return EXIT_UNAVAILABLE;
    }
    if (send(fd, request, request_len, MSG_NOSIGNAL) < 0) {
        fprintf(stderr, "hotswap: cannot send to %s: %s\n", path, strerror(errno));
        close(fd);
        return EXIT_UNAVAILABLE;
    }
    char line[CTL_LINE_MAX + 1];
    for (;;) {
        ssize_t n = recv(fd, line, CTL_LINE_MAX, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fprintf(stderr, "hotswap: the launcher closed the control connection without an outcome\n");
            close(fd);
            return 1;
        }
        line[n] = '\0';
        if (line[0] == CTL_TAG_PROGRESS) {
            print_text(stdout, line + 1, (size_t)n - 1);
            putchar('\n');
            fflush(stdout);
        } else if (line[0] == CTL_TAG_DATA) {
            print_text(stdout, line + 1, (size_t)n - 1);
        } else if (line[0] == CTL_TAG_OK || (line[0] == CTL_TAG_READY && opt->wait_ready)) {
            if (opt->command != CMD_STATUS) {
                fputs("ok: ", stdout);
                print_text(stdout, line + 1, (size_t)n - 1);
                putchar('\n');
            }
            close(fd);
            return 0;
        } else {
            fprintf(stderr, "hotswap: %s failed: ", opt->command == CMD_RELOAD ? "reload" : request);
            print_text(stderr, line + 1, (size_t)n - 1);
            fputc('\n', stderr);
            close(fd);
            return 1;
        }
    }
}
