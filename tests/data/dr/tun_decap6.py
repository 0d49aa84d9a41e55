"""Tunnel decapsulation over IPv6 for a TUN real server of tests/dr6_netns.rs.

usage: python3 tun_decap6.py TUNDEV MAX_SECS [--ipip] [--gre] [--gue PORT]
                             [--4in6] [--6in4]

The IPv6 counterpart of tun_decap.py: this kernel has no ip6_tunnel, ip6_gre
or fou6, so the helper plays the tunnel device. It takes the director's
encapsulated packets off the wire and writes each inner IPv6 packet into a
TUN device, where the kernel receives it as if it had come out of a tunnel.
The inner packet's destination (the IPv6 VIP) must be local (on lo) and
IPv6 on for new interfaces (net.ipv6.conf.default.disable_ipv6=0).

* IPv6-in-IPv6 (--ipip): a raw IPv6 socket of next header 41. An IPv6 raw
  socket delivers the payload without the outer header: the inner packet.
* GRE (--gre): next header 47; RFC 2784 header, checksum verified if
  present, protocol 0x86DD only.
* GUE (--gue PORT): a UDP socket on [::]:PORT (the kernel checked the UDP
  checksum, mandatory over IPv6). GUE version 0, C=0, proto/ctype 41.
* Across families: --4in6, IPv4 inside IPv6 (a raw IPv6 socket of next
  header 4; reverse-path filtering is turned off for TUNDEV, as the client
  is routed through eth0); --6in4, IPv6 inside IPv4 (a raw IPv4 socket of
  protocol 41, which delivers the outer IPv4 header too).

Prints `ready` once every socket is open and TUNDEV is up, then one line
per packet: `decap KIND OUTER_SRC INNER_LEN`, or `drop KIND REASON`.
Bounded: exits after MAX_SECS.
"""

import os
import select
import socket
import sys
import time

# The tunnel parsing and the TUN device are tun_decap.py's (same folder, first
# on sys.path); no bytecode cache is left in the source tree.
sys.dont_write_bytecode = True
from tun_decap import gre_inner, gue_inner, open_tun  # noqa: E402


def main():
    tundev, max_secs = sys.argv[1], float(sys.argv[2])
    args = sys.argv[3:]
    socks = {}
    if "--ipip" in args:
        socks["ipip"] = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 41)
    if "--gre" in args:
        socks["gre"] = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 47)
    if "--4in6" in args:
        socks["4in6"] = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 4)
    if "--6in4" in args:
        socks["6in4"] = socket.socket(socket.AF_INET, socket.SOCK_RAW, 41)
    if "--gue" in args:
        port = int(args[args.index("--gue") + 1])
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.bind(("::", port))
        socks["gue"] = s
    fd = open_tun(tundev)
    kinds = {s.fileno(): (kind, s) for kind, s in socks.items()}
    print("ready", flush=True)
    deadline = time.time() + max_secs
    while time.time() < deadline:
        ready, _, _ = select.select(list(kinds), [], [], 0.2)
        for fileno in ready:
            kind, s = kinds[fileno]
            data, addr = s.recvfrom(65535)
            if kind == "gue":
                inner, why = gue_inner(data, 41)
            elif kind == "gre":
                inner, why = gre_inner(data, 0x86DD)
            elif kind == "6in4":
                inner, why = data[(data[0] & 0x0F) * 4 :], None
            else:
                inner, why = data, None
            want = 4 if kind == "4in6" else 6
            least = 20 if want == 4 else 40
            if inner is not None and (len(inner) < least or inner[0] >> 4 != want):
                inner, why = None, "inner"
            if inner is None:
                print("drop %s %s" % (kind, why), flush=True)
                continue
            os.write(fd, inner)
            print("decap %s %s %d" % (kind, addr[0], len(inner)), flush=True)


if __name__ == "__main__":
    main()
