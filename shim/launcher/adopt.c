/* adopt.c: the state file a later launcher adopts a killed one's generations from.
 *
 * The file holds only what the kernel can confirm: each generation's command's pid with its
 * start time (a reused pid has another), its cgroup's name and its uid, and the names of the held
 * listeners. The listeners themselves are taken from the adopted processes' fd tables
 * (pidfd_getfd), found by what each socket is, never by an fd number written down. It lives in
 * the control socket's directory (the user's own, 0700, or the operator's choice) and is believed
 * only if it is the user's own regular file and nobody else may write it.
 *
 * A server chooses the names (a Unix path may hold a newline), and may run as another user than
 * the launcher: so every name is percent-encoded, the parser refuses the whole file at the first
 * line it does not expect, and a recorded pid is adopted only with proof that it was one of our
 * generations (its cgroup, or its HOTSWAP_GENERATION and uid), never for a start time alone,
 * which anyone can read. The format (docs/design.md):
 *
 *     hotswap-state 2
 *     launcher PID START
 *     gen NUMBER PID START SERVING UID GROUP      (GROUP "-": none; one line per generation)
 *     listener FROM_GENERATION NAME               (one line per held listener)
 */
#define _GNU_SOURCE
#include "adopt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "env.h"
#include "listeners.h"
#include "log.h"
#include "members.h"
#include "procsockets.h"

#define STATE_MAX 131072 /* 256 listeners of 135-byte names, each byte encoded in 3, fit */
#define STATE_VERSION 2
#define RECORDED_GENS_MAX 16 /* main.c's GENERATIONS_MAX */
#define GROUP_MAX 64
#define NAME_MAX_LEN LISTENER_NAME_MAX
#define RETRY_MS 500     /* a write the disk refused is tried again this often */
#define UID_LOOK_MS 1000 /* a leader's uid (a server may drop privileges) is read again this often */

static char state_path[300];
static char written[STATE_MAX]; /* what the file holds now */

void adopt_init(const char *control_path)
{
    if (control_path && strlen(control_path) + sizeof ".state" <= sizeof state_path)
        snprintf(state_path, sizeof state_path, "%s.state", control_path);
}

/* ---- names ---------------------------------------------------------------------------------- */

/* Bytes a name keeps as they are; every other byte (space, '%', controls, anything past 0x7e)
 * becomes %XX, so a line holds its fields and nothing else. */
static bool name_byte_plain(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("-._~:/[]@,+=", c));
}

