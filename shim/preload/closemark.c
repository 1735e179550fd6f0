/* closemark.c: in a drain, the next answer head written on a keep-alive HTTP/1.x connection says
 * "Connection: close" (RFC 9112 §9.6). Its client then closes after reading that answer and sends
 * nothing more on it, so no request of its ever races the connection's close: a client that never
 * retries (wrk) sees no error. The server did not ask for the close and may keep the connection
 * open: the client's close reaches it as an end-of-file, or, with nothing queued once the answer is
 * complete, the drain's idle close (quietclose.c) ends it at once.
 *
 * The rewrite: a `Connection` field (any case of letters) without a "close" token has its whole
 * value replaced by "close"; without one, "Connection: close" is added after the status line.
 * Never touched: a head not whole in one call (split over several writes: the answer goes out as
 * written, and the connection closes as before the mark existed), a 1xx (interim, or 101 switching
 * protocols), an answer to CONNECT, a head with two Connection fields or a folded line, a
 * connection whose framing is unknown (TLS, another protocol: httpframe.c) or not at an answer's
 * start, and a send with ancillary data.
 *
 * The server's view stays its own: every count it gets back is of its own bytes. A rewritten head
 * is written only when the socket's send buffer has room for it (SO_MEMINFO), so the kernel
 * takes it whole; on a blocking socket the rest of a short write is written at once, as the
 * server asked. On a nonblocking socket, should the kernel still take only part of the
 * replacement text, the count returned stops before it, and the rest of it is owed: the server's
 * next write on the connection starts with the bytes the replacement stands for, so the shim
 * sends the owed text in their place and passes over them (counting them as sent). A short write
 * never leaves a half-rewritten head. */
#define _GNU_SOURCE
#include "closemark.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sock_diag.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "connstate.h"
#include "drainstate.h"
#include "fdslots.h"
#include "handover.h"
#include "httpframe.h"
#include "real.h"

atomic_bool closemark_armed;

#define HEAD_MAX 4096   /* a larger head is not looked at: not marked */
#define VECTOR_MAX 64   /* iovecs of one rewritten write, head pieces included */
#define ROOM_SLACK 4096 /* kernel overhead per buffer (sk_buff) beyond the bytes themselves */

static const char close_value[] = "close";
static const char close_line[] = "Connection: close\r\n";

enum owed_kind { OWED_NONE = 0, OWED_VALUE, OWED_LINE };

/* The part of a rewritten head the kernel has not taken yet. Only the thread writing on the
 * connection touches it (two threads writing one stream at once would garble it anyway). */
struct owed {
    uint8_t kind;      /* enum owed_kind: the text owed is close_value or close_line */
    uint8_t done;      /* bytes of that text sent */
    uint16_t replaced; /* the server's bytes it stands for, still to pass over */
    uint8_t verdict;   /* enum closemark_verdict: the answer under way, or the last one */
};

static struct owed owed_static[FDSLOTS_STATIC];
static struct fdslots owed_above;

static struct owed *owed_at(int fd, bool make)
{
    if ((unsigned)fd < FDSLOTS_STATIC)
        return &owed_static[fd];
    return fdslots_at(&owed_above, fd, sizeof owed_static[0], make);
}

void closemark_arm(void)
{
    atomic_store_explicit(&closemark_armed, true, memory_order_relaxed);
}

void closemark_reset(int fd)
{
    struct owed *o = owed_at(fd, false);
    if (o)
        *o = (struct owed){0};
}

static const char *owed_text(const struct owed *o, size_t *len)
{
    const char *text = o->kind == OWED_VALUE ? close_value : close_line;
    size_t full = o->kind == OWED_VALUE ? sizeof close_value - 1 : sizeof close_line - 1;
    *len = full - o->done;
    return text + o->done;
}

/* ---- reading the head ----------------------------------------------------------------------- */

/* Where the head goes and what replaces what in it. */
struct rewrite {
    size_t head_len;     /* the head, up to and with its empty line */
    size_t at;           /* where the change starts */
    size_t replaced;     /* bytes of the server's replaced there */
    enum owed_kind with; /* by close_value or close_line */
};

