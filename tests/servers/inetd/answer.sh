#!/bin/sh
# An inetd-style HTTP answer for tests/servers/socat.bats and tcpsvd.bats: a program started per
# connection with the request on stdin and the answer on stdout. Reads the request head (up to
# its empty line), answers "gen=G pid=P" with Content-Length, and exits.
cr=$(printf '\r')
while IFS= read -r line; do
    case "$line" in "$cr" | "") break ;; esac
done
body="gen=${HOTSWAP_GENERATION:-0} pid=$$
"
printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
    "${#body}" "$body"
