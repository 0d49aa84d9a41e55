"""The IPv6 UDP client of tests/ipv6_netns.rs (its real servers run
tests/data/dr/udp_echo.py on `::`).

usage:
  python3 udp6.py ask ADDR PORT COUNT
      COUNT requests of 32 bytes to [ADDR]:PORT, each from a new socket (a new
      source port: a new connection for the director, none repeated), each
      waiting at most 1.5 s; prints each answer as `ANSWER from ADDR PORT`
      (who sent it), or `timeout`.
"""

import socket
import sys


def ask(addr, port, count):
    # Every socket stays open until the last answer, so no source port (no
    # director connection) repeats within one call.
    held = []
    for i in range(count):
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        held.append(s)
        s.settimeout(1.5)
        s.sendto(b"q%031d" % i, (addr, port))
        try:
            data, peer = s.recvfrom(2048)
            print("%s from %s %d" % (data.decode(errors="replace"), peer[0], peer[1]), flush=True)
        except socket.timeout:
            print("timeout", flush=True)
    for s in held:
        s.close()


def main():
    mode = sys.argv[1]
    if mode == "ask":
        ask(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit("unknown mode %r" % mode)


if __name__ == "__main__":
    main()
