/* fuzz_control.c: libFuzzer harness for the launcher's control requests (ctl_command.c: the
 * refusal of what is not a request, "reload with" and its command line) and for the escaping of
 * names (textsafe.c).
 *
 * Input layout: byte 0 says how the request arrived; the rest is the message. The receive buffer
 * is CTL_COMMAND_MAX bytes, as in ctl_server.c: a longer message is cut to it, with MSG_TRUNC and
 * its real length. Byte 0: bit 0 sets MSG_CTRUNC (fds were sent along); bit 1 makes the message
 * longer than what arrived by 1 + (byte 0 >> 2) * 1000 bytes (an oversized request without a
 * 16 KiB input). The bytes received are copied to a buffer of exactly that size, so any read past
 * them is an ASan report.
 *
 * Checked: a message longer than what was received is always refused for its length; what is
 * accepted is printable and short, or a "reload with" whose decoded command line encodes back to
 * the very same bytes. The escaping of the message's first 512 bytes (each flag combination)
 * yields printable ASCII only (and newlines where they are kept), and reads back to them. A violation is
 * __builtin_trap(), which libFuzzer reports as a crash. */
#include "ctl_command.h"
#include "ctl_proto.h"
#include "textsafe.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, __LINE__, #cond);         \
            __builtin_trap();                                                                      \
        }                                                                                          \
    } while (0)

static void check_request(const char *request, size_t received, size_t length, int flags)
{
    const char *refusal = ctl_request_refusal(request, received, length, flags);
    if (length > received || (flags & MSG_TRUNC)) {
        CHECK(refusal && strncmp(refusal, "request too long (", 18) == 0);
        return;
    }
    if (flags & MSG_CTRUNC)
        CHECK(refusal);
    if (refusal)
        return;
    if (ctl_command_is(request, received) > 0) {
        CHECK(received <= CTL_COMMAND_MAX);
        char **argv = ctl_command_decode(request, received);
        CHECK(argv && argv[0] && argv[0][0]);
        static char again[CTL_COMMAND_MAX];
        size_t len = 0;
        CHECK(ctl_command_encode(argv, again, &len));
        CHECK(len == received && memcmp(again, request, len) == 0);
        free(argv);
    } else {
        CHECK(ctl_command_is(request, received) == 0);
        CHECK(received < CTL_REQUEST_MAX);
        for (size_t i = 0; i < received; i++)
            CHECK(request[i] >= 0x20 && request[i] <= 0x7e);
    }
}

/* Reads escaped text back: the inverse of textsafe_escape() with `flags`. */
static size_t unescape(const char *text, char *out, unsigned flags)
{
    size_t n = 0;
    for (const char *p = text; *p; p++) {
        if (*p != '\\' || (flags & TEXTSAFE_KEEP_BACKSLASHES)) {
            out[n++] = *p;
            continue;
        }
        char c = *++p;
        CHECK(c == '\\' || c == 'n' || c == 't' || c == 'r' || c == 'x');
        if (c == 'x') {
            static const char hex[] = "0123456789abcdef";
            const char *high = p[1] ? strchr(hex, p[1]) : NULL, *low = high && p[2] ? strchr(hex, p[2]) : NULL;
            CHECK(high && low);
            out[n++] = (char)((high - hex) << 4 | (low - hex));
            p += 2;
        } else {
            out[n++] = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : '\\';
        }
    }
    return n;
}

static void check_escaping(const char *text, size_t len)
{
    for (unsigned flags = 0; flags < 4; flags++) {
        size_t size = 4 * len + 1;
        char *safe = malloc(size), *back = malloc(len + 1);
        CHECK(safe && back);
        size_t n = textsafe_escape(safe, size, text, len, flags);
        CHECK(n < size && safe[n] == '\0' && strlen(safe) == n);
        for (size_t i = 0; i < n; i++)
            CHECK((safe[i] >= 0x20 && safe[i] <= 0x7e) || (safe[i] == '\n' && (flags & TEXTSAFE_KEEP_NEWLINES)));
        if (!(flags & TEXTSAFE_KEEP_BACKSLASHES)) {
            CHECK(unescape(safe, back, flags) == len && memcmp(back, text, len) == 0);
        }
        /* too small a buffer: cut at a whole escape, still NUL-terminated */
        size_t cut = textsafe_escape(safe, size / 2 + 1, text, len, flags);
        CHECK(cut <= size / 2 && safe[cut] == '\0');
        free(safe);
        free(back);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int how = data[0];
    size_t message = size - 1;
    size_t received = message < CTL_COMMAND_MAX ? message : CTL_COMMAND_MAX;
    size_t length = message;
    int flags = 0;
    if (message > received)
        flags |= MSG_TRUNC;
    if (how & 1)
        flags |= MSG_CTRUNC;
    if (how & 2) {
        length = received + 1 + (size_t)(how >> 2) * 1000;
        flags |= MSG_TRUNC;
    }
    char *request = malloc(received ? received : 1);
    CHECK(request);
    memcpy(request, data + 1, received);
    check_request(request, received, length, flags);
    /* the escaping has nothing that depends on length past a few bytes: its first 512 suffice,
     * and keep a 16 KiB input fast */
    check_escaping(request, received < 512 ? received : 512);
    free(request);
    return 0;
}
