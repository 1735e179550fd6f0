/* envfile.c: --env-file (envfile.h). */
#define _GNU_SOURCE
#include "envfile.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ENVFILE_MAX 65536
#define ENVFILE_LINES_MAX 1024

static bool shell_name(const char *text, size_t len)
{
    if (len == 0 || !(isalpha((unsigned char)text[0]) || text[0] == '_'))
        return false;
    for (size_t i = 1; i < len; i++)
        if (!(isalnum((unsigned char)text[i]) || text[i] == '_'))
            return false;
    return true;
}

int envfile_read(const char *path, char ***out, char *why, size_t size)
{
    *out = NULL;
    static char text[ENVFILE_MAX + 1];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t total = 0, n = 0;
    while (fd >= 0 && total < ENVFILE_MAX && (n = read(fd, text + total, (size_t)(ENVFILE_MAX - total))) > 0)
        total += n;
    int err = errno;
    if (fd >= 0)
        close(fd);
    if (fd < 0 || n < 0) {
        snprintf(why, size, "--env-file %s: %s", path, strerror(err));
        return -1;
    }
    if (total >= ENVFILE_MAX) {
        snprintf(why, size, "--env-file %s: larger than %d bytes", path, ENVFILE_MAX);
        return -1;
    }
    text[total] = '\0';
    if (memchr(text, '\0', (size_t)total)) {
        snprintf(why, size, "--env-file %s: not a text file (it holds NUL bytes)", path);
        return -1;
    }
    char **vars = malloc((ENVFILE_LINES_MAX + 1) * sizeof *vars + (size_t)total + 1);
    if (!vars) {
        snprintf(why, size, "--env-file %s: out of memory", path);
        return -1;
    }
    char *copy = (char *)(vars + ENVFILE_LINES_MAX + 1);
    memcpy(copy, text, (size_t)total + 1);
    int count = 0, number = 0;
    for (char *line = copy, *next; line && *line; line = next) {
        number++;
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        size_t len = strlen(line);
        if (len && line[len - 1] == '\r')
            line[--len] = '\0';
        if (len == 0 || line[0] == '#')
            continue;
        const char *equals = strchr(line, '=');
        if (!equals || !shell_name(line, (size_t)(equals - line))) {
            snprintf(why, size, "--env-file %s line %d: not KEY=VALUE", path, number);
            free(vars);
            return -1;
        }
        if (count == ENVFILE_LINES_MAX) {
            snprintf(why, size, "--env-file %s: more than %d variables", path, ENVFILE_LINES_MAX);
            free(vars);
            return -1;
        }
        vars[count++] = line;
    }
    vars[count] = NULL;
    *out = vars;
    return 0;
}