static void encode_name(const char *name, char *out, size_t size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t at = 0;
    for (const unsigned char *c = (const unsigned char *)name; *c && at + 4 <= size; c++) {
        if (name_byte_plain(*c)) {
            out[at++] = (char)*c;
        } else {
            out[at++] = '%';
            out[at++] = hex[*c >> 4];
            out[at++] = hex[*c & 15];
        }
    }
    out[at] = '\0';
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The name `text` encodes: false for a byte encode_name() would not have written, a NUL, an
 * empty name, or one longer than `size` - 1. */
static bool decode_name(const char *text, char *out, size_t size)
{
    size_t at = 0;
    for (const char *c = text; *c; c++) {
        int byte = (unsigned char)*c;
        if (*c == '%') {
            int high = hex_digit(c[1]), low = high < 0 ? -1 : hex_digit(c[2]);
            byte = high << 4 | low;
            if (high < 0 || low < 0 || byte == 0 || name_byte_plain((unsigned char)byte))
                return false;
            c += 2;
        } else if (!name_byte_plain((unsigned char)byte)) {
            return false;
        }
        if (at + 1 >= size)
            return false;
        out[at++] = (char)byte;
    }
    out[at] = '\0';
    return at > 0;
}

/* A cgroup name we could have made: one plain path component. */
static bool group_name_valid(const char *group)
{
    if (strchr(group, '/') || strcmp(group, ".") == 0 || strcmp(group, "..") == 0)
        return false;
    for (const char *c = group; *c; c++)
        if (!name_byte_plain((unsigned char)*c))
            return false;
    return true;
}

/* ---- writing ------------------------------------------------------------------------------- */

static void append(char *text, size_t *len, const char *format, ...) __attribute__((format(printf, 3, 4)));
static void append(char *text, size_t *len, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    int n = vsnprintf(text + *len, STATE_MAX - *len, format, args);
    va_end(args);
    if (n > 0)
        *len = *len + (size_t)n < STATE_MAX ? *len + (size_t)n : STATE_MAX - 1;
}

/* Written beside and renamed over, so a reader never sees half of it. The temporary name is
 * created (O_EXCL|O_NOFOLLOW), never opened as it stands: whatever was planted there is removed
 * first, and one planted again in between makes the write fail, never go elsewhere. False with
 * errno set when the disk (or anything else) refused it. */
static bool write_state(const char *text)
{
    char tmp[sizeof state_path + 32];
    snprintf(tmp, sizeof tmp, "%s.%d.tmp", state_path, (int)getpid());
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return false;
    size_t len = strlen(text);
    ssize_t n = write(fd, text, len);
    int err = n < 0 ? errno : ENOSPC; /* a short write: the disk is full */
    if (close(fd) < 0 && n == (ssize_t)len) {
        err = errno;
        n = -1;
    }
    if (n != (ssize_t)len || rename(tmp, state_path) < 0) {
        err = n == (ssize_t)len ? errno : err;
        unlink(tmp);
        errno = err;
        return false;
    }
    snprintf(written, sizeof written, "%s", text);
    return true;
}

/* What the file says changes only with these: a cheap look first, since the launcher's loop
 * calls adopt_save() after every event (on the seccomp route, every accept). */
static unsigned long long fingerprint(struct generation *const *gens, int count, const struct generation *serving)
{
    unsigned long long sum = (unsigned long long)count * 1000003u + (unsigned long long)listeners_count();
    for (int i = 0; i < count; i++) {
        const struct generation *g = gens[i];
        unsigned long long one = (unsigned long long)g->number << 40 ^ (unsigned long long)g->pid << 8 ^
                                 (unsigned long long)g->state << 4 ^ (unsigned long long)(g == serving) << 3 ^
                                 (unsigned long long)g->failed << 2 ^ (unsigned long long)g->leader_reaped << 1;
        sum = sum * 31 + one;
    }
    return sum;
}

static struct {
    bool failing; /* the last write was refused: said once, retried at retry_at */
    int64_t retry_at;
} writes;

int adopt_retry_ms(void)
{
    if (!writes.failing)
        return -1;
    int64_t left = writes.retry_at - now_ms();
    return left > 0 ? (int)left : 0;
}

static void render_state(char *text, struct generation *const *gens, int count, const struct generation *serving)
{
    static unsigned long long launcher_start;
    size_t len = 0;
    if (!launcher_start)
        members_start_of(getpid(), &launcher_start);
    append(text, &len, "hotswap-state %d\nlauncher %d %llu\n", STATE_VERSION, (int)getpid(), launcher_start);
    for (int i = 0; i < count; i++) {
        const struct generation *g = gens[i];
        if (g->state == GEN_GONE || g->failed || g->leader_reaped)
            continue;
        const char *group = members_group(g->members);
        char encoded[3 * GROUP_MAX + 1] = "-";
        if (group)
            encode_name(group, encoded, sizeof encoded);
        uid_t uid;
        if (!members_uid_of(g->pid, &uid))
            uid = geteuid(); /* gone: a later launcher finds it gone, whatever this says */
        append(text, &len, "gen %d %d %llu %d %u %s\n", g->number, (int)g->pid, members_leader_start(g->members),
               g == serving, (unsigned)uid, encoded);
    }
    for (int i = 0; i < listeners_count(); i++) {
        const struct held_listener *held = listeners_get(i);
        char encoded[3 * NAME_MAX_LEN + 1];
        encode_name(held->name, encoded, sizeof encoded);
        append(text, &len, "listener %d %s\n", held->from_generation, encoded);
    }
}

void adopt_save(struct generation *const *gens, int count, const struct generation *serving)
{
    static unsigned long long last_fingerprint;
    static int64_t uids_read_at;
    static bool saved_once;
    if (!state_path[0])
        return;
    int64_t now = now_ms();
    unsigned long long print = fingerprint(gens, count, serving);
    if (writes.failing ? now < writes.retry_at
                       : saved_once && print == last_fingerprint && now - uids_read_at < UID_LOOK_MS)
        return;
    uids_read_at = now;
    static char text[STATE_MAX];
    render_state(text, gens, count, serving);
    if (strcmp(text, written) != 0 && !write_state(text)) {
        if (!writes.failing)
            hs_log("state file %s: cannot write it (%s): a launcher started after this one's death would "
                   "adopt what it said before; trying again every %d ms",
                   state_path, strerror(errno), RETRY_MS);
        writes.failing = true;
        writes.retry_at = now + RETRY_MS;
        return; /* the fingerprint stays the old one: the next look writes again */
    }
    if (writes.failing)
        hs_log("state file %s written again: it is up to date", state_path);
    writes.failing = false;
    saved_once = true;
    last_fingerprint = print;
}

void adopt_forget(void)
{
    if (state_path[0] && written[0])
        unlink(state_path);
    written[0] = '\0';
}

/* ---- reading ------------------------------------------------------------------------------- */

struct recorded_gen {
    int number;
    pid_t pid;
    unsigned long long start;
    bool serving;
    uid_t uid;             /* the command's process's real uid when the file was written */
    char group[GROUP_MAX]; /* "" in tree mode */
};

struct recorded_listener {
    int from_generation;
    char name[NAME_MAX_LEN];
    int fd;         /* found in an adopted process; -1 until then */
    pid_t from_pid; /* that process, whose working directory a relative Unix path is in */
};

struct state {
    pid_t launcher;
    unsigned long long launcher_start;
    struct recorded_gen gens[RECORDED_GENS_MAX];
    int gen_count;
    struct recorded_listener listeners[LISTENERS_MAX];
    int listener_count;
    pid_t looking_at; /* the process whose sockets are being matched */
};

/* The file, if it is the user's own regular file that nobody else may write; false (with a line
 * for anything but its absence) otherwise. O_NONBLOCK: a FIFO put there opens at once (and is
 * then refused), where a plain open would wait for a writer forever. */
static bool read_state(char *text, size_t size, size_t *length)
{
    int fd = open(state_path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT)
            hs_log("state file %s: %s: adopting nothing", state_path, errno == ELOOP ? "a symlink" : strerror(errno));
        return false;
    }
    struct stat st;
    bool regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    bool trusted = regular && st.st_uid == geteuid() && !(st.st_mode & 022);
    ssize_t n = 0, got = 0;
    if (trusted && st.st_size < (off_t)size)
        while ((got = read(fd, text + n, size - 1 - (size_t)n)) > 0)
            n += got;
    int read_err = errno;
    close(fd);
    if (!regular) {
        hs_log("state file %s is not a regular file: adopting nothing", state_path);
        return false;
    }
    if (!trusted) {
        hs_log("state file %s is not this user's own, or others may write it: adopting nothing", state_path);
        return false;
    }
    if (got < 0) {
        hs_log("state file %s: cannot read it (%s): adopting nothing", state_path, strerror(read_err));
        return false;
    }
    if (st.st_size >= (off_t)size || n >= (ssize_t)size - 1) {
        hs_log("state file %s is larger than a launcher writes (%lld bytes): adopting nothing", state_path,
               (long long)st.st_size);
        return false;
    }
    text[n] = '\0';
    *length = (size_t)n;
    return true; /* empty, it is refused as one that does not start with the header */
}

