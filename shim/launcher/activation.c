/* activation.c: taking the sockets a service manager passed to `hotswap` (sd_listen_fds()). */
#define _GNU_SOURCE
#include "activation.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "env.h"
#include "envparse.h"
#include "listeners.h"
#include "log.h"

static bool is_socket(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

int activation_take(void)
{
    const char *fds = getenv("LISTEN_FDS"), *pid = getenv("LISTEN_PID");
    long count = 0, for_pid = 0;
    int held = 0;
    if (!fds)
        goto done;
    if (!env_parse_count(fds, LISTENERS_MAX, &count) || !pid || !env_parse_count(pid, 4194304, &for_pid)) {
        hs_log("socket activation: LISTEN_FDS='%s' LISTEN_PID='%s' malformed: ignored", fds, pid ? pid : "");
        goto done;
    }
    if (for_pid != (long)getpid()) {
        /* meant for another process (our parent, say, which forgot to unset them) */
        hs_log("socket activation: LISTEN_PID=%ld is not this process (%d): ignored", for_pid, (int)getpid());
        goto done;
    }
    for (int fd = HS_LISTEN_FDS_START; fd < HS_LISTEN_FDS_START + count; fd++) {
        if (!is_socket(fd)) {
            hs_log("socket activation: fd %d is not a socket: skipped", fd);
            continue;
        }
        /* Held by the launcher alone; spawn hands each generation its own copies at 3.. */
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        int added = listeners_add(fd, ACTIVATION_GENERATION, 0);
        if (added != 0) {
            if (added < 0)
                hs_log("socket activation: fd %d is not a bound socket: skipped", fd);
            continue;
        }
        held++;
        hs_log("socket activation: holding %s (fd %d) from the service manager",
               listeners_get(listeners_count() - 1)->name, fd);
    }
done:
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDNAMES");
    return held;
}
