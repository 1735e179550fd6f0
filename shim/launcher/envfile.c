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
#include <sys/stat.h>
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

static const char *kind_of(mode_t mode)
{
    return S_ISFIFO(mode)                   ? "a FIFO"
           : S_ISDIR(mode)                  ? "a directory"
           : S_ISLNK(mode)                  ? "a symbolic link"
           : S_ISSOCK(mode)                 ? "a socket"
           : S_ISCHR(mode) || S_ISBLK(mode) ? "a device"
                                            : "not a regular file";
}

static bool owned_by_us_or_root(const struct stat *st)
{
    return st->st_uid == 0 || st->st_uid == geteuid();
}

/* What makes a file (st) in a directory (dir_st) unfit to say the server's environment, or NULL. */
static const char *what_is_wrong(const struct stat *st, const struct stat *dir_st, char *detail, size_t size)
{
    if (!S_ISREG(st->st_mode))
        return kind_of(st->st_mode);
    if (!owned_by_us_or_root(st)) {
        snprintf(detail, size, "owned by uid %d, neither root nor the launcher's user", (int)st->st_uid);
        return detail;
    }
    if (st->st_mode & (S_IWGRP | S_IWOTH))
        return "group or others may write it";
    if (!owned_by_us_or_root(dir_st)) {
        snprintf(detail, size, "its directory is owned by uid %d, neither root nor the launcher's user",
                 (int)dir_st->st_uid);
        return detail;
    }
    if ((dir_st->st_mode & (S_IWGRP | S_IWOTH)) && !((dir_st->st_mode & S_ISVTX) && st->st_uid == geteuid()))
        return "group or others may write its directory (and so replace the file)";
    return NULL;
}

/* Whoever can write the file, or replace it in its directory, chooses the server's environment
 * (LD_PRELOAD among it: code run as the server's user). So: a regular file (a FIFO would block
 * the launcher's only loop in open() or read(); a symlink could name a file the operator never
 * meant, its secrets passed to the server), owned by root or the launcher's user, that neither
 * group nor others may write, in a directory of the same owners that neither may write unless it
 * is sticky (/tmp) and the file is the launcher's user's own, which no one else can then replace.
 * The fd, or -1 with one line in `why`. */
static int open_checked(const char *path, char *why, size_t size)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash == path ? 1 : slash - path) : 1, slash ? path : ".");
    int dir_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    struct stat dir_st, st;
    if (dir_fd < 0 || fstat(dir_fd, &dir_st) < 0) {
        snprintf(why, size, "--env-file %s: its directory: %s", path, strerror(errno));
        if (dir_fd >= 0)
            close(dir_fd);
        return -1;
    }
    /* O_NONBLOCK: a FIFO opens at once (and is then refused), where a plain open would wait
     * for a writer, the launcher's only loop with it. Only root can make a device node. */
    int fd = openat(dir_fd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    int err = errno;
    if (fd >= 0 && fstat(fd, &st) < 0) {
        err = errno;
        close(fd);
        fd = -1;
    }
    close(dir_fd);
    if (fd < 0 && err != ELOOP) {
        snprintf(why, size, "--env-file %s: %s", path, strerror(err));
        return -1;
    }
    const char *wrong = fd < 0 ? "a symbolic link" : NULL;
    char detail[96];
    if (!wrong)
        wrong = what_is_wrong(&st, &dir_st, detail, sizeof detail);
    if (wrong) {
        snprintf(why, size, "--env-file %s: %s: refused", path, wrong);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd; /* (O_NONBLOCK is nothing to a regular file's reads: left as it is) */
}

int envfile_read(const char *path, char ***out, char *why, size_t size)
{
    *out = NULL;
    static char text[ENVFILE_MAX + 1];
    int fd = open_checked(path, why, size);
    if (fd < 0)
        return -1;
    ssize_t total = 0, n = 0;
    while (total < ENVFILE_MAX && (n = read(fd, text + total, (size_t)(ENVFILE_MAX - total))) > 0)
        total += n;
    int err = errno;
    close(fd);
    if (n < 0) {
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
