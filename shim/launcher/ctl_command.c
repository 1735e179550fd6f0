/* ctl_command.c: a command line over the control socket (ctl_command.h). */
#include "ctl_command.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ctl_proto.h"

static const char prefix[] = CTL_REQ_RELOAD_WITH; /* sent with its NUL */

static bool printable(const char *arg)
{
    for (const unsigned char *p = (const unsigned char *)arg; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return false;
    return true;
}

bool ctl_command_encode(char *const *argv, char *buf, size_t *len)
{
    size_t at = sizeof prefix;
    int count = 0;
    memcpy(buf, prefix, sizeof prefix);
    for (char *const *arg = argv; *arg; arg++, count++) {
        size_t size = strlen(*arg) + 1;
        if (count >= CTL_COMMAND_ARGS_MAX || at + size > CTL_COMMAND_MAX || !printable(*arg))
            return false;
        memcpy(buf + at, *arg, size);
        at += size;
    }
    *len = at;
    return count > 0;
}

int ctl_command_is(const char *buf, size_t len)
{
    if (len < sizeof prefix || memcmp(buf, prefix, sizeof prefix) != 0)
        return 0;
    if (len == sizeof prefix || buf[len - 1] != '\0')
        return -1; /* no argument, or the last one not ended */
    int count = 0;
    for (size_t at = sizeof prefix; at < len; at += strlen(buf + at) + 1, count++)
        if (count >= CTL_COMMAND_ARGS_MAX || !buf[at] || !printable(buf + at))
            return -1; /* too many, an empty program name, or a control character */
    return 1;
}

const char *ctl_request_refusal(const char *request, size_t received, size_t length, int flags)
{
    static char why[96];
    /* Told apart by the prefix alone: a "reload with" cut short by the buffer is still one, and
     * is refused for its length before anything looks for the end of its last argument. */
    bool command = received >= sizeof prefix && memcmp(request, prefix, sizeof prefix) == 0;
    int limit = command ? CTL_COMMAND_MAX : CTL_REQUEST_MAX - 1;
    if ((flags & MSG_TRUNC) || length > received || length > (size_t)limit) {
        snprintf(why, sizeof why, "request too long (%zu bytes; at most %d)", length, limit);
        return why;
    }
    if (flags & MSG_CTRUNC)
        return "malformed request: file descriptors or other ancillary data are not accepted";
    if (command)
        return ctl_command_is(request, received) < 0
                   ? "malformed request: a command line with no program, or with control characters"
                   : NULL;
    for (size_t i = 0; i < received; i++)
        if (request[i] < 0x20 || request[i] > 0x7e)
            return "malformed request: not printable text";
    return NULL;
}

char **ctl_command_decode(const char *buf, size_t len)
{
    size_t text = len - sizeof prefix;
    int count = 0;
    for (size_t at = sizeof prefix; at < len; at += strlen(buf + at) + 1)
        count++;
    char **argv = malloc((size_t)(count + 1) * sizeof *argv + text);
    if (!argv)
        return NULL;
    char *copy = (char *)(argv + count + 1);
    memcpy(copy, buf + sizeof prefix, text);
    for (int i = 0; i < count; i++) {
        argv[i] = copy;
        copy += strlen(copy) + 1;
    }
    argv[count] = NULL;
    return argv;
}

char **argv_copy(char *const *argv)
{
    size_t text = 0;
    int count = 0;
    for (; argv[count]; count++)
        text += strlen(argv[count]) + 1;
    char **copy = malloc((size_t)(count + 1) * sizeof *copy + text);
    if (!copy)
        return NULL;
    char *at = (char *)(copy + count + 1);
    for (int i = 0; i < count; i++) {
        size_t size = strlen(argv[i]) + 1;
        memcpy(at, argv[i], size);
        copy[i] = at;
        at += size;
    }
    copy[count] = NULL;
    return copy;
}
