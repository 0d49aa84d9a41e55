"""A UDP answering server for the real servers of tests/dr_netns.rs and
tests/ipv6_netns.rs.

usage: python3 udp_echo.py ADDR PORT NAME MAX_SECS

Binds ADDR:PORT (the VIP: a DR or TUN real server must answer from the
address the client sent to, and a socket bound to 0.0.0.0 would answer from
the address of the route to the client, eth0's) and answers every datagram
with `NAME LEN`, LEN the size of what it received. A datagram that starts
with `big N ` is answered with `NAME LEN CRC ` (CRC: the request's CRC-32)
padded with the request's own bytes, repeated, to N bytes: a large answer,
which leaves the real server in fragments. An ADDR with a colon is IPv6 (`::` for every
address). Prints `ready` once bound.
Bounded: exits after MAX_SECS.
"""

import socket
import sys
import time
import zlib


def serve(addr, port, max_secs, answer):
    """Binds ADDR:PORT, prints `ready`, and sends every datagram the bytes
    `answer(data)` returns (None: no answer) until MAX_SECS have passed."""
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
        out = answer(data)
        if out is not None:
            s.sendto(out, peer)


def main():
    addr, port, name, max_secs = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])

    def answer(data):
        out = ("%s %d" % (name, len(data))).encode()
        words = data.split(b" ", 2)
        if len(words) == 3 and words[0] == b"big" and words[1].isdigit():
            out += b" %d " % zlib.crc32(data)
            want = min(int(words[1]), 65000)
            while len(out) < want:
                out += data[: want - len(out)]
        return out

    serve(addr, port, max_secs, answer)


if __name__ == "__main__":
    main()
