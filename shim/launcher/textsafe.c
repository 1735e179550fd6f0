/* textsafe.c: escaping names for the operator's eyes (textsafe.h). A Unix path may hold any byte
 * but NUL, so a name shown raw could split a log line (and forge the next one) or carry a
 * terminal escape. Every byte outside printable ASCII is escaped: no list of dangerous bytes to
 * get wrong, and the escaped text is valid UTF-8 and JSON-safe once quotes are escaped. */
#include "textsafe.h"

#include <string.h>

size_t textsafe_escape(char *out, size_t size, const char *in, size_t len, unsigned flags)
{
    static const char hex[] = "0123456789abcdef";
    size_t at = 0;
    if (size == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        char esc[4];
        size_t n = 2;
        esc[0] = '\\';
        if (c == '\n' && (flags & TEXTSAFE_KEEP_NEWLINES)) {
            esc[0] = '\n';
            n = 1;
        } else if (c == '\\') {
            esc[1] = '\\';
            n = flags & TEXTSAFE_KEEP_BACKSLASHES ? 1 : 2;
        } else if (c == '\n') {
            esc[1] = 'n';
        } else if (c == '\t') {
            esc[1] = 't';
        } else if (c == '\r') {
            esc[1] = 'r';
        } else if (c < 0x20 || c >= 0x7f) {
            esc[1] = 'x';
            esc[2] = hex[c >> 4];
            esc[3] = hex[c & 0xf];
            n = 4;
        } else {
            esc[0] = (char)c;
            n = 1;
        }
        if (at + n >= size)
            break;
        memcpy(out + at, esc, n);
        at += n;
    }
    out[at] = '\0';
    return at;
}

void textsafe_fputs(const char *text, FILE *out)
{
    char piece[1024];
    size_t left = strlen(text);
    while (left > 0) {
        /* 4 bytes at most per byte, and the NUL: a whole chunk always fits */
        size_t n = left < (sizeof piece - 1) / 4 ? left : (sizeof piece - 1) / 4;
        size_t length = textsafe_escape(piece, sizeof piece, text, n, 0);
        fwrite(piece, 1, length, out);
        text += n;
        left -= n;
    }
}
