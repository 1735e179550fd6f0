/* ctl_proto.h: the launcher's control socket (SOCK_SEQPACKET, owner-only, peer uid checked).
 * A request is one word; each reply message is a tag byte and one line of text. */
#ifndef HOTSWAP_CTL_PROTO_H
#define HOTSWAP_CTL_PROTO_H

#define CTL_REQ_RELOAD "reload"
#define CTL_REQ_STOP "stop"

#define CTL_TAG_PROGRESS '.'
#define CTL_TAG_OK '+'
#define CTL_TAG_ERROR '!'

#define CTL_LINE_MAX 1024

#endif
