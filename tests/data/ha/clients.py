"""HTTP clients for the HA namespace test (tests/ha_netns.rs).

usage: python3 clients.py keepalive ADDR PORT N INTERVAL_MS SECS TIMEOUT_S
       python3 clients.py newconn ADDR PORT INTERVAL_MS SECS TIMEOUT_S

keepalive: N HTTP/1.1 connections, each sending GET / every INTERVAL_MS on the
same connection. Prints `EPOCH ka ID LPORT open` once connected, then a line
per request: `EPOCH ka ID LPORT ok BODY LATENCY_MS` or, and the connection is
given up, `EPOCH ka ID LPORT error KIND DETAIL` (KIND: reset, closed, timeout,
bad, other). A failed connect prints `EPOCH ka ID 0 error ...`.

newconn: one HTTP/1.0 request per new connection, one after the other
(a last line "done" once the time is up and the last one ended), a
pause of INTERVAL_MS between them. Prints `START END nc LPORT ok BODY` or
`START END nc LPORT error KIND DETAIL`.

Both stop after SECS; EPOCH, START and END are seconds since the epoch (the
request's end for keepalive lines).
"""

import socket
import sys
import threading
import time

out_lock = threading.Lock()


def say(line):
    with out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def kind_of(e):
    if isinstance(e, ConnectionResetError):
        return "reset"
    if isinstance(e, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(e, EOFError):
        return "closed"
    if isinstance(e, ValueError):
        return "bad"
    return "other"


def read_response(sock, buf):
    """One response from sock; returns (body, rest of buf)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise EOFError("closed by peer")
        buf += chunk
        if len(buf) > 65536:
            raise ValueError("head too long")
    head, _, buf = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if b" 200 " not in lines[0] + b" ":
        raise ValueError("status %r" % lines[0][:40])
    length = 0
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    while len(buf) < length:
        chunk = sock.recv(4096)
        if not chunk:
            raise EOFError("closed mid-body")
        buf += chunk
    return buf[:length].decode(errors="replace").strip(), buf[length:]


def keepalive_one(cid, addr, port, interval, end, timeout):
    lport = 0
    try:
        s = socket.create_connection((addr, port), timeout=timeout)
        lport = s.getsockname()[1]
        say("%.6f ka %d %d open" % (time.time(), cid, lport))
        buf = b""
        while time.time() < end:
            t0 = time.time()
            s.sendall(b"GET / HTTP/1.1\r\nHost: vip\r\n\r\n")
            body, buf = read_response(s, buf)
            t1 = time.time()
            say("%.6f ka %d %d ok %s %.1f" % (t1, cid, lport, body.replace(" ", "_"), (t1 - t0) * 1e3))
            time.sleep(max(0.0, interval - (time.time() - t0)))
        s.close()
    except Exception as e:  # noqa: BLE001 - every failure is reported
        say("%.6f ka %d %d error %s %r" % (time.time(), cid, lport, kind_of(e), str(e)[:60]))


def newconn(addr, port, interval, end, timeout):
    while time.time() < end:
        t0, lport = time.time(), 0
        try:
            s = socket.create_connection((addr, port), timeout=timeout)
            try:
                lport = s.getsockname()[1]
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                body, _ = read_response(s, b"")
            finally:
                s.close()
            say("%.6f %.6f nc %d ok %s" % (t0, time.time(), lport, body.replace(" ", "_")))
        except Exception as e:  # noqa: BLE001
            say("%.6f %.6f nc %d error %s %r" % (t0, time.time(), lport, kind_of(e), str(e)[:60]))
        time.sleep(interval)
    say("done")


def main():
    mode = sys.argv[1]
    if mode == "keepalive":
        addr, port, n = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        interval, secs, timeout = int(sys.argv[5]) / 1e3, float(sys.argv[6]), float(sys.argv[7])
        end = time.time() + secs
        threads = [
            threading.Thread(target=keepalive_one, args=(i, addr, port, interval, end, timeout))
            for i in range(n)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    elif mode == "newconn":
        addr, port = sys.argv[2], int(sys.argv[3])
        interval, secs, timeout = int(sys.argv[4]) / 1e3, float(sys.argv[5]), float(sys.argv[6])
        newconn(addr, port, interval, time.time() + secs, timeout)
    else:
        sys.exit("unknown mode %r" % mode)


if __name__ == "__main__":
    main()
