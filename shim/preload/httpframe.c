/* httpframe.c: following HTTP/1.x answers byte by byte as they are written (RFC 9112 §6.3: a body
 * is framed by Transfer-Encoding: chunked, else Content-Length; none after HEAD, 1xx, 204, 304;
 * anything else ends at close). Only the head and the chunk lines are looked at; body bytes are
 * skipped by count, so the cost is a few hundred bytes per answer, whatever its size. */
#define _GNU_SOURCE
#include "httpframe.h"

#include <stdint.h>
#include <string.h>

#include "fdslots.h"

enum frame_state {
    FRAME_BETWEEN = 0, /* no answer under way: the next byte starts one */
    FRAME_STATUS,      /* "HTTP/1.x NNN" at the start of the status line */
    FRAME_STATUS_REST, /* the rest of the status line */
    FRAME_FIELD,       /* a header field line; an empty one ends the head */
    FRAME_BODY,        /* `remaining` bytes of a Content-Length body left */
    FRAME_CHUNK_SIZE,  /* a chunk-size line (hex, maybe an extension) */
    FRAME_CHUNK_DATA,  /* `remaining` bytes of chunk data left */
    FRAME_CHUNK_END,   /* the CRLF after a chunk's data */
    FRAME_TRAILER,     /* trailer fields after the last chunk, up to an empty line */
    FRAME_UNKNOWN,     /* not HTTP/1.x, a body that ends at close, a switched protocol */
};

enum {
    REQUEST_HEAD = 1 << 0,    /* the answer is to a HEAD: no body */
    REQUEST_CONNECT = 1 << 1, /* to a CONNECT: a 2xx makes it a tunnel */
    HAS_LENGTH = 1 << 2,      /* Content-Length seen */
    HAS_TRANSFER = 1 << 3,    /* Transfer-Encoding seen */
    IS_CHUNKED = 1 << 4,      /* ... with chunked in it */
    IN_VALUE = 1 << 5,        /* past the colon of the field line */
    IN_EXTENSION = 1 << 6,    /* past the ';' of a chunk-size line */
};

/* The two field names that frame a body, as bits in `names`. */
#define NAME_LENGTH 1u
#define NAME_TRANSFER 2u
static const char content_length[] = "content-length";
static const char transfer_encoding[] = "transfer-encoding";

#define REMAINING_MAX (1ull << 60) /* a larger length is no answer we will see the end of */

struct frame {
    uint8_t state;
    uint8_t flags;
    uint8_t pos;   /* bytes into "HTTP/1.x NNN", or into the current line (capped at 255) */
    uint8_t names; /* field names still matching the line; after the colon, the one matched */
    uint16_t status;
    uint8_t matched; /* bytes of "chunked" matched in a Transfer-Encoding value; digits read */
    uint8_t unused;
    uint64_t remaining;
};

/* Per fd, for any fd number (fdslots.h); a record never made reads as {0}: between answers. */
static struct frame frames[FDSLOTS_STATIC];
static struct fdslots frames_above;

static struct frame *frame_at(int fd, bool make)
{
    if ((unsigned)fd < FDSLOTS_STATIC)
        return &frames[fd];
    return fdslots_at(&frames_above, fd, sizeof frames[0], make);
}

static struct frame *frame_of(int fd)
{
    return frame_at(fd, true);
}

void frame_reset(int fd)
{
    struct frame *f = frame_of(fd);
    if (f)
        *f = (struct frame){0};
}

void frame_request_begins(int fd, const void *head, size_t len)
{
    struct frame *f = frame_of(fd);
    if (!f || f->state != FRAME_BETWEEN)
        return; /* pipelined behind an answer under way: its method is not ours to guess */
    f->flags = 0;
    if (len >= 5 && memcmp(head, "HEAD ", 5) == 0)
        f->flags = REQUEST_HEAD;
    else if (len >= 8 && memcmp(head, "CONNECT ", 8) == 0)
        f->flags = REQUEST_CONNECT;
}

