"""A real server of tests/health6_netns.rs that refuses the UDP datagrams
to its PORT with an ICMPv6 port unreachable sent as an atomic fragment
(RFC 6946: a fragment header of offset 0 with no more fragments, the whole
message behind it), which the kernel never sends itself.

usage:
  python3 atomic_unreach6.py PORT MAX_SECS
      Binds [::]:PORT, so that the kernel sends no port unreachable of its
      own, and prints `ready`. For each datagram, sends its source a
      destination unreachable (type 1, code 4: port unreachable) quoting
      the datagram's IPv6 and UDP headers, behind a fragment header, from a
      raw socket of protocol 44 (the kernel writes the IPv6 header, next
      header 44). Exits after MAX_SECS (the test stops reading its
      stdout after `ready`: nothing more is printed).
"""

import socket
import struct
import sys
import time

FRAGMENT = 44
ICMPV6 = 58
UDP = 17


def checksum(src, dst, nh, body):
    """The Internet checksum of `body` under the IPv6 pseudo-header."""
    data = src + dst + struct.pack("!IxxxB", len(body), nh) + body
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def unreachable(local, peer, sport, dport, payload):
    """The fragment header and ICMPv6 port unreachable about the datagram
    `peer`:`sport` -> `local`:`dport` carrying `payload`."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    udp = udp[:6] + struct.pack("!H", checksum(peer, local, UDP, udp) or 0xFFFF) + udp[8:]
    ip = struct.pack("!IHBB", 6 << 28, len(udp), UDP, 64) + peer + local
    quote = (ip + udp)[:1232]
    icmp = struct.pack("!BBHI", 1, 4, 0, 0) + quote
    icmp = icmp[:2] + struct.pack("!H", checksum(local, peer, ICMPV6, icmp)) + icmp[4:]
    # Next header ICMPv6, offset 0, M clear: an atomic fragment.
    return struct.pack("!BBHI", ICMPV6, 0, 0, 0x6E5F0001) + icmp


def main():
    port, max_secs = int(sys.argv[1]), float(sys.argv[2])
    udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    udp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
    udp.bind(("::", port))
    raw = socket.socket(socket.AF_INET6, socket.SOCK_RAW, FRAGMENT)
    print("ready", flush=True)
    deadline = time.monotonic() + max_secs
    while time.monotonic() < deadline:
        udp.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            payload, anc, _, peer = udp.recvmsg(65535, socket.CMSG_SPACE(20))
        except socket.timeout:
            break
        local = None
        for level, kind, data in anc:
            if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO:
                local = data[:16]
        if local is None:
            continue
        peer_addr = socket.inet_pton(socket.AF_INET6, peer[0])
        message = unreachable(local, peer_addr, peer[1], port, payload)
        # From the address the datagram came to, which the checksums assume.
        raw.sendmsg([message], [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, local + bytes(4))], 0, (peer[0], 0))


if __name__ == "__main__":
    main()
