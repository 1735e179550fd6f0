/* channel.c: decoding channel messages on the launcher's side. A message from a process of the
 * server is input like any other: checked whole before anything is believed. */
#include "channel.h"

#include <string.h>

int hs_msg_decode(const void *buf, size_t len, struct hs_msg *out)
{
    if (len != sizeof *out)
        return -1;
    memcpy(out, buf, sizeof *out);
    if (out->magic != HS_MAGIC || out->protocol != HS_PROTOCOL)
        return -1;
    if (out->type < HS_MSG_HELLO || out->type > HS_MSG_LAST)
        return -1;
    if (out->pid <= 0 || out->datagrams < 0)
        return -1;
    switch (out->type) {
    case HS_MSG_DRAINING:
    case HS_MSG_CONNS:
        return out->value >= 0 ? 0 : -1;
    case HS_MSG_CLAIM:
        return out->value >= 0 && out->value < HS_HANDOVER_SLOTS ? 0 : -1;
    case HS_MSG_CLAIMED:
        return out->value >= 0 && out->value < 64 ? 0 : -1;
    case HS_MSG_PRIVATE:
        return out->value > 0 ? 0 : -1;
    case HS_MSG_FORKED:
        return out->value > 0 && out->value <= 0x7fffffff ? 0 : -1;
    default:
        return 0;
    }
}
