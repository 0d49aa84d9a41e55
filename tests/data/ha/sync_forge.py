"""Forged and malformed IPVS sync messages for tests/ha_netns.rs.

usage: python3 sync_forge.py SRC_IP GROUP PORT SYNCID VIP VPORT RIP RPORT CLIENT

Sends, from SRC_IP (an address on the sync link) to GROUP:PORT with TTL 1,
one datagram of each kind below, 20 ms apart, and prints `sent KIND LEN` for
each. The layout is IPVS's sync protocol version 1 (linux
net/netfilter/ipvs/ip_vs_sync.c: struct ip_vs_sync_mesg, struct
ip_vs_sync_v4), written from that description:

  header (8 bytes): reserved=0, syncid, size (whole message), nr_conns,
                    version=1, spare=0
  IPv4 entry (36):  type=0, protocol, ver_size (version<<12 | size),
                    flags, state, cport, vport, dport, fwmark, timeout (s),
                    caddr, vaddr, daddr

Kinds (every entry is TCP ESTABLISHED, masquerading, from CLIENT):
  truncated-header  4 bytes of a header
  size-mismatch     header size larger than the datagram
  bad-version       header version 2
  short-count       nr_conns 2 with one entry (client port 4004: IPVS's
                    ip_vs_process_message installs entries one by one and
                    drops the rest at the first bad one, so this entry may
                    be installed; the message still counts as dropped)
  entry-size        an entry whose ver_size says 20 bytes
  wrong-syncid      a well-formed message with SYNCID + 1   (client port 4001)
  unknown-service   well-formed, right syncid, VIP's address + 1 (port 4002)
  valid             well-formed, right syncid, the real service (port 4003):
                    IPVS's sync is unauthenticated, so a receiver accepts it
"""

import socket
import struct
import sys
import time

TCP, ESTABLISHED, MASQ = 6, 1, 0x0000


def entry(caddr, cport, vaddr, vport, daddr, dport, size=36):
    return struct.pack(
        "!BBHIHHHHII4s4s4s", 0, TCP, (0 << 12) | size, MASQ, ESTABLISHED,
        cport, vport, dport, 0, 900,
        socket.inet_aton(caddr), socket.inet_aton(vaddr), socket.inet_aton(daddr))


def message(syncid, entries, nr=None, version=1, size=None):
    body = b"".join(entries)
    total = 8 + len(body) if size is None else size
    nr = len(entries) if nr is None else nr
    return struct.pack("!BBHBBH", 0, syncid, total, nr, version, 0) + body


def main():
    src, group, port, syncid = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    vip, vport, rip, rport, client = (sys.argv[5], int(sys.argv[6]), sys.argv[7],
                                      int(sys.argv[8]), sys.argv[9])
    other_vip = socket.inet_ntoa(struct.pack("!I", struct.unpack("!I", socket.inet_aton(vip))[0] + 1))
    good = entry(client, 4000, vip, vport, rip, rport)
    kinds = [
        ("truncated-header", message(syncid, [good])[:4]),
        ("size-mismatch", message(syncid, [good], size=8 + 36 + 64)),
        ("bad-version", message(syncid, [good], version=2)),
        ("short-count", message(syncid, [entry(client, 4004, vip, vport, rip, rport)], nr=2)),
        ("entry-size", message(syncid, [entry(client, 4000, vip, vport, rip, rport, size=20)])),
        ("wrong-syncid", message((syncid + 1) & 0xFF, [entry(client, 4001, vip, vport, rip, rport)])),
        ("unknown-service", message(syncid, [entry(client, 4002, other_vip, vport, rip, rport)])),
        ("valid", message(syncid, [entry(client, 4003, vip, vport, rip, rport)])),
    ]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(src))
    s.bind((src, 0))
    for name, data in kinds:
        s.sendto(data, (group, port))
        print("sent %s %d" % (name, len(data)), flush=True)
        time.sleep(0.02)


if __name__ == "__main__":
    main()
