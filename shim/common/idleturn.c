/* idleturn.c: the rule both programs use to call a connection idle by turn. See idleturn.h. */
#include "idleturn.h"

#include <netinet/in.h>
#include <stddef.h>
#include <linux/tcp.h> /* the kernel's tcp_info, whole (glibc's and musl's stop short of some fields) */
#include <string.h>

#define STATE_ESTABLISHED 1 /* tcpi_state: TCP_ESTABLISHED */

const char *const idle_close_names[IDLE_CLOSE_MODES] = {"turn", "http", "never"};

int idle_close_parse(const char *text)
{
    for (int mode = 0; text && mode < IDLE_CLOSE_MODES; mode++)
        if (strcmp(text, idle_close_names[mode]) == 0)
            return mode;
    return -1;
}

/* The kernel's times are in jiffies (4 ms at HZ=250), so a request and its answer a moment apart
 * read the same. Then "request, answer" (idle) and "answer, request" (a request pending, whose
 * segment acknowledged the answer) differ only in what came alone: an acknowledgement after the
 * client's last data (a delayed ACK of the answer), or as many data segments out as in (each
 * request answered, where each is one segment; a pending one makes one more in). */
static bool server_spoke_last(const struct tcp_info *info)
{
    if (info->tcpi_last_data_sent != info->tcpi_last_data_recv)
        return info->tcpi_last_data_sent < info->tcpi_last_data_recv; /* (ms ago: the more recent) */
    return info->tcpi_last_ack_recv < info->tcpi_last_data_recv ||
           (info->tcpi_data_segs_out > 0 && info->tcpi_data_segs_in <= info->tcpi_data_segs_out);
}

/* TCP_INFO of an established connection, whole enough to judge by. */
static bool read_info(int fd, getsockopt_fn get, struct tcp_info *info)
{
    socklen_t len = sizeof *info;
    memset(info, 0, sizeof *info);
    return get(fd, IPPROTO_TCP, TCP_INFO, info, &len) == 0 &&
           len >= offsetof(struct tcp_info, tcpi_data_segs_out) + sizeof info->tcpi_data_segs_out &&
           info->tcpi_state == STATE_ESTABLISHED;
}

/* The client has sent nothing, not even an acknowledgement, for IDLE_TURN_QUIET_MS. */
static bool client_quiet(const struct tcp_info *info)
{
    return info->tcpi_last_data_recv >= IDLE_TURN_QUIET_MS && info->tcpi_last_ack_recv >= IDLE_TURN_QUIET_MS;
}

bool idle_by_info(const struct tcp_info *info, bool unsaid_counts)
{
    if (info->tcpi_state != STATE_ESTABLISHED || !client_quiet(info))
        return false;
    bool unsaid = info->tcpi_data_segs_in == 0 && info->tcpi_data_segs_out == 0;
    return server_spoke_last(info) || (unsaid_counts && unsaid);
}

bool idle_between_answers(int fd, getsockopt_fn get, int unread, int unsent, bool patient)
{
    struct tcp_info info;
    if (unread != 0 || (patient && unsent != 0) || !read_info(fd, get, &info))
        return false;
    return server_spoke_last(&info) && (!patient || info.tcpi_last_data_sent >= IDLE_HTTP_QUIET_MS);
}

bool looks_like_http(const char *bytes, size_t len)
{
    static const char version[] = " HTTP/1.";
    size_t need = sizeof version - 1;
    for (size_t at = 0; at + need <= len && bytes[at] != '\r' && bytes[at] != '\n'; at++)
        if (memcmp(bytes + at, version, need) == 0)
            return at > 0;
    return false;
}

bool idle_by_turn(int fd, getsockopt_fn get, int unread, int unsent, enum turn_seen seen)
{
    struct tcp_info info;
    if (seen == TURN_CLIENT || unread != 0 || unsent != 0 || !read_info(fd, get, &info))
        return false;
    return seen == TURN_SERVER ? client_quiet(&info) : idle_by_info(&info, false);
}
