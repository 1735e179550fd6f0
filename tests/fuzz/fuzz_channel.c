/* fuzz_channel.c: libFuzzer harness for the launcher's decoder of channel messages
 * (shim/common/channel.c).
 *
 * The input is the datagram, as received (the corpus has truncated, oversized and well-formed
 * messages with hostile counts). What hs_msg_decode accepts must be a whole, valid struct hs_msg,
 * copied unchanged, its counts bounded; one refused for its counts alone must be whole otherwise.
 * A violation is __builtin_trap(), which libFuzzer reports as a crash. The input is copied to a buffer of exactly its size (libFuzzer's own is too), so a read
 * past it is an ASan report. */
#include "channel.h"

#include <stdbool.h>
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
    CHECK(rc == HS_DECODE_OK || rc == HS_DECODE_MALFORMED || rc == HS_DECODE_COUNT_RANGE);
    if (rc != HS_DECODE_MALFORMED) {
        /* Believed, or refused for its counts alone (the launcher then names the sender): a
         * whole message, copied unchanged, of a known type from a real pid. */
        CHECK(size == sizeof(struct hs_msg));
        CHECK(memcmp(&msg, data, sizeof msg) == 0);
        CHECK(msg.magic == HS_MAGIC);
        CHECK(msg.protocol == HS_PROTOCOL);
        CHECK(msg.type >= HS_MSG_HELLO && msg.type <= HS_MSG_LAST);
        CHECK(msg.pid > 0);
    }
    bool counts = msg.type == HS_MSG_DRAINING || msg.type == HS_MSG_CONNS;
    if (rc == HS_DECODE_COUNT_RANGE) {
        CHECK(counts);
        CHECK(msg.value < 0 || msg.value > HS_COUNT_MAX || msg.datagrams < 0 || msg.datagrams > HS_COUNT_MAX);
    }
    if (rc == HS_DECODE_OK) {
        /* The values channel.h documents: counts within HS_COUNT_MAX (so the launcher's sums over
         * every process, at most 2^22 of them, stay far from overflow), a child's pid. */
        if (counts) {
            CHECK(msg.value >= 0 && msg.value <= HS_COUNT_MAX);
            CHECK(msg.datagrams >= 0 && msg.datagrams <= HS_COUNT_MAX);
            CHECK((msg.value + msg.datagrams) * ((int64_t)1 << 22) / ((int64_t)1 << 22) == msg.value + msg.datagrams);
        } else if (msg.type == HS_MSG_LOCK_FAILED || msg.type == HS_MSG_READ_OPENED) {
            CHECK(msg.value > 0); /* a file: its inode (never 0) in value, its device (any) in datagrams */
        } else {
            CHECK(msg.datagrams == 0);
        }
        if (msg.type == HS_MSG_FORKED)
            CHECK(msg.value > 0 && msg.value <= INT32_MAX);
        if (msg.type == HS_MSG_CLAIMED || msg.type == HS_MSG_PROBE_REFUSED)
            CHECK(msg.value >= 0 && msg.value < 64);
        if (msg.type == HS_MSG_PID_PROBED)
            CHECK(msg.value > 0 && msg.value <= INT32_MAX);
        if (msg.type == HS_MSG_CLAIM)
            CHECK(msg.value >= 0 && msg.value < HS_HANDOVER_SLOTS);
        if (msg.type == HS_MSG_FOLLOW) /* a kind the launcher knows (genfollow.c) */
            CHECK(msg.value == HS_FOLLOW_GO || msg.value == HS_FOLLOW_STATIC);
    }
    free(buf);
    return 0;
}
