"""A stand-in for the director's tunnelling, for the lab's self-check in
tests/dr_netns.rs (no ringvs involved).

usage: python3 kernel_tunnel.py TUNDEV MODE DIP RIP GUE_PORT MAX_SECS

The director namespace's kernel routes the VIP into TUNDEV (a TUN device this
script opens); each packet read there is encapsulated as the ringvs contract
says a `-i` real server receives it: outer IPv4 from DIP to RIP, DF copied
from the inner packet, and then per MODE
  ipip  protocol 4, the inner packet;
  gue   UDP (checksum 0) to GUE_PORT, a 4-byte GUE header (version 0,
        proto/ctype 4), the inner packet;
  gre   protocol 47, a 4-byte GRE header (no flags, protocol 0x0800), the
        inner packet;
and sent through a raw socket (IP_HDRINCL: the kernel fills in the header
checksum) that the kernel routes to RIP. Prints `ready`, then `sent LEN` per
packet. Bounded: exits after MAX_SECS.
"""

import fcntl
import os
import select
import socket
import struct
import subprocess
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def main():
    tundev, mode, dip, rip = sys.argv[1:5]
    gue_port, max_secs = int(sys.argv[5]), float(sys.argv[6])
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", tundev.encode(), IFF_TUN | IFF_NO_PI).ljust(40, b"\0"))
    subprocess.run(["ip", "link", "set", tundev, "up"], check=True)
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    print("ready", flush=True)
    deadline = time.time() + max_secs
    ident = 1
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if not r:
            continue
        inner = os.read(fd, 65535)
        if len(inner) < 20 or inner[0] >> 4 != 4:
            continue
        df = struct.unpack("!H", inner[6:8])[0] & 0x4000
        if mode == "ipip":
            proto, payload = 4, inner
        elif mode == "gre":
            proto, payload = 47, struct.pack("!HH", 0, 0x0800) + inner
        else:
            gue = struct.pack("!BBH", 0, 4, 0) + inner
            udp = struct.pack("!HHHH", 40000 + ident % 1000, gue_port, 8 + len(gue), 0)
            proto, payload = 17, udp + gue
        ident = (ident + 1) & 0xFFFF
        outer = struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, df, inner[8], proto, 0,
            socket.inet_aton(dip), socket.inet_aton(rip),
        )
        try:
            raw.sendto(outer + payload, (rip, 0))
            print("sent %d" % len(payload), flush=True)
        except OSError as e:
            print("error %s" % e, flush=True)


if __name__ == "__main__":
    main()