static void answer_complete(struct frame *f)
{
    *f = (struct frame){0};
}

static void lower_line_start(struct frame *f)
{
    f->pos = 0;
    f->names = NAME_LENGTH | NAME_TRANSFER;
    f->matched = 0;
    f->flags &= (uint8_t)~IN_VALUE;
}

/* The empty line after the head: what comes next is decided here. */
static void head_ended(struct frame *f)
{
    unsigned status = f->status;
    if (status == 101 || ((f->flags & REQUEST_CONNECT) && status >= 200 && status < 300))
        f->state = FRAME_UNKNOWN; /* another protocol from here on */
    else if (status >= 100 && status < 200) {
        uint8_t request = f->flags & (REQUEST_HEAD | REQUEST_CONNECT);
        *f = (struct frame){.state = FRAME_STATUS, .flags = request}; /* interim: the answer follows */
    } else if ((f->flags & REQUEST_HEAD) || status == 204 || status == 304)
        answer_complete(f);
    else if (f->flags & HAS_TRANSFER) {
        f->state = (f->flags & IS_CHUNKED) ? FRAME_CHUNK_SIZE : FRAME_UNKNOWN;
        f->remaining = 0;
        f->matched = 0;
    } else if (f->flags & HAS_LENGTH) {
        if (f->remaining == 0)
            answer_complete(f);
        else
            f->state = FRAME_BODY;
    } else
        f->state = FRAME_UNKNOWN; /* the body ends when the connection does */
}

/* One byte of a field line, lowercase-insensitive. */
static void field_byte(struct frame *f, unsigned char c)
{
    if (c == '\r')
        return;
    if (c == '\n') {
        if (f->pos == 0) {
            head_ended(f);
            return;
        }
        if ((f->flags & IN_VALUE) && f->names == NAME_LENGTH)
            f->flags |= HAS_LENGTH;
        lower_line_start(f);
        return;
    }
    unsigned char lower = (unsigned char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    if (!(f->flags & IN_VALUE)) {
        if (c == ':') {
            f->names &= (uint8_t)((f->pos == sizeof content_length - 1 ? NAME_LENGTH : 0) |
                                  (f->pos == sizeof transfer_encoding - 1 ? NAME_TRANSFER : 0));
            f->flags |= IN_VALUE;
            if (f->names == NAME_LENGTH)
                f->remaining = 0; /* a second Content-Length must agree: it is read again */
            if (f->names == NAME_TRANSFER)
                f->flags |= HAS_TRANSFER;
        } else {
            if (f->pos >= sizeof content_length - 1 || content_length[f->pos] != lower)
                f->names &= (uint8_t)~NAME_LENGTH;
            if (f->pos >= sizeof transfer_encoding - 1 || transfer_encoding[f->pos] != lower)
                f->names &= (uint8_t)~NAME_TRANSFER;
        }
        if (f->pos < 255)
            f->pos++;
        return;
    }
    if (f->pos < 255)
        f->pos++;
    if (f->names == NAME_LENGTH) {
        if (c >= '0' && c <= '9' && f->remaining < REMAINING_MAX)
            f->remaining = f->remaining * 10 + (uint64_t)(c - '0');
        else if (c != ' ' && c != '\t')
            f->state = FRAME_UNKNOWN; /* a length the client cannot frame by either */
    } else if (f->names == NAME_TRANSFER) {
        static const char chunked[] = "chunked";
        if (lower == (unsigned char)chunked[f->matched])
            f->matched++;
        else
            f->matched = lower == 'c' ? 1 : 0;
        if (f->matched == sizeof chunked - 1) {
            f->flags |= IS_CHUNKED;
            f->matched = 0;
        }
    }
}

static void chunk_size_byte(struct frame *f, unsigned char c)
{
    if (c == '\n') {
        f->flags &= (uint8_t)~IN_EXTENSION;
        if (!f->matched)
            f->state = FRAME_UNKNOWN;
        else if (f->remaining == 0) {
            f->state = FRAME_TRAILER;
            f->pos = 0;
        } else
            f->state = FRAME_CHUNK_DATA;
        return;
    }
    if (f->flags & IN_EXTENSION || c == '\r' || c == ' ' || c == '\t')
        return;
    if (c == ';') {
        f->flags |= IN_EXTENSION;
        return;
    }
    int digit = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
    if (digit < 0 || f->remaining >= REMAINING_MAX) {
        f->state = FRAME_UNKNOWN;
        return;
    }
    f->remaining = f->remaining * 16 + (uint64_t)digit;
    f->matched = 1;
}

/* ---- whole lines at once: the usual case, an answer's head in one write ----------------------- */

static bool same_letters(const unsigned char *text, const char *lower, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = text[i];
        if ((c >= 'A' && c <= 'Z' ? c + 32 : c) != (unsigned char)lower[i])
            return false;
    }
    return true;
}

