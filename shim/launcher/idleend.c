/* idleend.c: ending a draining generation's connections idle by turn. See idleend.h.
 *
 * Why the launcher looks, on both routes: what makes a connection idle by turn is the client's
 * acknowledgement of the server's last word, which comes after the server has gone back to
 * waiting and wakes nothing in it. The shim only runs when its server calls something, so the
 * launcher, which looks at the kernel every 100 ms in a drain anyway, is the one that comes
 * back. */
#define _GNU_SOURCE
#include "idleend.h"

#include <linux/sockios.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "channel.h"
#include "genproc.h"
#include "genstate.h"
#include "idleturn.h"
#include "intercept.h"
#include "listeners.h"
#include "log.h"
#include "procsockets.h"

static int int_option(int fd, int level, int name)
{
    int value = -1;
    socklen_t len = sizeof value;
    return getsockopt(fd, level, name, &value, &len) == 0 ? value : -1;
}

static int port_of(const struct sockaddr_storage *addr)
{
    return addr->ss_family == AF_INET ? ((const struct sockaddr_in *)addr)->sin_port
                                      : ((const struct sockaddr_in6 *)addr)->sin6_port;
}

/* An accepted TCP connection (a copy of the server's fd) on a held listener's port. */
static bool on_held_port(int fd)
{
    struct sockaddr_storage mine = {0};
    socklen_t len = sizeof mine;
    if (getsockname(fd, (struct sockaddr *)&mine, &len) < 0 ||
        (mine.ss_family != AF_INET && mine.ss_family != AF_INET6) ||
        int_option(fd, SOL_SOCKET, SO_TYPE) != SOCK_STREAM || int_option(fd, SOL_SOCKET, SO_ACCEPTCONN) != 0)
        return false;
    for (int i = 0; i < listeners_count(); i++) {
        struct sockaddr_storage held;
        socklen_t held_len = sizeof held;
        if (getsockname(listeners_get(i)->fd, (struct sockaddr *)&held, &held_len) == 0 &&
            held.ss_family == mine.ss_family && port_of(&held) == port_of(&mine))
            return true;
    }
    return false;
}

struct look {
    struct generation *g;
    bool patient; /* the drain's first second (idleturn.h, idle_between_answers) */
    int ended;
};

/* A request waits unread: its first bytes say whether the generation speaks HTTP/1.x. */
static void learn_protocol(struct generation *g, int fd)
{
    char head[256];
    ssize_t got = recv(fd, head, sizeof head, MSG_PEEK | MSG_DONTWAIT);
    if (got > 0 && looks_like_http(head, (size_t)got))
        intercept_heard_http(g);
}

/* How a connection is ended: its reading side shut, so the server reads the end of the stream and
 * closes it. A session of a Go program idle by turn has its sending side shut too: the client
 * learns at once that its session ended (the FIN goes now), not when the server, scheduled on a
 * busy machine, gets round to its close; until then a request it sent would still be read and
 * answered (data that comes after SHUT_RD is delivered), and the next one lost. Go's runtime makes
 * a write on such a socket fail with EPIPE, never SIGPIPE; a C program might die of it, and an
 * HTTP answer taken between answers may still be on its way. */
static int end_how(const struct generation *g, bool http)
{
    return intercept_go_program(g) && !http ? SHUT_RDWR : SHUT_RD;
}

/* The launcher sees nothing of the turn itself: the kernel alone says. A generation seen
 * speaking HTTP/1.x has its connections taken between answers instead: its clients retry a
 * request that meets a closed idle connection, and a closed-loop client (whose acknowledgement
 * rides on its next request) is never idle by turn. */
static bool end_if_idle(int copy, int fd, void *ctx)
{
    (void)fd;
    struct look *look = ctx;
    int unread = -1, unsent = -1;
    if (on_held_port(copy) && ioctl(copy, SIOCINQ, &unread) == 0 && ioctl(copy, SIOCOUTQ, &unsent) == 0) {
        if (unread > 0 && !intercept_speaks_http(look->g))
            learn_protocol(look->g, copy);
        bool http = intercept_speaks_http(look->g);
        bool idle = http ? idle_between_answers(copy, getsockopt, unread, unsent, look->patient)
                         : idle_by_turn(copy, getsockopt, unread, unsent, TURN_UNSEEN);
        if (idle && shutdown(copy, end_how(look->g, http)) == 0)
            look->ended++;
    }
    close(copy);
    return true;
}

/* The seccomp route: the launcher cannot frame, so every connection is judged by the kernel. */
#define HTTP_PATIENCE_MS 1000

static int end_idle_copies(struct generation *g)
{
    const pid_t *pids;
    int count = gen_processes(g, &pids);
    struct look look = {.g = g, .patient = now_ms() - g->drain_ms < HTTP_PATIENCE_MS};
    for (int i = 0; i < count; i++)
        proc_sockets_each(pids[i], -1, end_if_idle, &look);
    return look.ended;
}

/* The preload route: the shim alone knows which connections its framing follows; each drained
 * shim looks at the others itself. */
static void ask_shims(struct generation *g)
{
    union sigval turn = {.sival_int = HS_SIGVAL_TURN};
    for (int i = 0; i < g->proc_count; i++) {
        const struct gen_proc *proc = &g->procs[i];
        /* (a signal interrupts the server's calls, which the shim makes good: only a process
         * that still holds connections is asked) */
        if (proc->pidfd >= 0 && proc->said_hello && proc->drain_reported && proc->conns > 0)
            sigqueue(proc->pid, g->settings->drain_signal, turn);
    }
}

int idle_end_look(struct generation *g)
{
    if (g->settings->idle_close != IDLE_CLOSE_TURN)
        return 0;
    if (g->seccomp)
        return end_idle_copies(g);
    ask_shims(g);
    return 0;
}