/* Splits `line` at single spaces into exactly `count` fields; false for any other number, or an
 * empty field (two spaces, a space at either end). */
static bool split_fields(char *line, char **fields, int count)
{
    for (int i = 0; i < count; i++) {
        fields[i] = line;
        char *space = strchr(line, ' ');
        if (space)
            *space = '\0';
        if (!*line || (space == NULL) != (i == count - 1))
            return false;
        line = space ? space + 1 : line;
    }
    return true;
}

/* A decimal number in 0..max, digits only: no sign, no space, no leading zero. */
static bool parse_number(const char *text, unsigned long long max, unsigned long long *out)
{
    unsigned long long value = 0;
    if (!*text || (text[0] == '0' && text[1]))
        return false;
    for (const char *c = text; *c; c++) {
        if (*c < '0' || *c > '9')
            return false;
        unsigned digit = (unsigned)(*c - '0');
        if (digit > max || value > (max - digit) / 10) /* unsigned: max - digit must not wrap */
            return false;
        value = value * 10 + digit;
    }
    *out = value;
    return true;
}

#define PID_LIMIT 4194304ULL /* the kernel's PID_MAX_LIMIT */

static bool parse_launcher(char *line, struct state *out)
{
    char *f[3];
    unsigned long long pid, start;
    if (!split_fields(line, f, 3) || strcmp(f[0], "launcher") != 0 || !parse_number(f[1], PID_LIMIT, &pid) || pid < 2 ||
        !parse_number(f[2], ~0ULL, &start))
        return false;
    out->launcher = (pid_t)pid;
    out->launcher_start = start;
    return true;
}

