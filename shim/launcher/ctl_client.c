/* ctl_client.c: `hotswap reload`, `hotswap stop` and `hotswap status`, talking to a running
 * launcher over its control socket. The launcher streams progress lines (or the pieces of a
 * status document), then one final "ok ..." or "error ...". */
#define _GNU_SOURCE
#include "ctl_client.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
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

/* No --pid or --control: the one launcher of this user that answers in the default directory
 * (in a container, hotswap as PID 1). Returns its socket, connected, or -1 having said why. */
static int find_the_launcher(char *path, size_t size, int *status)
{
    *status = EXIT_UNAVAILABLE;
    char dir[256];
    default_control_path(1, dir, sizeof dir);
    *strrchr(dir, '/') = '\0';
    DIR *listing = opendir(dir);
    int found = -1, count = 0;
    char pids[128] = "";
    for (struct dirent *entry; listing && (entry = readdir(listing));) {
        char *end;
        long pid = strtol(entry->d_name, &end, 10);
        if (pid <= 0 || strcmp(end, ".sock") != 0)
            continue;
        char candidate[sizeof dir + sizeof entry->d_name + 1];
        snprintf(candidate, sizeof candidate, "%s/%s", dir, entry->d_name);
        int fd = connect_control(candidate); /* a socket left by a killed launcher refuses */
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
    if (count == 0) {
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
        if (!path)
            path = default_control_path(opt->target_pid, buf, sizeof buf);
        fd = connect_control(path);
    }
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
