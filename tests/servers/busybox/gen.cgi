#!/bin/sh
# CGI script for tests/servers/busybox.bats (installed as cgi-bin/gen): answers "gen=G pid=P",
# with Content-Length (the load client needs it). busybox httpd runs it in a process it forks and
# execs, with pipes to the connection's process, not the socket itself.
body="gen=${HOTSWAP_GENERATION:-0} pid=$$
"
printf 'Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s' "${#body}" "$body"
