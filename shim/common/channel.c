/* channel.c: decoding channel messages on the launcher's side. A message from a process of the
 * server is input like any other: checked whole before anything is believed. */
#include "channel.h"

#include <stdbool.h>
#include <string.h>

static bool count_in_range(int64_t count)
{
    return count >= 0 && count <= HS_COUNT_MAX;
}

int hs_msg_decode(const void *buf, size_t len, struct hs_msg *out)
{
    if (len != sizeof *out)
        return HS_DECODE_MALFORMED;
    memcpy(out, buf, sizeof *out);
    if (out->magic != HS_MAGIC || out->protocol != HS_PROTOCOL)
        return HS_DECODE_MALFORMED;
    if (out->type < HS_MSG_HELLO || out->type > HS_MSG_LAST)
        return HS_DECODE_MALFORMED;
    if (out->pid <= 0)
        return HS_DECODE_MALFORMED;
    switch (out->type) {
    case HS_MSG_DRAINING:
    case HS_MSG_CONNS:
        return count_in_range(out->value) && count_in_range(out->datagrams) ? HS_DECODE_OK : HS_DECODE_COUNT_RANGE;
    case HS_MSG_CLAIM:
        return out->datagrams == 0 && out->value >= 0 && out->value < HS_HANDOVER_SLOTS ? HS_DECODE_OK
                                                                                        : HS_DECODE_MALFORMED;
    case HS_MSG_CLAIMED:
    case HS_MSG_PROBE_REFUSED:
        return out->datagrams == 0 && out->value >= 0 && out->value < 64 ? HS_DECODE_OK : HS_DECODE_MALFORMED;
    case HS_MSG_PRIVATE:
        return out->datagrams == 0 && out->value > 0 ? HS_DECODE_OK : HS_DECODE_MALFORMED;
    case HS_MSG_LOCK_FAILED: /* a device number is any 64-bit value; an inode is never 0 */
    case HS_MSG_READ_OPENED:
        return out->value > 0 ? HS_DECODE_OK : HS_DECODE_MALFORMED;
    case HS_MSG_FOLLOW:
        return out->datagrams == 0 && (out->value == HS_FOLLOW_GO || out->value == HS_FOLLOW_STATIC)
                   ? HS_DECODE_OK
                   : HS_DECODE_MALFORMED;
    case HS_MSG_PID_PROBED:
    case HS_MSG_FORKED:
        return out->datagrams == 0 && out->value > 0 && out->value <= 0x7fffffff ? HS_DECODE_OK : HS_DECODE_MALFORMED;
    default:
        return out->datagrams == 0 ? HS_DECODE_OK : HS_DECODE_MALFORMED;
    }
}
