/* ctl_server.c: accepting control connections, checking the peer, relaying outcomes. */
#define _GNU_SOURCE
#include "ctl_server.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl_command.h"
#include "ctl_dir.h"
#include "ctl_proto.h"
#include "log.h"
#include "sockpath.h"
#include "textsafe.h"

#define WAITING_STOP -2
#define WAITING_START -3 /* its reload is being started: it hears the lines that logs */

struct client {
    int fd;
    int reload_id;   /* waiting on this reload; -1: not waiting yet; WAITING_STOP */
    bool wait_ready; /* CTL_REQ_WAIT_READY: done once the reload's new generation serves */
};

static int listen_fd = -1;
static char socket_path[108];
static struct client clients[CTL_CLIENTS_MAX];
static int client_count;
static struct ctl_handlers handlers;
/* Out of fds (or memory) at accept: the connection stays queued and keeps the socket readable,
 * so polling it would spin (27,000 polls a second were seen). It is not polled until then. */
static int64_t accepts_paused_until, accept_pause_ms;
static bool accepts_paused_said;

void ctl_server_set_handlers(const struct ctl_handlers *h)
{
    handlers = *h;
}

/* A launcher accepts on the socket at `path` now: a connection is taken (or queued). A killed
 * launcher's socket refuses it. */
static bool served_now(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return false;
    bool served = connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0 || errno == EAGAIN;
    close(fd);
    return served;
}

/* Whatever is at `path` before the bind: nothing, or a socket, removed as stale (a killed
 * launcher's, or one that had our pid before). Anything else is not ours to remove, whoever
 * put it there: refused, and left as it is. Looked at and removed in its directory, opened
 * once, without following the last component. */
static int clear_stale_socket(const char *path, char *why, size_t size)
{
    char copy[sizeof socket_path], base_copy[sizeof socket_path];
    snprintf(copy, sizeof copy, "%s", path);
    snprintf(base_copy, sizeof base_copy, "%s", path);
    const char *base = basename(base_copy);
    int dirfd = open(dirname(copy), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return -1;
    struct stat st;
    int rc = 0;
    if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        rc = errno == ENOENT ? 0 : -1;
    } else if (!S_ISSOCK(st.st_mode)) {
        snprintf(why, size, "control socket path %s is %s, not a socket: refusing to replace it", path,
                 file_kind_name(st.st_mode));
        rc = -2;
    } else if (served_now(path)) {
        snprintf(why, size,
                 "control socket %s is served by a running launcher: refusing to start a second one "
                 "on it",
                 path);
        rc = -2;
    } else if (unlinkat(dirfd, base, 0) < 0 && errno != ENOENT) {
        rc = -1;
    }
    int saved = errno;
    close(dirfd);
    errno = saved;
    return rc;
}

int ctl_server_open(const char *path, bool own_dir, char *why, size_t size)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(addr.sun_path, path);
    char dir[sizeof socket_path];
    snprintf(dir, sizeof dir, "%s", path);
    dirname(dir);
    int rc;
    if (own_dir)
        rc = ctl_dir_check(dir, true, why, size);
    else /* the operator's choice of directory: made owner-only if it is missing */
        rc = mkdir(dir, 0700) < 0 && errno != EEXIST ? -1 : 0;
    if (rc < 0 || (rc = clear_stale_socket(path, why, size)) < 0)
        return rc;
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    mode_t old_mask = umask(0077);
    rc = bind(fd, (struct sockaddr *)&addr, sizeof addr);
    umask(old_mask);
    if (rc < 0 || listen(fd, 8) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    listen_fd = fd;
    snprintf(socket_path, sizeof socket_path, "%s", path);
    return 0;
}

void ctl_server_close(void)
{
    for (int i = 0; i < client_count; i++)
        close(clients[i].fd);
    client_count = 0;
    if (listen_fd >= 0) {
        char why[160];
        if (sockpath_remove(listen_fd, socket_path, why, sizeof why) > 0)
            hs_log("control socket %s left in place: %s", socket_path, why);
        close(listen_fd);
        listen_fd = -1;
    }
}