static bool parse_gen(char *line, struct state *out)
{
    char *f[7];
    unsigned long long number, pid, start, serving, uid;
    if (!split_fields(line, f, 7) || strcmp(f[0], "gen") != 0 || out->gen_count >= RECORDED_GENS_MAX ||
        !parse_number(f[1], 0x7fffffff, &number) || number < 1 || !parse_number(f[2], PID_LIMIT, &pid) || pid < 2 ||
        !parse_number(f[3], ~0ULL, &start) || !parse_number(f[4], 1, &serving) || !parse_number(f[5], 0xfffffffe, &uid))
        return false;
    struct recorded_gen *g = &out->gens[out->gen_count];
    *g = (struct recorded_gen){
        .number = (int)number, .pid = (pid_t)pid, .start = start, .serving = serving, .uid = (uid_t)uid};
    if (strcmp(f[6], "-") != 0 && (!decode_name(f[6], g->group, sizeof g->group) || !group_name_valid(g->group)))
        return false;
    for (int i = 0; i < out->gen_count; i++)
        if (out->gens[i].number == g->number || out->gens[i].pid == g->pid || (serving && out->gens[i].serving))
            return false; /* one line per generation, and one serves */
    out->gen_count++;
    return true;
}

static bool parse_listener(char *line, struct state *out)
{
    char *f[3];
    unsigned long long from;
    if (!split_fields(line, f, 3) || strcmp(f[0], "listener") != 0 || out->listener_count >= LISTENERS_MAX ||
        !parse_number(f[1], 0x7fffffff, &from))
        return false;
    struct recorded_listener *l = &out->listeners[out->listener_count];
    if (!decode_name(f[2], l->name, sizeof l->name))
        return false;
    l->from_generation = (int)from;
    l->fd = -1;
    out->listener_count++;
    return true;
}

/* The file as the sections it must have, in order: the header, the launcher, its generations,
 * then the listeners, each line with exactly its fields. 0 if all of it is, else the number of
 * the first line that is not (the whole file is then refused: a file that says one thing we did
 * not write may say anything). */
static int parse_state(char *text, size_t length, struct state *out)
{
    *out = (struct state){0};
    enum { HEADER, LAUNCHER, GENS, LISTENERS } section = HEADER;
    int number = 1;
    for (char *line = text; line < text + length; number++) {
        char *end = memchr(line, '\n', (size_t)(text + length - line));
        if (!end || memchr(line, '\0', (size_t)(end - line)))
            return number; /* an unfinished last line, or a NUL in one */
        *end = '\0';
        bool ok;
        if (section == HEADER) {
            char expected[32];
            snprintf(expected, sizeof expected, "hotswap-state %d", STATE_VERSION);
            ok = strcmp(line, expected) == 0;
            section = LAUNCHER;
        } else if (section == LAUNCHER) {
            ok = parse_launcher(line, out);
            section = GENS;
        } else {
            if (section == GENS && strncmp(line, "gen ", 4) != 0)
                section = LISTENERS;
            ok = section == GENS ? parse_gen(line, out) : parse_listener(line, out);
        }
        if (!ok)
            return number;
        line = end + 1;
    }
    return section >= GENS ? 0 : number;
}

/* A listening socket (or a bound datagram socket) of a process's, copied into the launcher,
 * matched against the recorded listeners by name: the first copy of each is kept. */
static bool take_if_recorded(int copy, int fd, void *ctx)
{
    (void)fd;
    struct state *st = ctx;
    int listening = 0, type = 0;
    socklen_t len = sizeof listening, type_len = sizeof type;
    getsockopt(copy, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len);
    getsockopt(copy, SOL_SOCKET, SO_TYPE, &type, &type_len);
    char name[NAME_MAX_LEN];
    if ((listening || type == SOCK_DGRAM) && listeners_describe(copy, st->looking_at, name, sizeof name) == 0)
        for (int i = 0; i < st->listener_count; i++)
            if (st->listeners[i].fd < 0 && strcmp(st->listeners[i].name, name) == 0) {
                fcntl(copy, F_SETFD, FD_CLOEXEC);
                st->listeners[i].fd = copy;
                st->listeners[i].from_pid = st->looking_at;
                return true;
            }
    close(copy);
    return true;
}

/* The recorded launcher still runs (the same process, not a reused pid). */
static bool launcher_alive(const struct state *st)
{
    unsigned long long start;
    return members_start_of(st->launcher, &start) && start == st->launcher_start;
}

/* Proof, beyond its start time, that the recorded pid is the generation the file says: the
 * cgroup it was tracked in (only we, or root, can put a process there), or else the
 * HOTSWAP_GENERATION spawn.c gave it and a uid that is ours or the one it had. `why` says what
 * is missing when there is none. */