static bool same_letters(const char *text, const char *lower, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if ((c >= 'A' && c <= 'Z' ? c + 32 : c) != (unsigned char)lower[i])
            return false;
    }
    return true;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* The comma-separated list [p, end) holds the token "close", in any case. */
static bool has_close_token(const char *p, const char *end)
{
    while (p < end) {
        while (p < end && (is_space(*p) || *p == ','))
            p++;
        const char *start = p;
        while (p < end && *p != ',')
            p++;
        const char *stop = p;
        while (stop > start && is_space(stop[-1]))
            stop--;
        if (stop - start == 5 && same_letters(start, "close", 5))
            return true;
    }
    return false;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

enum plan {
    PLAN_REWRITE,    /* *r says how */
    PLAN_INTERIM,    /* a 1xx: left alone, the final answer's head is the one to mark */
    PLAN_SAYS_CLOSE, /* the server's own head says close already */
    PLAN_REFUSE,     /* not one the shim will rewrite */
};

/* The head [head, head + len) (it ends with its empty line): what to change so that it says
 * close. */
static enum plan plan_rewrite(const char *head, size_t len, struct rewrite *r)
{
    if (len < 16 || memcmp(head, "HTTP/1.", 7) != 0 || !is_digit(head[7]) || head[8] != ' ' || !is_digit(head[9]) ||
        !is_digit(head[10]) || !is_digit(head[11]))
        return PLAN_REFUSE;
    if (head[9] < '2')
        return PLAN_INTERIM;          /* 1xx: interim (the final answer follows) or switching protocols */
    const char *end = head + len - 2; /* the empty line's CRLF */
    const char *line = memchr(head, '\n', len);
    if (!line || line >= end)
        return PLAN_REFUSE;
    line++;
    *r = (struct rewrite){.head_len = len, .at = (size_t)(line - head), .replaced = 0, .with = OWED_LINE};
    bool seen = false;
    while (line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol || is_space(*line))
            return PLAN_REFUSE; /* a folded line (obs-fold): not ours to read */
        const char *stop = eol > line && eol[-1] == '\r' ? eol - 1 : eol;
        if (stop - line > 10 && line[10] == ':' && same_letters(line, "connection", 10)) {
            if (seen)
                return PLAN_REFUSE; /* two Connection fields: one would still say keep-alive */
            seen = true;
            const char *value = line + 11;
            while (value < stop && is_space(*value))
                value++;
            const char *value_end = stop;
            while (value_end > value && is_space(value_end[-1]))
                value_end--;
            if (has_close_token(value, value_end))
                return PLAN_SAYS_CLOSE;
            r->at = (size_t)(value - head);
            r->replaced = (size_t)(value_end - value);
            r->with = OWED_VALUE;
        }
        line = eol + 1;
    }
    return PLAN_REWRITE;
}

/* Copies the first bytes of `iov` (up to HEAD_MAX) to `out`; returns the head's length, up to and
 * with its empty line, or 0 if the head does not end within them. */
static size_t whole_head(const struct iovec *iov, int count, char *out)
{
    size_t have = 0;
    for (int i = 0; i < count && have < HEAD_MAX; i++) {
        size_t take = iov[i].iov_len < HEAD_MAX - have ? iov[i].iov_len : HEAD_MAX - have;
        if (take)
            memcpy(out + have, iov[i].iov_base, take);
        have += take;
    }
    const char *blank = memmem(out, have, "\r\n\r\n", 4);
    return blank ? (size_t)(blank - out) + 4 : 0;
}

/* ---- writing -------------------------------------------------------------------------------- */

static size_t iov_total(const struct iovec *iov, int count)
{
    size_t total = 0;
    for (int i = 0; i < count; i++)
        total += iov[i].iov_len;
    return total;
}