int ctl_server_pollfds(struct pollfd *fds, int room)
{
    int n = 0;
    if (listen_fd >= 0 && n < room && now_ms() >= accepts_paused_until)
        fds[n++] = (struct pollfd){.fd = listen_fd, .events = POLLIN};
    for (int i = 0; i < client_count && n < room; i++)
        fds[n++] = (struct pollfd){.fd = clients[i].fd, .events = POLLIN};
    return n;
}

/* A line to a client, escaped (textsafe.h): progress lines are the log's, and outcomes name
 * listeners and commands, which a server chose. */
static void send_line(int fd, char tag, const char *text)
{
    char line[CTL_LINE_MAX];
    line[0] = tag;
    size_t n = 1 + textsafe_escape(line + 1, sizeof line - 1, text, strlen(text), 0);
    send(fd, line, n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void drop_client(int index)
{
    close(clients[index].fd);
    clients[index] = clients[--client_count];
}

static bool peer_allowed(int fd)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return false;
    return cred.uid == 0 || cred.uid == geteuid();
}

int64_t ctl_server_next_wakeup(void)
{
    return accepts_paused_until > now_ms() ? accepts_paused_until : 0;
}

/* 100 ms, doubling to 1 s while accepts keep failing; said once until one succeeds again. */
static void pause_accepts(int err)
{
    accept_pause_ms = accept_pause_ms ? (accept_pause_ms * 2 < 1000 ? accept_pause_ms * 2 : 1000) : 100;
    accepts_paused_until = now_ms() + accept_pause_ms;
    if (accepts_paused_said)
        return;
    accepts_paused_said = true;
    if (err == EMFILE || err == ENFILE)
        hs_log("control: out of file descriptors (%s): pausing accepts", err == EMFILE ? "EMFILE" : "ENFILE");
    else
        hs_log("control: out of memory (%s): pausing accepts", strerror(err));
}

static void accept_client(void)
{
    int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
            pause_accepts(errno);
        return;
    }
    if (accepts_paused_said)
        hs_log("control: accepting again");
    accept_pause_ms = 0;
    accepts_paused_said = false;
    if (!peer_allowed(fd)) {
        send_line(fd, CTL_TAG_ERROR, "permission denied: not the launcher's user");
        close(fd);
        return;
    }
    if (client_count >= CTL_CLIENTS_MAX) {
        send_line(fd, CTL_TAG_ERROR, "too many control connections");
        close(fd);
        return;
    }
    clients[client_count++] = (struct client){.fd = fd, .reload_id = -1};
}

/* The document in pieces a client prints as they come, then an empty "ok". It is sent without
 * waiting: a status is a few KiB, far below a Unix socket's send buffer. */