/* `line` starts with `name` (lowercase) and a colon, in any case: the canonical spelling is
 * checked first, as nearly every server writes it. */
static bool names_field(const unsigned char *line, size_t len, const char *name, const char *canonical, size_t name_len)
{
    return len > name_len + 1 && line[name_len] == ':' &&
           (memcmp(line, canonical, name_len) == 0 || same_letters(line, name, name_len));
}

/* A whole field line [line, line + len) (no CR, no LF), at once. */
static void whole_field(struct frame *f, const unsigned char *line, size_t len)
{
    unsigned char first = line[0] | 32;
    if (first == 'c' && names_field(line, len, content_length, "Content-Length", sizeof content_length - 1)) {
        /* digits, with spaces around them; anything else is a length nobody can frame by */
        uint64_t value = 0;
        bool digits = false, ok = true;
        for (size_t i = sizeof content_length; i < len && ok; i++) {
            unsigned char c = line[i];
            if (c >= '0' && c <= '9' && value < REMAINING_MAX) {
                value = value * 10 + (uint64_t)(c - '0');
                digits = true;
            } else {
                ok = c == ' ' || c == '\t';
            }
        }
        if (!ok || !digits) {
            f->state = FRAME_UNKNOWN;
            return;
        }
        f->remaining = value;
        f->flags |= HAS_LENGTH;
    } else if (first == 't' &&
               names_field(line, len, transfer_encoding, "Transfer-Encoding", sizeof transfer_encoding - 1)) {
        f->names = NAME_TRANSFER;
        f->flags |= IN_VALUE | HAS_TRANSFER;
        for (size_t i = sizeof transfer_encoding; i < len; i++)
            field_byte(f, line[i]);
    }
    lower_line_start(f);
}

/* At the start of a status or field line with the whole line in [p, end): takes it, and returns
 * where the next byte is; NULL to go byte by byte instead (the line goes on in the next write). */
