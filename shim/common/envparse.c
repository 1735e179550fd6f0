/* envparse.c: strict parsers for LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES and HOTSWAP_*. */
#include "envparse.h"

#include <signal.h>
#include <stddef.h>

bool env_parse_count(const char *text, long max, long *out)
{
    if (!text || !*text || max < 0)
        return false;
    long value = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        long digit = *p - '0';
        /* value*10 + digit <= max, written so nothing overflows (digit > max: max - digit < 0
         * would round toward zero in the division and let it through) */
        if (digit > max || value > (max - digit) / 10)
            return false;
        value = value * 10 + digit;
    }
    *out = value;
    return true;
}

bool env_parse_fdnames(const char *text, int count, char (*names)[FDNAME_MAX])
{
    if (!text || count < 0)
        return false;
    if (count == 0)
        return text[0] == '\0';
    int index = 0;
    size_t len = 0;
    for (const char *p = text;; p++) {
        if (*p == ':' || *p == '\0') {
            if (index >= count)
                return false;
            names[index][len] = '\0';
            index++;
            len = 0;
            if (*p == '\0')
                break;
            continue;
        }
        if (*p < 0x20 || *p > 0x7e || len + 1 >= FDNAME_MAX || index >= count)
            return false;
        names[index][len++] = *p;
    }
    return index == count;
}

bool signal_usable(int sig)
{
    switch (sig) {
    case SIGKILL:
    case SIGSTOP: /* cannot be caught: kill or freeze it */
    case SIGTSTP:
    case SIGTTIN:
    case SIGTTOU: /* stop a server that has no handler */
    case SIGPIPE:
    case SIGCHLD: /* what a server ignores, or reaps children on */
    case SIGSEGV:
    case SIGBUS:
    case SIGFPE:
    case SIGILL:
    case SIGABRT:
    case SIGTRAP:
    case SIGSYS:
        return false; /* the kernel's and the runtime's: a crash */
    default:
        return sig >= 1;
    }
}

int env_parse_signal(const char *text, int max)
{
    long value = 0;
    if (!env_parse_count(text, max, &value) || value < 1 || !signal_usable((int)value))
        return -1;
    return (int)value;
}
