"""UDP client probes for tests/dr_netns.rs.

usage:
  python3 udp_client.py ask ADDR PORT COUNT
      COUNT requests of 32 bytes (ADDR may be IPv6), each from a new socket (a new source port:
      a new connection for the director; all held open to the end so no
      port repeats); prints each answer, or `timeout`.
  python3 udp_client.py one ADDR PORT COUNT
      COUNT requests of 32 bytes from one connected socket (one source
      port, and the kernel takes only answers from ADDR:PORT); prints each
      answer, or `timeout`.
  python3 udp_client.py pmtu ADDR PORT SIZE
      One connected socket with DF set on every datagram (IP_PMTUDISC_DO) and
      the error queue on (IP_RECVERR); sends SIZE-byte datagrams every 200 ms
      for at most 3 s until an ICMP error or an answer arrives, then prints
      one JSON line:
      the error (`type`, `code`, `info` = next-hop MTU for type 3 code 4,
      `offender` = who sent it), the socket's path MTU (`ip_mtu`) and whether
      an answer came back (`answered`).
  python3 udp_client.py big ADDR PORT COUNT
      COUNT requests of 4000 bytes without DF (the kernel sends each in
      fragments; ADDR may be IPv6), each from a new socket, asking `udp_echo.py` for a
      5000-byte answer (which comes in fragments too); prints per answer
      `NAME LEN ok` if it is 5000 bytes and quotes the request's length and
      CRC-32 and its padding is the request's bytes (repeated), else
      `NAME LEN bad`, or `timeout`.
  python3 udp_client.py nodf ADDR PORT SIZE
      SIZE-byte datagrams without DF (IP_PMTUDISC_DONT), every 200 ms for at
      most 3 s until one is answered; prints the answer or `timeout`.
"""

import json
import select
import socket
import struct
import sys
import time
import zlib

IP_MTU_DISCOVER = 10
IP_PMTUDISC_DONT = 0
IP_PMTUDISC_DO = 2
IP_RECVERR = 11
IP_MTU = 14
MSG_ERRQUEUE = 0x2000


def ask(addr, port, count):
    # Every socket stays open until the last answer: the kernel cannot give a
    # later one the source port of an earlier one, which would be the same
    # connection for the director (and the same real server), not a new one.
    held = []
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    for i in range(count):
        s = socket.socket(family, socket.SOCK_DGRAM)
        held.append(s)
        s.settimeout(2.0)
        s.sendto(b"q%031d" % i, (addr, port))
        try:
            data, _ = s.recvfrom(2048)
            print(data.decode(errors="replace"), flush=True)
        except socket.timeout:
            print("timeout", flush=True)
    for s in held:
        s.close()


def one(addr, port, count):
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.settimeout(2.0)
    s.connect((addr, port))
    for i in range(count):
        s.send(b"q%031d" % i)
        try:
            print(s.recv(2048).decode(errors="replace"), flush=True)
        except (socket.timeout, ConnectionRefusedError):
            print("timeout", flush=True)
    s.close()


def pmtu(addr, port, size):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
    s.setsockopt(socket.SOL_IP, IP_RECVERR, 1)
    s.connect((addr, port))
    result = {"sent": 0, "answered": False}
    deadline = time.time() + 3.0
    while time.time() < deadline and "type" not in result and not result["answered"]:
        try:
            s.send(b"x" * size)
            result["sent"] += 1
        except OSError as e:
            result.setdefault("send_error", e.errno)
        end = min(deadline, time.time() + 0.2)
        while time.time() < end and "type" not in result and not result["answered"]:
            r, _, x = select.select([s], [], [s], max(0.0, end - time.time()))
            if not (r or x):
                break
            try:
                _, anc, _, _ = s.recvmsg(2048, 512, MSG_ERRQUEUE)
            except BlockingIOError:
                anc = []
            except OSError:
                anc = []
            for level, kind, data in anc:
                if level == socket.SOL_IP and kind == IP_RECVERR and len(data) >= 16:
                    errno_, origin, typ, code, _, info, _ = struct.unpack("=IBBBBII", data[:16])
                    result.update(errno=errno_, origin=origin, type=typ, code=code, info=info)
                    if len(data) >= 24:
                        result["offender"] = socket.inet_ntoa(data[20:24])
            if not anc:
                try:
                    s.recv(2048, socket.MSG_DONTWAIT)
                    result["answered"] = True
                except OSError:
                    pass
    try:
        result["ip_mtu"] = s.getsockopt(socket.SOL_IP, IP_MTU)
    except OSError:
        result["ip_mtu"] = None
    print(json.dumps(result), flush=True)


def big(addr, port, count):
    held = []
    for i in range(count):
        if ":" in addr:
            # IPv6: the kernel fragments at the path MTU by itself.
            s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT)
        held.append(s)
        s.settimeout(2.0)
        head = b"big 5000 %d " % i
        body = bytes((i * 31 + j * 7) & 0xFF for j in range(4000 - len(head)))
        req = head + body
        s.sendto(req, (addr, port))
        try:
            data, _ = s.recvfrom(65535)
        except socket.timeout:
            print("timeout", flush=True)
            continue
        # NAME may hold spaces ("i am rs1"): find what follows it.
        marker = b" %d %d " % (len(req), zlib.crc32(req))
        at = data.find(marker)
        rest = data[at + len(marker):]
        good = (
            len(data) == 5000
            and at > 0
            and rest == (req * 2)[: len(rest)]
        )
        name = data[: max(at, 0)].decode(errors="replace")
        print("%s %d %s" % (name, len(data), "ok" if good else "bad"), flush=True)
    for s in held:
        s.close()


def nodf(addr, port, size):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT)
    s.connect((addr, port))
    s.settimeout(0.2)
    deadline = time.time() + 3.0
    while time.time() < deadline:
        s.send(b"y" * size)
        try:
            print(s.recv(2048).decode(errors="replace"), flush=True)
            return
        except (socket.timeout, ConnectionRefusedError):
            continue
    print("timeout", flush=True)


def main():
    mode, addr, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    {"ask": ask, "one": one, "pmtu": pmtu, "nodf": nodf, "big": big}[mode](addr, port, n)


if __name__ == "__main__":
    main()