/* Appends to `out` (holding `n`) the bytes of `iov` from byte `from` on; -1 if they do not fit. */
static int append_from(struct iovec *out, int n, const struct iovec *iov, int count, size_t from)
{
    for (int i = 0; i < count; i++) {
        if (from >= iov[i].iov_len) {
            from -= iov[i].iov_len;
            continue;
        }
        if (n == VECTOR_MAX)
            return -1;
        out[n++] = (struct iovec){(char *)iov[i].iov_base + from, iov[i].iov_len - from};
        from = 0;
    }
    return n;
}

static bool blocks(int fd, int flags)
{
    if (flags >= 0 && (flags & MSG_DONTWAIT))
        return false;
    int status = real.fcntl(fd, F_GETFL);
    return status >= 0 && !(status & O_NONBLOCK);
}

static ssize_t send_once(int fd, struct iovec *v, int n, int flags)
{
    if (flags < 0)
        return real.writev(fd, v, n);
    struct msghdr msg = {.msg_iov = v, .msg_iovlen = (size_t)n};
    return real.sendmsg(fd, &msg, flags);
}

/* Sends `v`; on a blocking socket, all of it, as a blocking write would (a signal, the drain's
 * among them, can cut one short). Returns the bytes sent, or -1 if none. */
static ssize_t send_vector(int fd, struct iovec *v, int n, int flags)
{
    ssize_t sent = send_once(fd, v, n, flags);
    if (sent <= 0 || (size_t)sent >= iov_total(v, n) || !blocks(fd, flags))
        return sent;
    int saved = errno;
    size_t done = (size_t)sent;
    struct iovec rest[VECTOR_MAX];
    for (;;) {
        int left = append_from(rest, 0, v, n, done);
        if (left <= 0)
            break;
        ssize_t more = send_once(fd, rest, left, flags);
        if (more <= 0 && !(more < 0 && errno == EINTR))
            break;
        if (more > 0)
            done += (size_t)more;
    }
    errno = saved; /* a failure now is the next write's to see */
    return (ssize_t)done;
}

/* The send buffer takes `len` more bytes at once: the kernel will not cut a rewritten head. */
static bool room_for(int fd, size_t len)
{
    uint32_t mem[SK_MEMINFO_VARS] = {0};
    socklen_t size = sizeof mem;
    if (real.getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &size) < 0 ||
        size < (SK_MEMINFO_WMEM_QUEUED + 1) * sizeof mem[0])
        return false;
    uint64_t used = mem[SK_MEMINFO_WMEM_ALLOC] > mem[SK_MEMINFO_WMEM_QUEUED] ? mem[SK_MEMINFO_WMEM_ALLOC]
                                                                             : mem[SK_MEMINFO_WMEM_QUEUED];
    return used + len + ROOM_SLACK <= mem[SK_MEMINFO_SNDBUF];
}

static atomic_int owing; /* connections with text owed: a rollback must not forget them */

static void set_verdict(int fd, enum closemark_verdict verdict)
{
    struct owed *o = owed_at(fd, verdict != CLOSEMARK_UNDECIDED);
    if (o)
        o->verdict = (uint8_t)verdict;
}

enum closemark_verdict closemark_verdict(int fd)
{
    struct owed *o = owed_at(fd, false);
    return o ? (enum closemark_verdict)o->verdict : CLOSEMARK_UNDECIDED;
}

