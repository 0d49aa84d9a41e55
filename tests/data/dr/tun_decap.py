"""Tunnel decapsulation for a TUN real server of tests/dr_netns.rs.

usage: python3 tun_decap.py TUNDEV MAX_SECS [--ipip] [--gre] [--gue PORT] [--quiet]

This kernel has no ipip, gre or fou module, so the real server cannot have a
tunnel device. This helper plays that device: it takes the director's
encapsulated packets off the wire and writes each inner IPv4 packet into a
TUN device (/dev/net/tun), where the kernel receives it as if it had arrived
on a tunnel interface. The inner packet's destination (the VIP) must be a
local address (on lo or on TUNDEV) and reverse-path filtering off for TUNDEV
(the client is routed through eth0, not through the tunnel).

* IPIP (--ipip): a raw socket of protocol 4 gets every IPIP packet the host
  receives, outer IPv4 header included (no ipip module: nothing else takes
  them, and a raw socket that does keeps the kernel from answering "protocol
  unreachable").
* GRE (--gre): the same with protocol 47. RFC 2784/2890 header: C (checksum,
  verified), K and S fields skipped; version 0; protocol 0x0800 only.
* GUE (--gue PORT): a UDP socket on PORT (the kernel has checked the UDP
  checksum if there is one). GUE version 0, C=0, proto/ctype 4 (IPIP); hlen
  words of options skipped. With the private flags' remote checksum offload
  option (Linux's GUE_PFLAG_REMCSUM, as IPVS's --tun-remcsum sends) the inner
  transport checksum is completed here, as the kernel's fou would.

Prints `ready` once every socket is open and TUNDEV is up, then one line per
packet: `decap KIND OUTER_SRC OUTER_DST INNER_LEN`, or `drop KIND REASON`.
With --quiet (the wrk measurement: a line per packet would cost more than
the decapsulation) only `ready`, and on SIGTERM or at the end one line
`total decap N drop M`. Bounded: exits after MAX_SECS.
"""

import fcntl
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
GUE_FLAG_PRIV = 0x0001
GUE_PFLAG_REMCSUM = 0x80000000


def csum(data):
    """The Internet checksum of data (ones' complement of the ones' complement sum)."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    ifr = struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI).ljust(40, b"\0")
    fcntl.ioctl(fd, TUNSETIFF, ifr)
    subprocess.run(["ip", "link", "set", name, "up"], check=True)
    for key in ("all", name):
        with open("/proc/sys/net/ipv4/conf/%s/rp_filter" % key, "w") as f:
            f.write("0")
    return fd


def gre_inner(payload, inner_proto=0x0800):
    """GRE header -> (inner packet, None) or (None, reason); the inner
    packet's EtherType must be inner_proto (tun_decap6.py: 0x86DD)."""
    if len(payload) < 4:
        return None, "short"
    flags, proto = struct.unpack("!HH", payload[:4])
    if flags & 0x0007:
        return None, "version"
    if proto != inner_proto:
        return None, "protocol"
    hlen = 4
    if flags & 0x8000:  # C: checksum over GRE header and payload
        if csum(payload) != 0:
            return None, "checksum"
        hlen += 4
    if flags & 0x2000:  # K: key
        hlen += 4
    if flags & 0x1000:  # S: sequence number
        hlen += 4
    return payload[hlen:], None


def gue_inner(payload, inner_proto=4):
    """GUE header -> (inner packet, None) or (None, reason); the inner
    packet's protocol must be inner_proto (tun_decap6.py: 41)."""
    if len(payload) < 4:
        return None, "short"
    b0, proto, flags = struct.unpack("!BBH", payload[:4])
    if b0 >> 6 != 0:
        return None, "version"
    if b0 & 0x20:
        return None, "control"
    if proto != inner_proto:
        return None, "protocol"
    hlen = 4 + 4 * (b0 & 0x1F)
    if len(payload) < hlen:
        return None, "short"
    inner = bytearray(payload[hlen:])
    if flags & GUE_FLAG_PRIV:
        if hlen < 8:
            return None, "options"
        (priv,) = struct.unpack("!I", payload[4:8])
        if priv & GUE_PFLAG_REMCSUM:
            if hlen < 12:
                return None, "options"
            start, offset = struct.unpack("!HH", payload[8:12])
            if offset + 2 > len(inner) or start > offset:
                return None, "remcsum"
            # The field holds the pseudo-header sum; the sum from start on,
            # complemented, is the checksum.
            value = csum(bytes(inner[start:]))
            inner[offset : offset + 2] = struct.pack("!H", value)
    return bytes(inner), None


def main():
    tundev, max_secs = sys.argv[1], float(sys.argv[2])
    args = sys.argv[3:]
    socks = {}
    if "--ipip" in args:
        socks["ipip"] = socket.socket(socket.AF_INET, socket.SOCK_RAW, 4)
    if "--gre" in args:
        socks["gre"] = socket.socket(socket.AF_INET, socket.SOCK_RAW, 47)
    if "--gue" in args:
        port = int(args[args.index("--gue") + 1])
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", port))
        socks["gue"] = s
    quiet = "--quiet" in args
    fd = open_tun(tundev)
    kinds = {s.fileno(): (kind, s) for kind, s in socks.items()}
    counts = {"decap": 0, "drop": 0}

    def total(*_):
        print("total decap %d drop %d" % (counts["decap"], counts["drop"]), flush=True)
        sys.exit(0)

    if quiet:
        signal.signal(signal.SIGTERM, total)
    print("ready", flush=True)
    deadline = time.time() + max_secs
    while time.time() < deadline:
        ready, _, _ = select.select(list(kinds), [], [], 0.2)
        for fileno in ready:
            kind, s = kinds[fileno]
            data, (src, _) = s.recvfrom(65535)
            if kind == "gue":
                dst = "-"
                inner, why = gue_inner(data)
            else:
                ihl = (data[0] & 0x0F) * 4
                dst = socket.inet_ntoa(data[16:20])
                if kind == "ipip":
                    inner, why = data[ihl:], None
                else:
                    inner, why = gre_inner(data[ihl:])
            if inner is not None and (len(inner) < 20 or inner[0] >> 4 != 4):
                inner, why = None, "inner"
            if inner is None:
                counts["drop"] += 1
                if not quiet:
                    print("drop %s %s" % (kind, why), flush=True)
                continue
            os.write(fd, inner)
            counts["decap"] += 1
            if not quiet:
                print("decap %s %s %s %d" % (kind, src, dst, len(inner)), flush=True)
    if quiet:
        total()


if __name__ == "__main__":
    main()
