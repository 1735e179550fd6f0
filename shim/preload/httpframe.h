/* httpframe.h: where the answer being written on a connection stands, read from the answer's own
 * framing. A keep-alive connection may be ended or moved by a drain only between two complete
 * answers; the shim knows when an answer is complete only for HTTP/1.x (Content-Length, chunked,
 * no body), and for anything else (another protocol, TLS, a body that ends at close, an upgraded
 * connection) it never guesses: such a connection is never idle to it. */
#ifndef HOTSWAP_HTTPFRAME_H
#define HOTSWAP_HTTPFRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

/* A new connection on `fd`: no answer written yet. */
void frame_reset(int fd);

/* The server read the start of a request (`len` bytes at `head`): its method decides whether the
 * answer has a body (HEAD, CONNECT). */
void frame_request_begins(int fd, const void *head, size_t len);

/* The first `sent` bytes of `iov` went out on `fd`. */
void frame_sent(int fd, const struct iovec *iov, int count, size_t sent);

/* `sent` bytes the shim does not see went out (sendfile, splice): fine inside a body, anything
 * else makes the framing unknown. */
void frame_sent_unseen(int fd, size_t sent);

/* Every answer written on `fd` is complete: none is under way. */
bool frame_complete(int fd);

/* The next byte written on `fd` starts an answer's status line (a first answer, one after a complete
 * answer, or the final answer after a 1xx), and that answer is not to a CONNECT (a tunnel's). */
bool frame_head_due(int fd);

/* The framing is HTTP/1.x so far (not unknown): an answer can be known complete. */
bool frame_known(int fd);

#endif
