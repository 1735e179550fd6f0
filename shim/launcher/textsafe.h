/* textsafe.h: names a server chooses, made safe to show: the one escaping every operator-facing
 * output uses (the log, status in all its formats, hotswap try, the control client). */
#ifndef HOTSWAP_TEXTSAFE_H
#define HOTSWAP_TEXTSAFE_H

#include <stddef.h>
#include <stdio.h>

enum {
    TEXTSAFE_KEEP_NEWLINES = 1,    /* a document's line ends pass as they are */
    TEXTSAFE_KEEP_BACKSLASHES = 2, /* text escaped once already (the client's defence in depth) */
};

/* Copies `len` bytes of `in` to `out` (`size` bytes, NUL-terminated) with every byte outside
 * printable ASCII escaped: "\n", "\t", "\r", else "\xNN" (C0 controls, DEL, every byte of a
 * UTF-8 sequence, so C1 controls too); a backslash becomes "\\", unless flags say otherwise. An
 * escape that does not fit is left out whole. Returns the length written. */
size_t textsafe_escape(char *out, size_t size, const char *in, size_t len, unsigned flags);

/* textsafe_escape() of the string `text`, written to `out` whatever its length. */
void textsafe_fputs(const char *text, FILE *out);

#endif
