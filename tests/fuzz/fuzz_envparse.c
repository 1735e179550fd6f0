/* fuzz_envparse.c: libFuzzer harness for the shim's environment parsers (shim/common/envparse.c).
 *
 * Input layout: byte 0 picks `count` (byte % 65, so 0..64), byte 1 picks `max` (0..127 as is;
 * with the top bit set, an edge value from the table below), the rest is the text (cut at its
 * first NUL, at most TEXT_MAX bytes). Inputs shorter than 2 bytes are all text, with count 0 and
 * max LONG_MAX. Each parser also runs with the bounds the shim itself uses (64, 65535, INT_MAX)
 * and env_parse_fdnames with the count the text "asks for" (its ':' + 1), so that its success
 * path is reached without the fuzzer having to guess the count.
 *
 * Every property is checked both ways: what a parser accepts must be valid, and what is valid
 * must be accepted. A violation is __builtin_trap(), which libFuzzer reports as a crash. */
#include "envparse.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEXT_MAX 4096
#define COUNT_MAX 64

/* Names the broken invariant on stderr (the trap's stack has no line number), then traps. */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, __LINE__, #cond);         \
            __builtin_trap();                                                                      \
        }                                                                                          \
    } while (0)

static const long max_table[16] = {
    0, 1, 2, 8, 9, 10, 19, 20, 63, 64, 65, 99, 100, 65535, INT_MAX, LONG_MAX,
};

static bool all_digits(const char *text)
{
    return text[0] != '\0' && strspn(text, "0123456789") == strlen(text);
}

/* The text's value as strtoul reads it; false if it is not all digits or does not fit. */
static bool reference_value(const char *text, unsigned long *value)
{
    if (!all_digits(text))
        return false;
    char *end;
    errno = 0;
    *value = strtoul(text, &end, 10);
    return errno == 0 && *end == '\0';
}

static void check_count(const char *text, long max)
{
    long out = -12345;
    bool ok = env_parse_count(text, max, &out);
    unsigned long ref;
    bool valid = reference_value(text, &ref) && ref <= (unsigned long)max;
    if (ok) {
        CHECK(all_digits(text));
        CHECK(out >= 0 && out <= max);
        CHECK(reference_value(text, &ref) && ref == (unsigned long)out);
    }
    CHECK(ok == valid); /* and nothing valid is refused */
}

/* The signals hotswap refuses to send as a drain, stop or trigger signal, listed again here the
 * plain way so that the harness does not trust signal_usable() to check itself. */
static bool signal_refused(unsigned long sig)
{
    static const int refused[] = {SIGKILL, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU, SIGPIPE, SIGCHLD,
                                  SIGSEGV, SIGBUS,  SIGFPE,  SIGILL,  SIGABRT, SIGTRAP, SIGSYS};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        if (sig == (unsigned long)refused[i])
            return true;
    return false;
}

static void check_signal(const char *text, int max)
{
    int sig = env_parse_signal(text, max);
    CHECK(sig == -1 || (sig >= 1 && sig <= max && !signal_refused((unsigned long)sig)));
    unsigned long ref;
    bool valid = reference_value(text, &ref) && ref >= 1 && ref <= (unsigned long)max &&
                 !signal_refused(ref);
    if (sig != -1)
        CHECK(valid && ref == (unsigned long)sig);
    CHECK(valid == (sig != -1));
}

/* What env_parse_fdnames must do, written the obvious way: split at ':', check each piece. */
static bool fdnames_valid(const char *text, int count)
{
    if (count == 0)
        return text[0] == '\0';
    int pieces = 1;
    size_t len = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == ':') {
            pieces++;
            len = 0;
        } else if (*p < 0x20 || *p > 0x7e || ++len > FDNAME_MAX - 1) {
            return false;
        }
    }
    return pieces == count;
}

static void check_fdnames(const char *text, int count)
{
    /* Exactly `count` rows on the heap, so a write past them is an ASan report, pre-filled so
     * that a name left without its NUL shows. */
    size_t size = (size_t)count * FDNAME_MAX;
    char (*names)[FDNAME_MAX] = malloc(size ? size : 1);
    if (!names)
        return;
    memset(names, 0xa5, size);
    bool ok = env_parse_fdnames(text, count, names);
    if (ok) {
        static char joined[TEXT_MAX + COUNT_MAX * FDNAME_MAX + 1];
        size_t at = 0;
        for (int i = 0; i < count; i++) {
            const char *end = memchr(names[i], '\0', FDNAME_MAX);
            CHECK(end != NULL); /* terminated, at most FDNAME_MAX-1 bytes */
            size_t len = (size_t)(end - names[i]);
            for (size_t j = 0; j < len; j++) {
                unsigned char c = (unsigned char)names[i][j];
                CHECK(c >= 0x20 && c <= 0x7e && c != ':');
            }
            if (i > 0)
                joined[at++] = ':';
            memcpy(joined + at, names[i], len);
            at += len;
        }
        joined[at] = '\0';
        CHECK(strcmp(joined, text) == 0); /* exactly these `count` names, and nothing else */
    }
    CHECK(ok == fdnames_valid(text, count));
    free(names);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int count = 0;
    long max = LONG_MAX;
    if (size >= 2) {
        count = data[0] % (COUNT_MAX + 1);
        max = data[1] & 0x80 ? max_table[data[1] & 0x0f] : (long)data[1];
        data += 2;
        size -= 2;
    }
    if (size > TEXT_MAX)
        size = TEXT_MAX;
    char text[TEXT_MAX + 1];
    memcpy(text, data, size);
    text[size] = '\0';

    static const long fixed_max[] = {64, 65535, INT_MAX, LONG_MAX};
    check_count(text, max);
    for (size_t i = 0; i < sizeof fixed_max / sizeof fixed_max[0]; i++)
        check_count(text, fixed_max[i]);

    check_signal(text, max > INT_MAX ? INT_MAX : (int)max);
    check_signal(text, 64); /* SIGRTMAX on Linux */

    check_fdnames(text, count);
    int asked = 1;
    for (const char *p = text; *p; p++)
        asked += *p == ':';
    if (asked <= COUNT_MAX && asked != count)
        check_fdnames(text, asked);
    return 0;
}