static void send_document(int fd, const char *text)
{
    char piece[CTL_LINE_MAX];
    size_t left = strlen(text);
    piece[0] = CTL_TAG_DATA;
    while (left > 0) {
        size_t n = left < sizeof piece - 1 ? left : sizeof piece - 1;
        memcpy(piece + 1, text, n);
        if (send(fd, piece, n + 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
            return;
        text += n;
        left -= n;
    }
    send_line(fd, CTL_TAG_OK, "");
}

static void handle_request(int index)
{
    struct client *client = &clients[index];
    static char request[CTL_COMMAND_MAX + 1];
    struct iovec iov = {.iov_base = request, .iov_len = sizeof request - 1};
    struct msghdr header = {.msg_iov = &iov, .msg_iovlen = 1};
    /* MSG_TRUNC: the real length of an oversized message. Without a control buffer the kernel
     * closes any fds sent along and sets MSG_CTRUNC. */
    ssize_t length = recvmsg(client->fd, &header, MSG_DONTWAIT | MSG_TRUNC | MSG_CMSG_CLOEXEC);
    if (length <= 0) {
        if (length == 0 || (errno != EAGAIN && errno != EINTR))
            drop_client(index);
        return;
    }
    /* What is in the buffer: no more than it holds, whatever length the message had. */
    size_t n = (size_t)length < iov.iov_len ? (size_t)length : iov.iov_len;
    const char *refusal = ctl_request_refusal(request, n, (size_t)length, header.msg_flags);
    if (refusal) {
        hs_log("control: refused a request: %s", refusal);
        send_line(client->fd, CTL_TAG_ERROR, refusal);
        drop_client(index);
        return;
    }
    request[n] = '\0';
    int reload_id = -1; /* what a reload's handler names it (the reply waits for its end) */
    if (strcmp(request, CTL_REQ_WAIT_READY) == 0 && client->reload_id == -1 && !client->wait_ready) {
        client->wait_ready = true; /* the request comes next */
        return;
    }
    if (client->reload_id != -1) {
        refusal = "one request per connection";
    } else if ((strcmp(request, CTL_REQ_RELOAD) == 0 || ctl_command_is(request, n) > 0) && handlers.reload) {
        char **argv = NULL;
        if (ctl_command_is(request, n) > 0 && !(argv = ctl_command_decode(request, n))) {
            refusal = "out of memory";
        } else {
            client->reload_id = WAITING_START;
            refusal = handlers.reload(handlers.context, &reload_id, argv); /* takes argv */
            client->reload_id = refusal ? -1 : reload_id;
        }
    } else if (strcmp(request, CTL_REQ_STOP) == 0 && handlers.stop) {
        refusal = handlers.stop(handlers.context);
        if (!refusal)
            client->reload_id = WAITING_STOP;
    } else if (strcmp(request, CTL_REQ_ROLLBACK) == 0 && handlers.rollback) {
        char done[CTL_LINE_MAX - 1];
        refusal = handlers.rollback(handlers.context, done, sizeof done);
        if (!refusal) {
            send_line(client->fd, CTL_TAG_OK, done);
            drop_client(index);
            return;
        }
    } else if ((strcmp(request, CTL_REQ_STATUS) == 0 || strcmp(request, CTL_REQ_STATUS_JSON) == 0 ||
                strcmp(request, CTL_REQ_STATUS_PROMETHEUS) == 0) &&
               handlers.status) {
        char *document =
            handlers.status(handlers.context, strcmp(request, CTL_REQ_STATUS_JSON) == 0         ? STATUS_JSON
                                              : strcmp(request, CTL_REQ_STATUS_PROMETHEUS) == 0 ? STATUS_PROMETHEUS
                                                                                                : STATUS_TABLE);
        if (document) {
            send_document(client->fd, document);
            free(document);
            drop_client(index);
            return;
        }
        refusal = "cannot build the status (out of memory)";
    } else {
        refusal =
            "unknown request (expected 'reload', 'stop', 'rollback', 'status', 'status json' or 'status prometheus')";
    }
    if (refusal) {
        send_line(client->fd, CTL_TAG_ERROR, refusal);
        drop_client(index);
    }
}

void ctl_server_handle(const struct pollfd *fds, int count)
{
    /* Clients first, from the end (drop_client moves the last one into the hole). */
    for (int i = count - 1; i >= 0; i--) {
        if (!fds[i].revents)
            continue;
        if (fds[i].fd == listen_fd) {
            accept_client();
            continue;
        }
        for (int c = 0; c < client_count; c++)
            if (clients[c].fd == fds[i].fd) {
                handle_request(c);
                break;
            }
    }
}

void ctl_server_progress(int reload_id, const char *line)
{
    for (int i = 0; i < client_count; i++)
        if (clients[i].reload_id >= 0 && (reload_id == -1 || clients[i].reload_id == reload_id))
            send_line(clients[i].fd, CTL_TAG_PROGRESS, line);
        else if (clients[i].reload_id == WAITING_STOP || (clients[i].reload_id == WAITING_START && reload_id == -1))
            send_line(clients[i].fd, CTL_TAG_PROGRESS, line);
}

void ctl_server_ready(int reload_id, const char *text)
{
    for (int i = client_count - 1; i >= 0; i--)
        if (clients[i].reload_id == reload_id && clients[i].wait_ready) {
            send_line(clients[i].fd, CTL_TAG_READY, text);
            drop_client(i);
        }
}

void ctl_server_finish(int reload_id, bool ok, const char *text)
{
    for (int i = client_count - 1; i >= 0; i--)
        if (clients[i].reload_id == reload_id) {
            send_line(clients[i].fd, ok ? CTL_TAG_OK : CTL_TAG_ERROR, text);
            drop_client(i);
        }
}

void ctl_server_finish_all(bool ok, const char *text)
{
    for (int i = client_count - 1; i >= 0; i--)
        if (clients[i].reload_id != -1) {
            send_line(clients[i].fd, ok ? CTL_TAG_OK : CTL_TAG_ERROR, text);
            drop_client(i);
        }
}