/* Writes `iov` with its head rewritten to say close. False if it wrote nothing. */
static bool write_marked(int fd, const struct iovec *iov, int count, int flags, ssize_t *sent)
{
    char head[HEAD_MAX];
    memset(head, 0, 16); /* the status line's fixed part is read before its length is known to the analyzer */
    struct rewrite r;
    size_t head_len = whole_head(iov, count, head);
    enum plan plan = head_len ? plan_rewrite(head, head_len, &r) : PLAN_REFUSE;
    if (plan != PLAN_REWRITE) {
        set_verdict(fd, plan == PLAN_SAYS_CLOSE ? CLOSEMARK_SAID_CLOSE
                        : plan == PLAN_REFUSE   ? CLOSEMARK_REFUSED
                                                : CLOSEMARK_UNDECIDED);
        return false;
    }
    const char *with = r.with == OWED_VALUE ? close_value : close_line;
    size_t with_len = r.with == OWED_VALUE ? sizeof close_value - 1 : sizeof close_line - 1;
    size_t after = r.at + r.replaced;
    struct iovec v[VECTOR_MAX] = {
        {head, r.at},
        {(char *)with, with_len},
        {head + after, head_len - after},
    };
    int n = append_from(v, 3, iov, count, head_len);
    if (n < 0 || !room_for(fd, head_len - r.replaced + with_len)) {
        set_verdict(fd, CLOSEMARK_REFUSED);
        return false;
    }
    ssize_t got = send_vector(fd, v, n, flags);
    if (got <= (ssize_t)r.at) {
        /* nothing rewritten went out: the rest goes as the server writes it (none: the next
         * write may mark it still) */
        set_verdict(fd, got > 0 ? CLOSEMARK_REFUSED : CLOSEMARK_UNDECIDED);
        *sent = got;
        return true;
    }
    set_verdict(fd, CLOSEMARK_SAID_CLOSE);
    if ((size_t)got < r.at + with_len) {
        /* the kernel took part of the replacement: the rest is owed before anything else */
        struct owed *o = owed_at(fd, true);
        if (o) {
            *o = (struct owed){
                .kind = (uint8_t)r.with, .done = (uint8_t)((size_t)got - r.at), .replaced = (uint16_t)r.replaced};
            atomic_fetch_add(&owing, 1);
        }
        *sent = (ssize_t)r.at;
        return true;
    }
    *sent = got - (ssize_t)with_len + (ssize_t)r.replaced;
    return true;
}

/* The server's next write after a rewritten head it was told went out only in part: the owed
 * text first, in place of the server's bytes it stands for. */
static bool write_owed(int fd, struct owed *o, const struct iovec *iov, int count, int flags, ssize_t *sent)
{
    size_t owed_len, total = iov_total(iov, count);
    const char *text = owed_text(o, &owed_len);
    size_t skip = total < o->replaced ? total : o->replaced;
    struct iovec v[VECTOR_MAX];
    int n = 0;
    if (owed_len)
        v[n++] = (struct iovec){(char *)text, owed_len};
    n = append_from(v, n, iov, count, skip);
    if (n < 0) {
        n = owed_len ? 1 : 0; /* too many pieces: the owed text alone this time */
        skip = 0;
    }
    ssize_t got = n ? send_vector(fd, v, n, flags) : 0;
    if (got < 0) {
        *sent = -1;
        return true;
    }
    if ((size_t)got < owed_len) {
        o->done = (uint8_t)(o->done + got);
        *sent = -1;
        errno = EAGAIN; /* none of the server's own bytes went */
        return true;
    }
    o->done = (uint8_t)(o->done + owed_len);
    o->replaced = (uint16_t)(o->replaced - skip);
    if (o->replaced == 0) {
        o->kind = OWED_NONE;
        atomic_fetch_sub(&owing, 1);
    }
    size_t theirs = skip + ((size_t)got - owed_len);
    if (theirs == 0 && total > 0) {
        *sent = -1;
        errno = EAGAIN;
        return true;
    }
    *sent = (ssize_t)theirs;
    return true;
}

bool closemark_write(int fd, const struct iovec *iov, int count, int flags, ssize_t *sent)
{
    int saved = errno;
    struct owed *o = atomic_load_explicit(&owing, memory_order_relaxed) ? owed_at(fd, false) : NULL;
    bool wrote;
    if (o && o->kind != OWED_NONE)
        wrote = write_owed(fd, o, iov, count, flags, sent);
    else if (!drain_begun() || handover_enabled() || count < 1)
        return false;
    else {
        enum conn_state state = conn_state(fd);
        if ((state != CONN_BUSY && state != CONN_ANSWERED && state != CONN_CLOSING) || !frame_head_due(fd))
            return false;
        wrote = write_marked(fd, iov, count, flags, sent);
    }
    if (wrote && *sent >= 0)
        errno = saved;
    return wrote;
}
