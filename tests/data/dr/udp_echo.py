"""A UDP answering server for the real servers of tests/dr_netns.rs and
tests/ipv6_netns.rs.

usage: python3 udp_echo.py ADDR PORT NAME MAX_SECS

Binds ADDR:PORT (the VIP: a DR or TUN real server must answer from the
address the client sent to, and a socket bound to 0.0.0.0 would answer from
the address of the route to the client, eth0's) and answers every datagram
with `NAME LEN`, LEN the size of what it received. An ADDR with a colon is
IPv6 (`::` for every address). Prints `ready` once bound.
Bounded: exits after MAX_SECS.
"""

import socket
import sys
import time


def main():
    addr, port, name, max_secs = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    if ":" in addr:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # The VIP may be on a TUN device that appears after we start.
        s.setsockopt(socket.SOL_IP, 15, 1)  # IP_FREEBIND
    s.bind((addr, port))
    s.settimeout(0.2)
    print("ready", flush=True)
    deadline = time.time() + max_secs
    while time.time() < deadline:
        try:
            data, peer = s.recvfrom(65535)
        except socket.timeout:
            continue
        s.sendto(("%s %d" % (name, len(data))).encode(), peer)


if __name__ == "__main__":
    main()
