"""Raw-socket probes for the HA namespace test (tests/ha_netns.rs).

usage: python3 wire.py arp IFACE SENDER_IP TARGET_IP SECS
           ARP requests for TARGET_IP (3, spread over SECS); prints one line
           `reply MAC` per distinct MAC that answered for TARGET_IP.
       python3 wire.py sniff IFACE SECS MAC
           Frames arriving on IFACE (not those it sends) whose source is MAC,
           for SECS: one line each, `arp OP SENDER_IP TARGET_IP`, `ipv4 PROTO
           SRC DST` or `other ETHERTYPE`, then `count N`.
       python3 wire.py syn IFACE DST_MAC SRC_IP DST_IP DST_PORT N
           N TCP SYNs from SRC_IP (source ports 50000..) to DST_IP:DST_PORT in
           Ethernet frames addressed to DST_MAC, 20 ms apart.
       python3 wire.py ping IFACE DST_MAC SRC_IP DST_IP N
           N ICMP echo requests, likewise.
"""

import select
import socket
import struct
import sys
import time

ETH_P_ALL, ETH_P_ARP, ETH_P_IP = 0x0003, 0x0806, 0x0800
PACKET_OUTGOING = 4


def mac_bytes(mac):
    return bytes(int(x, 16) for x in mac.split(":"))


def mac_str(b):
    return ":".join("%02x" % x for x in b)


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src, dst, proto, payload):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0x4000, 64, proto, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + payload


def raw(iface):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    return s


def cmd_arp(iface, sender_ip, target_ip, secs):
    s = raw(iface)
    me = s.getsockname()[4]
    req = (b"\xff" * 6 + me + struct.pack("!H", ETH_P_ARP)
           + struct.pack("!HHBBH", 1, ETH_P_IP, 6, 4, 1) + me + socket.inet_aton(sender_ip)
           + b"\0" * 6 + socket.inet_aton(target_ip))
    seen, end, sends = [], time.time() + secs, [time.time() + i * secs / 3 for i in range(3)]
    while time.time() < end:
        if sends and time.time() >= sends[0]:
            sends.pop(0)
            s.send(req)
        r, _, _ = select.select([s], [], [], 0.05)
        if not r:
            continue
        frame, addr = s.recvfrom(2048)
        if addr[2] == PACKET_OUTGOING or len(frame) < 42:
            continue
        if struct.unpack("!H", frame[12:14])[0] != ETH_P_ARP:
            continue
        op = struct.unpack("!H", frame[20:22])[0]
        if op == 2 and frame[28:32] == socket.inet_aton(target_ip):
            m = mac_str(frame[22:28])
            if m not in seen:
                seen.append(m)
                print("reply %s" % m, flush=True)


def cmd_sniff(iface, secs, mac):
    s, want, n = raw(iface), mac_bytes(mac), 0
    end = time.time() + secs
    print("ready", flush=True)
    while time.time() < end:
        r, _, _ = select.select([s], [], [], 0.05)
        if not r:
            continue
        frame, addr = s.recvfrom(2048)
        if addr[2] == PACKET_OUTGOING or frame[6:12] != want:
            continue
        n += 1
        et = struct.unpack("!H", frame[12:14])[0]
        if et == ETH_P_ARP and len(frame) >= 42:
            op = struct.unpack("!H", frame[20:22])[0]
            print("arp %d %s %s" % (op, socket.inet_ntoa(frame[28:32]), socket.inet_ntoa(frame[38:42])), flush=True)
        elif et == ETH_P_IP and len(frame) >= 34:
            print("ipv4 %d %s %s" % (frame[23], socket.inet_ntoa(frame[26:30]), socket.inet_ntoa(frame[30:34])), flush=True)
        else:
            print("other 0x%04x" % et, flush=True)
    print("count %d" % n, flush=True)


def send_ip(iface, dst_mac, packets):
    s = raw(iface)
    me = s.getsockname()[4]
    for p in packets:
        s.send(mac_bytes(dst_mac) + me + struct.pack("!H", ETH_P_IP) + p)
        time.sleep(0.02)


def cmd_syn(iface, dst_mac, src, dst, dport, n):
    pkts = []
    for i in range(n):
        sport = 50000 + i
        tcp = struct.pack("!HHIIBBHHH", sport, dport, 1000 + i, 0, 5 << 4, 0x02, 64240, 0, 0)
        pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(tcp))
        tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
        pkts.append(ipv4(src, dst, 6, tcp))
    send_ip(iface, dst_mac, pkts)


def cmd_ping(iface, dst_mac, src, dst, n):
    pkts = []
    for i in range(n):
        icmp = struct.pack("!BBHHH", 8, 0, 0, 0x4242, i) + b"ringvs-ha"
        icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
        pkts.append(ipv4(src, dst, 1, icmp))
    send_ip(iface, dst_mac, pkts)


def main():
    a = sys.argv[1:]
    if a[0] == "arp":
        cmd_arp(a[1], a[2], a[3], float(a[4]))
    elif a[0] == "sniff":
        cmd_sniff(a[1], float(a[2]), a[3])
    elif a[0] == "syn":
        cmd_syn(a[1], a[2], a[3], a[4], int(a[5]), int(a[6]))
    elif a[0] == "ping":
        cmd_ping(a[1], a[2], a[3], a[4], int(a[5]))
    else:
        sys.exit("unknown command %r" % a[0])


if __name__ == "__main__":
    main()
