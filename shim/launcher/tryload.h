/* tryload.h: the closed-loop load `hotswap try` drives at a server: threads that each connect,
 * ask (an HTTP GET, or nothing with --connect-only) and count each outcome, until told to stop. */
#ifndef HOTSWAP_TRYLOAD_H
#define HOTSWAP_TRYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* TRY_KEPT_ENDED: a reused keep-alive connection ended (EOF or reset) before any byte of the
 * answer. A client may repeat such a request (RFC 9112 9.3.1), but many do not (wrk counts a
 * socket error): a failure, counted apart so that its cause can be told. */
enum try_outcome { TRY_OK, TRY_REFUSED, TRY_RESET, TRY_EOF, TRY_TIMEOUT, TRY_BAD, TRY_KEPT_ENDED, TRY_OUTCOMES };
extern const char *const try_outcome_names[TRY_OUTCOMES];

struct try_target {
    struct sockaddr_storage addr;
    socklen_t len;
    const char *host;      /* for the Host header */
    const char *http_path; /* NULL: connect and close only */
};

/* "IP:PORT", "[IPv6]:PORT" or "unix:PATH" into `t`; false if it is none of those. */
bool try_parse_address(const char *text, struct try_target *t);

/* One request on a fresh connection (the readiness probe too). */
enum try_outcome try_once(const struct try_target *t);

/* Starts `fresh` threads asking on fresh connections and, for HTTP, `kept` on kept-alive ones;
 * false if none could start. */
bool try_load_start(const struct try_target *t, int fresh, int kept);
/* Stops them and adds up what they saw. */
void try_load_stop(unsigned long counts[TRY_OUTCOMES]);

#endif
