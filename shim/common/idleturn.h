/* idleturn.h: --idle-close, and the kernel's word on whether a TCP connection is idle by turn.
 *
 * A connection whose protocol nobody here can frame (TLS, a binary or line protocol; on the
 * seccomp route, every connection) is idle *by turn* when the server spoke last, the client has
 * acknowledged all of it and sent nothing since, and nothing is unread: the server waits for the
 * client's next word. Ending it then (shutdown(SHUT_RD): the server reads the end of the stream
 * and closes, as after a client's close) takes nothing in flight from either side. One rule for
 * both programs: the shim judges its own fds with it, the launcher its pidfd_getfd copies. */
#ifndef HOTSWAP_IDLETURN_H
#define HOTSWAP_IDLETURN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* --idle-close: which connections a drain ends once they are idle (HOTSWAP_IDLE_CLOSE). */
enum idle_close {
    IDLE_CLOSE_TURN = 0, /* the default: HTTP/1.x by its framing (the shim), anything else by turn */
    IDLE_CLOSE_HTTP,     /* HTTP/1.x by its framing only; nothing on the seccomp route */
    IDLE_CLOSE_NEVER,    /* none: each ends by its client, or at the drain timeout */
    IDLE_CLOSE_MODES
};

extern const char *const idle_close_names[IDLE_CLOSE_MODES];

/* "turn", "http", "never" -> the mode; -1 for anything else. */
int idle_close_parse(const char *text);

/* How long the client must have sent nothing (not even an acknowledgement) for its turn to be
 * over: a client whose acknowledgement came at once and that sends its next request a moment
 * later is not taken for idle in that moment. */
#define IDLE_TURN_QUIET_MS 20

/* Who spoke last on a connection, where the caller saw it itself (the shim, during a drain). */
enum turn_seen { TURN_UNSEEN = 0, TURN_SERVER, TURN_CLIENT };

typedef int (*getsockopt_fn)(int fd, int level, int name, void *value, socklen_t *len);

/* Is connection `fd` idle by turn? `unread` (SIOCINQ) and `unsent` (SIOCOUTQ: not yet
 * acknowledged) as the caller read them just now; `get` reads TCP_INFO (the shim's real
 * getsockopt, or libc's); `seen` what the caller saw of the turn, if anything. */
bool idle_by_turn(int fd, getsockopt_fn get, int unread, int unsent, enum turn_seen seen);

/* By its TCP_INFO alone (the caller has seen both ends' queues empty): established, quiet for
 * IDLE_TURN_QUIET_MS, and the server spoke last, or (with `unsaid_counts`) nothing has been said on
 * it either way. */
struct tcp_info;
bool idle_by_info(const struct tcp_info *info, bool unsaid_counts);

/* An HTTP/1.x connection the caller cannot frame (the seccomp route): idle between an answer and
 * the next request, by the kernel. The server spoke last and nothing is unread; while `patient`
 * (the drain's first second) also all of it acknowledged and the connection quiet for
 * IDLE_HTTP_QUIET_MS, so that an answer streamed with shorter pauses is not taken for idle.
 * After it, a closed-loop client (whose acknowledgement of an answer rides on its next request)
 * is taken between two requests: one racing that moment fails retryably (RFC 9112 9.3.1). */
#define IDLE_HTTP_QUIET_MS 250
bool idle_between_answers(int fd, getsockopt_fn get, int unread, int unsent, bool patient);

/* The first bytes of a request (MSG_PEEK) begin an HTTP/1.x request line. */
bool looks_like_http(const char *bytes, size_t len);

#endif