static const unsigned char *whole_line(struct frame *f, const unsigned char *p, const unsigned char *end)
{
    const unsigned char *lf = memchr(p, '\n', (size_t)(end - p));
    if (!lf)
        return NULL;
    size_t len = (size_t)(lf - p) - (lf > p && lf[-1] == '\r');
    if (f->state == FRAME_STATUS) {
        if (len < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[7] < '0' || p[7] > '9' || p[8] != ' ' || p[9] < '0' ||
            p[9] > '9' || p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9') {
            f->state = FRAME_UNKNOWN;
            return end;
        }
        f->status = (uint16_t)((p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0'));
        f->state = FRAME_FIELD;
        lower_line_start(f);
    } else if (len == 0) {
        head_ended(f);
    } else {
        whole_field(f, p, len);
    }
    return lf + 1;
}

/* In a body (or a chunk's data): up to `len` of its bytes, counted, never read; how many. */
static size_t skip_body(struct frame *f, size_t len)
{
    size_t take = len < f->remaining ? len : (size_t)f->remaining;
    f->remaining -= take;
    if (f->remaining == 0) {
        if (f->state == FRAME_BODY)
            answer_complete(f);
        else
            f->state = FRAME_CHUNK_END;
    }
    return take;
}

/* Feeds `len` bytes; returns how many it took (fewer only where a body's count was skipped). */
static size_t feed(struct frame *f, const unsigned char *p, size_t len)
{
    size_t used = 0;
    while (used < len) {
        if (f->state == FRAME_BETWEEN) {
            uint8_t request = f->flags & (REQUEST_HEAD | REQUEST_CONNECT);
            *f = (struct frame){.state = FRAME_STATUS, .flags = request};
        }
        if ((f->state == FRAME_STATUS || (f->state == FRAME_FIELD && !(f->flags & IN_VALUE))) && f->pos == 0) {
            const unsigned char *next = whole_line(f, p + used, p + len);
            if (next) {
                used = (size_t)(next - p);
                continue;
            }
        }
        if (f->state == FRAME_BODY || f->state == FRAME_CHUNK_DATA) {
            used += skip_body(f, len - used);
            continue;
        }
        unsigned char c = p[used++];
        switch (f->state) {
        case FRAME_STATUS: {
            static const char version[] = "HTTP/1.";
            bool fits = f->pos < 7    ? c == (unsigned char)version[f->pos]
                        : f->pos == 7 ? (c >= '0' && c <= '9')
                        : f->pos == 8 ? c == ' '
                                      : (c >= '0' && c <= '9');
            if (!fits) {
                f->state = FRAME_UNKNOWN;
                break;
            }
            if (f->pos >= 9)
                f->status = (uint16_t)(f->status * 10 + (c - '0'));
            if (++f->pos == 12)
                f->state = FRAME_STATUS_REST;
            break;
        }
        case FRAME_STATUS_REST:
            if (c == '\n') {
                f->state = FRAME_FIELD;
                lower_line_start(f);
            }
            break;
        case FRAME_FIELD:
            field_byte(f, c);
            break;
        case FRAME_CHUNK_SIZE:
            chunk_size_byte(f, c);
            break;
        case FRAME_CHUNK_END:
            if (c == '\n') {
                f->state = FRAME_CHUNK_SIZE;
                f->remaining = 0;
                f->matched = 0;
            } else if (c != '\r') {
                f->state = FRAME_UNKNOWN;
            }
            break;
        case FRAME_TRAILER:
            if (c == '\n') {
                if (f->pos == 0)
                    answer_complete(f);
                f->pos = 0;
            } else if (c != '\r') {
                f->pos = 1;
            }
            break;
        default: /* FRAME_UNKNOWN: for good */
            return len;
        }
    }
    return used;
}

void frame_sent(int fd, const struct iovec *iov, int count, size_t sent)
{
    struct frame *f = frame_of(fd);
    for (int i = 0; f && i < count && sent > 0; i++) {
        size_t len = iov[i].iov_len < sent ? iov[i].iov_len : sent;
        feed(f, iov[i].iov_base, len);
        sent -= len;
    }
}

void frame_sent_unseen(int fd, size_t sent)
{
    struct frame *f = frame_of(fd);
    if (!f || sent == 0)
        return;
    if ((f->state != FRAME_BODY && f->state != FRAME_CHUNK_DATA) || sent > f->remaining) {
        f->state = FRAME_UNKNOWN;
        return;
    }
    skip_body(f, sent); /* a body's bytes are counted, never read (sent is within it) */
}

bool frame_complete(int fd)
{
    struct frame *f = frame_of(fd);
    return f && f->state == FRAME_BETWEEN;
}

bool frame_known(int fd)
{
    struct frame *f = frame_of(fd);
    return f && f->state != FRAME_UNKNOWN;
}

bool frame_head_due(int fd)
{
    struct frame *f = frame_of(fd);
    return f && (f->state == FRAME_BETWEEN || (f->state == FRAME_STATUS && f->pos == 0)) &&
           !(f->flags & REQUEST_CONNECT);
}
