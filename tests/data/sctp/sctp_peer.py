"""Both ends of an SCTP association over raw IP sockets, for
tests/sctp_netns.rs: this kernel has no SCTP module, so the real servers
and the client speak the handshake, one DATA chunk and the shutdown
themselves (RFC 9260; only what the director sees, no retransmission).

usage: python3 sctp_peer.py server NAME PORT MAX_SECS
       python3 sctp_peer.py client ADDR PORT SPORT COUNT [PAD]

The server answers every INIT to PORT with an INIT ACK whose state cookie
holds NAME, a COOKIE ECHO with a COOKIE ACK, a DATA chunk with a SACK and a
DATA chunk `NAME: <what it got>`, a SHUTDOWN with a SHUTDOWN ACK. It prints
`ready` once its socket is open and exits after MAX_SECS.

The client runs COUNT associations to ADDR:PORT one after the other, from
SPORT, SPORT+1, ...: INIT, COOKIE ECHO, DATA `hello N`, then SHUTDOWN and
SHUTDOWN COMPLETE; it prints the server's DATA for each (or `timeout at
STEP`). Every packet received is checked: a wrong CRC32c prints `bad crc`.
With PAD, each DATA carries PAD dots after `hello N`, so a PAD of 3000
sends it, and the server's answer, in IPv4 fragments at an MTU of 1500
(the kernel fragments a raw socket's datagram, without DF, and
reassembles what it receives); the client prints the answer's dots as
` +PAD`.
"""

import os
import socket
import struct
import sys
import time

DATA, INIT, INIT_ACK, SACK, SHUTDOWN, SHUTDOWN_ACK = 0, 1, 2, 3, 7, 8
COOKIE_ECHO, COOKIE_ACK, SHUTDOWN_COMPLETE = 10, 11, 14


def _table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


TABLE = _table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def packet(sport, dport, vtag, chunks):
    body = b""
    for kind, flags, value in chunks:
        chunk = struct.pack("!BBH", kind, flags, 4 + len(value)) + value
        body += chunk + b"\0" * (-len(chunk) % 4)
    p = struct.pack("!HHI", sport, dport, vtag) + b"\0\0\0\0" + body
    return p[:8] + struct.pack("<I", crc32c(p)) + p[12:]


def parse(raw):
    """(src, sport, dport, vtag, [(type, value)]) of an IPv4 datagram, or None."""
    ihl = (raw[0] & 15) * 4
    p = raw[ihl:]
    if len(p) < 16:
        return None
    zeroed = p[:8] + b"\0\0\0\0" + p[12:]
    if struct.unpack("<I", p[8:12])[0] != crc32c(zeroed):
        print("bad crc", flush=True)
        return None
    sport, dport, vtag = struct.unpack("!HHI", p[:8])
    chunks, at = [], 12
    while at + 4 <= len(p):
        kind, _, n = struct.unpack("!BBH", p[at : at + 4])
        if n < 4:
            break
        chunks.append((kind, p[at + 4 : at + n]))
        at += (n + 3) // 4 * 4
    return socket.inet_ntoa(raw[12:16]), sport, dport, vtag, chunks


def raw_socket():
    return socket.socket(socket.AF_INET, socket.SOCK_RAW, 132)


def init_value(tag):
    # Initiate tag, a_rwnd, outbound and inbound streams, initial TSN.
    return struct.pack("!IIHHI", tag, 65536, 1, 1, 1)


def server(name, port, max_secs):
    s = raw_socket()
    s.settimeout(0.2)
    print("ready", flush=True)
    deadline = time.time() + max_secs
    my_tag = 0x5EC0 + os.getpid()
    peers = {}
    while time.time() < deadline:
        try:
            raw, _ = s.recvfrom(65535)
        except socket.timeout:
            continue
        got = parse(raw)
        if got is None:
            continue
        src, sport, dport, vtag, chunks = got
        if dport != port or not chunks:
            continue
        kind, value = chunks[0]
        out = []
        if kind == INIT and len(value) >= 16:
            peers[(src, sport)] = struct.unpack("!I", value[:4])[0]
            cookie = struct.pack("!HH", 7, 4 + len(name)) + name.encode()
            out = [(INIT_ACK, 0, init_value(my_tag) + cookie)]
        elif kind == COOKIE_ECHO:
            out = [(COOKIE_ACK, 0, b"")]
        elif kind == DATA and len(value) >= 12:
            tsn = struct.unpack("!I", value[:4])[0]
            text = ("%s: %s" % (name, value[12:].decode(errors="replace"))).encode()
            out = [
                (SACK, 0, struct.pack("!IIHH", tsn, 65536, 0, 0)),
                (DATA, 3, struct.pack("!IHHI", 1, 0, 0, 0) + text),
            ]
        elif kind == SHUTDOWN:
            out = [(SHUTDOWN_ACK, 0, b"")]
        if out and (src, sport) in peers:
            s.sendto(packet(port, sport, peers[(src, sport)], out), (src, 0))


def client(addr, port, sport0, count, pad):
    s = raw_socket()
    my_tag = 0xC1E0 + os.getpid()

    def wait(sport, want, step):
        deadline = time.time() + 3
        while time.time() < deadline:
            s.settimeout(max(deadline - time.time(), 0.01))
            try:
                raw, _ = s.recvfrom(65535)
            except socket.timeout:
                break
            got = parse(raw)
            if got is None:
                continue
            src, sp, dp, vtag, chunks = got
            if src == addr and sp == port and dp == sport and vtag == my_tag:
                for kind, value in chunks:
                    if kind == want:
                        return value
        print("timeout at %s" % step, flush=True)
        return None

    for i in range(count):
        sport = sport0 + i
        send = lambda vtag, chunks: s.sendto(packet(sport, port, vtag, chunks), (addr, 0))
        send(0, [(INIT, 0, init_value(my_tag))])
        ack = wait(sport, INIT_ACK, "INIT ACK")
        if ack is None:
            continue
        peer = struct.unpack("!I", ack[:4])[0]
        send(peer, [(COOKIE_ECHO, 0, ack[16:])])
        if wait(sport, COOKIE_ACK, "COOKIE ACK") is None:
            continue
        hello = b"hello %d" % i + b"." * pad
        send(peer, [(DATA, 3, struct.pack("!IHHI", 1, 0, 0, 0) + hello)])
        data = wait(sport, DATA, "DATA")
        if data is None:
            continue
        text = data[12:].decode(errors="replace")
        dots = len(text) - len(text.rstrip("."))
        print(text.rstrip(".") + (" +%d" % dots if dots else ""), flush=True)
        send(peer, [(SHUTDOWN, 0, struct.pack("!I", 1))])
        if wait(sport, SHUTDOWN_ACK, "SHUTDOWN ACK") is None:
            continue
        send(peer, [(SHUTDOWN_COMPLETE, 0, b"")])


def main():
    if sys.argv[1] == "server":
        server(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    else:
        pad = int(sys.argv[6]) if len(sys.argv) > 6 else 0
        client(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), pad)


main()
