/* fuzz_channel.c: libFuzzer harness for the launcher's decoder of channel messages
 * (shim/common/channel.c).
 *
 * The input is the datagram, as received. What hs_msg_decode accepts must be a whole, valid
 * struct hs_msg, copied unchanged; a violation is __builtin_trap(), which libFuzzer reports as a
 * crash. The input is copied to a buffer of exactly its size (libFuzzer's own is too), so a read
 * past it is an ASan report. */
#include "channel.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Names the broken invariant on stderr (the trap's stack has no line number), then traps. */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, __LINE__, #cond);         \
            __builtin_trap();                                                                      \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    struct hs_msg msg;
    memset(&msg, 0xa5, sizeof msg);
    int rc = hs_msg_decode(buf, size, &msg);
    CHECK(rc == 0 || rc == -1);
    if (rc == 0) {
        CHECK(size == sizeof(struct hs_msg));
        CHECK(memcmp(&msg, data, sizeof msg) == 0); /* the message as sent, nothing changed */
        CHECK(msg.magic == HS_MAGIC);
        CHECK(msg.protocol == HS_PROTOCOL);
        CHECK(msg.type >= HS_MSG_HELLO && msg.type <= HS_MSG_LAST);
        CHECK(msg.pid > 0);
        CHECK(msg.datagrams >= 0);
        /* The values control.h documents: a count of connections, a child's pid. */
        if (msg.type == HS_MSG_DRAINING || msg.type == HS_MSG_CONNS)
            CHECK(msg.value >= 0);
        if (msg.type == HS_MSG_FORKED)
            CHECK(msg.value > 0 && msg.value <= INT32_MAX);
        if (msg.type == HS_MSG_CLAIMED)
            CHECK(msg.value >= 0 && msg.value < 64);
    }
    free(buf);
    return 0;
}
