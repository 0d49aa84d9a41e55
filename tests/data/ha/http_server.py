"""A keep-alive HTTP server for the HA namespace test (tests/ha_netns.rs).

usage: python3 http_server.py PORT BODY MAX_SECS [BIND]

BIND is the address to listen on, 0.0.0.0 by default; an IPv6 one (`::`)
listens on IPv6 (and IPv4, as Linux's default `bindv6only` 0 has it).

Answers every request with 200 and BODY. HTTP/1.1 connections stay open for
more requests and may idle up to IDLE_SECS (the lab's `ringvs serve-http`
closes after 5 s, shorter than a failover with TCP's retransmission backoff:
a request lost while no director is active is resent up to ~6 s later).
Bounded: at most MAX_CONNS connections at once, the process exits after
MAX_SECS.
"""

import socket
import sys
import threading
import time

IDLE_SECS = 60
MAX_CONNS = 256
MAX_HEAD = 8192


def serve_conn(conn, body, slots):
    try:
        conn.settimeout(IDLE_SECS)
        buf = b""
        while True:
            while b"\r\n\r\n" not in buf:
                if len(buf) > MAX_HEAD:
                    return
                chunk = conn.recv(4096)
                if not chunk:
                    return
                buf += chunk
            head, _, buf = buf.partition(b"\r\n\r\n")
            first = head.split(b"\r\n", 1)[0]
            keep = first.endswith(b"HTTP/1.1") and b"connection: close" not in head.lower()
            version = b"HTTP/1.1" if keep else b"HTTP/1.0"
            conn.sendall(
                version
                + b" 200 OK\r\nContent-Length: %d\r\nConnection: %s\r\n\r\n"
                % (len(body), b"keep-alive" if keep else b"close")
                + body
            )
            if not keep:
                return
    except OSError:
        return
    finally:
        conn.close()
        slots.release()


def main():
    port, body, max_secs = int(sys.argv[1]), sys.argv[2].encode(), float(sys.argv[3])
    deadline = time.time() + max_secs
    slots = threading.BoundedSemaphore(MAX_CONNS)
    bind = sys.argv[4] if len(sys.argv) > 4 else "0.0.0.0"
    srv = socket.socket(socket.AF_INET6 if ":" in bind else socket.AF_INET)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((bind, port))
    srv.listen(512)
    srv.settimeout(0.5)
    while time.time() < deadline:
        try:
            conn, _ = srv.accept()
        except socket.timeout:
            continue
        if not slots.acquire(blocking=False):
            conn.close()
            continue
        threading.Thread(target=serve_conn, args=(conn, body, slots), daemon=True).start()


if __name__ == "__main__":
    main()
