/* ctl_client.c: `hotswap reload`, `hotswap stop` and `hotswap status`, talking to a running
 * launcher over its control socket. The launcher streams progress lines (or the pieces of a
 * status document), then one final "ok ..." or "error ...". */
#define _GNU_SOURCE
#include "ctl_client.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl_proto.h"

static int connect_control(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int ctl_client_run(const struct options *opt)
{
    char buf[256];
    const char *path = opt->control_path;
    if (!path) {
        if (!opt->target_pid) {
            fprintf(stderr, "hotswap: say which launcher: --pid PID or --control PATH\n");
            return EXIT_USAGE;
        }
        path = default_control_path(opt->target_pid, buf, sizeof buf);
    }
    int fd = connect_control(path);
    if (fd < 0) {
        fprintf(stderr, "hotswap: cannot reach a launcher at %s: %s\n", path, strerror(errno));
        return EXIT_UNAVAILABLE;
    }
    const char *request = opt->command == CMD_RELOAD ? CTL_REQ_RELOAD
                          : opt->command == CMD_STOP ? CTL_REQ_STOP
                          : opt->json                ? CTL_REQ_STATUS_JSON
                                                     : CTL_REQ_STATUS;
    if (send(fd, request, strlen(request), MSG_NOSIGNAL) < 0) {
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
            printf("%s\n", line + 1);
            fflush(stdout);
        } else if (line[0] == CTL_TAG_DATA) {
            fwrite(line + 1, 1, (size_t)n - 1, stdout);
        } else if (line[0] == CTL_TAG_OK) {
            if (opt->command != CMD_STATUS)
                printf("ok: %s\n", line + 1);
            close(fd);
            return 0;
        } else {
            fprintf(stderr, "hotswap: %s failed: %s\n", request, line + 1);
            close(fd);
            return 1;
        }
    }
}
