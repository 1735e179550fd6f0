#!/usr/bin/python3
# dns-nxdomain.py ADDR: a DNS server on ADDR port 53 (UDP) that answers every query at once with
# NXDOMAIN: a resolver on the loopback for tcpsvd's per-connection lookup, so the test never
# depends on the machine's own (remote) resolver and its lost datagrams.
import socket
import sys

server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
server.bind((sys.argv[1], 53))
while True:
    query, peer = server.recvfrom(512)
    if len(query) < 12:
        continue
    # the query's id and question; QR set, its opcode and RD kept, RA set, RCODE 3 (NXDOMAIN)
    flags = bytes([0x80 | (query[2] & 0x79), 0x80 | 3])
    server.sendto(query[:2] + flags + query[4:6] + bytes(6) + query[12:], peer)
