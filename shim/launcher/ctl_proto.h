/* ctl_proto.h: the launcher's control socket (SOCK_SEQPACKET, owner-only, peer uid checked).
 * A request is one message of printable ASCII (at most CTL_REQUEST_MAX - 1 bytes, no fds), but
 * for "reload with" and its command line (below); each
 * reply message is a tag byte and one line of text, or for status a chunk of the document. */
#ifndef HOTSWAP_CTL_PROTO_H
#define HOTSWAP_CTL_PROTO_H

#define CTL_REQ_RELOAD "reload"
#define CTL_REQ_STOP "stop"
#define CTL_REQ_ROLLBACK "rollback"
#define CTL_REQ_STATUS "status"
#define CTL_REQ_STATUS_JSON "status json"
#define CTL_REQ_STATUS_PROMETHEUS "status prometheus"
/* Sent before a reload request (`hotswap reload --wait ready`): that reload's outcome comes as
 * CTL_TAG_READY once its new generation serves, and the connection ends there; the old one's
 * drain goes on, in the launcher's log. A request of its own, so a launcher that does not know
 * it refuses it, and a client that did not ask never sees the tag. */
#define CTL_REQ_WAIT_READY "wait ready"
/* "reload with", a NUL, then the new command line's arguments, each ended by a NUL; at most
 * CTL_COMMAND_MAX bytes in all, no control characters but tab. */
#define CTL_REQ_RELOAD_WITH "reload with"
#define CTL_COMMAND_MAX 16384
#define CTL_COMMAND_ARGS_MAX 256

#define CTL_REQUEST_MAX 64

#define CTL_TAG_PROGRESS '.'
#define CTL_TAG_OK '+'
#define CTL_TAG_ERROR '!'
#define CTL_TAG_DATA '='  /* a piece of a status document, printed as it is (no newline added) */
#define CTL_TAG_READY '^' /* the new generation serves (after CTL_REQ_WAIT_READY only) */

#define CTL_LINE_MAX 1024

#endif