static bool proof_of_generation(const struct recorded_gen *r, char *why, size_t size)
{
    if (r->group[0]) {
        if (members_in_group(r->pid, r->group))
            return true;
        snprintf(why, size, "not in its cgroup %s under this launcher's own", r->group);
        return false;
    }
    if (!members_environ_names(r->pid, r->number)) {
        snprintf(why, size, "no %s=%d in its environment", HS_ENV_GENERATION, r->number);
        return false;
    }
    uid_t uid;
    if (!members_uid_of(r->pid, &uid)) {
        snprintf(why, size, "its uid cannot be read");
        return false;
    }
    if (uid != geteuid() && uid != r->uid) {
        snprintf(why, size, "its uid %u is neither this launcher's nor the recorded %u", (unsigned)uid,
                 (unsigned)r->uid);
        return false;
    }
    return true;
}

/* The file, whole and as we write it, in `st`; false (with one line) if there is none to believe. */
static bool load_state(struct state *st)
{
    static char text[STATE_MAX];
    size_t length;
    if (!state_path[0] || !read_state(text, sizeof text, &length))
        return false;
    static const char version1[] = "hotswap-state 1\n";
    if (strncmp(text, version1, sizeof version1 - 1) == 0) {
        hs_log("state file %s is version 1 (an older hotswap's, which did not encode names): adopting nothing",
               state_path);
        return false;
    }
    int bad_line = parse_state(text, length, st);
    if (bad_line) {
        hs_log("state file %s: line %d unexpected: adopting nothing", state_path, bad_line);
        return false;
    }
    if (launcher_alive(st)) {
        hs_log("state file %s: its launcher (pid %d) still runs: adopting nothing", state_path, (int)st->launcher);
        return false;
    }
    return true;
}

int adopt_take(struct generation **out, int room, const struct gen_settings *settings, int *next_number,
               struct generation **serving)
{
    *serving = NULL;
    static struct state st;
    if (!load_state(&st))
        return 0;
    /* the serving generation first: it serves on; any other was draining, and drains again */
    int count = 0, highest = 0, serving_number = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < st.gen_count && count < room; i++) {
            const struct recorded_gen *r = &st.gens[i];
            unsigned long long start;
            if (r->serving != (pass == 0))
                continue;
            if (!members_start_of(r->pid, &start) || start != r->start) {
                hs_log("gen %d pid %d, left by launcher pid %d, is gone", r->number, (int)r->pid, (int)st.launcher);
                continue;
            }
            char why[160];
            if (!proof_of_generation(r, why, sizeof why)) {
                hs_log("gen %d pid %d: no proof it was a generation of this launcher (%s): not adopted", r->number,
                       (int)r->pid, why);
                continue;
            }
            struct generation *g = gen_adopt(r->number, r->pid, r->group[0] ? r->group : NULL, settings);
            if (!g)
                continue;
            out[count++] = g;
            if (r->serving)
                serving_number = r->number;
            highest = r->number > highest ? r->number : highest;
            const pid_t *pids;
            int members = gen_processes(g, &pids);
            for (int p = 0; p < members; p++) {
                st.looking_at = pids[p];
                proc_sockets_each(pids[p], -1, take_if_recorded, &st);
            }
        }
    int held = 0;
    for (int i = 0; i < st.listener_count; i++) {
        struct recorded_listener *l = &st.listeners[i];
        if (l->fd >= 0 && listeners_add(l->fd, l->from_generation, l->from_pid) >= 0)
            held++;
        else if (count > 0) {
            char encoded[3 * NAME_MAX_LEN + 1]; /* as the file has it: a server chose that name */
            encode_name(l->name, encoded, sizeof encoded);
            hs_log("listener %s, held by launcher pid %d, is not open in what it left: not held", encoded,
                   (int)st.launcher);
        }
    }
    for (int i = 0; i < count; i++) {
        bool serves = i == 0 && out[0]->number == serving_number;
        hs_log("gen %d pid %d adopted from launcher pid %d, which is gone: %s", out[i]->number, (int)out[i]->pid,
               (int)st.launcher, serves ? "it serves on" : "it was draining, and drains again");
        if (serves)
            *serving = out[0];
        else
            gen_drain(out[i]);
    }
    if (count > 0)
        hs_log("%d listener%s held again, taken from the adopted processes", held, held == 1 ? "" : "s");
    *next_number = highest + 1;
    return count;
}
