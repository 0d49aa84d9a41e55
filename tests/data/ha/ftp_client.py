"""One FTP control connection across a failover (tests/ha_netns.rs).

usage: ftp_client.py VIP GO_FILE

Logs in anonymously to VIP:21, all on one control connection, and:

1. fetches file.bin (64 KiB) over a passive data connection (PASV: the
   director rewrites the server's 227 reply, which moves the rest of the
   server's stream) and prints `got 1 BYTES FIRST_LINE`;
2. starts fetching big.bin (64 copies of file.bin) over another one with a
   64 KiB receive buffer, prints `started LOCAL_PORT` after its first 64 KiB,
   stops reading until GO_FILE exists (60 s at most: the test crashes the
   active director meanwhile, with the transfer in flight), then reads the
   rest and prints `big BYTES FIRST_LINE whole|broken`;
3. sends NOOP, fetches file.bin again (`got 2 ...`) and quits (`done`).

Any error is printed as `error WHAT` and ends the script with status 1.
Every network wait is bounded (10 s; 20 s for the big transfer).
"""

import ftplib
import os
import socket
import sys
import time

CHUNK = 65536


def first_line(buf):
    return bytes(buf[: buf.find(b"\n")]).decode("ascii", "replace")


def fetch(ftp, n):
    buf = bytearray()
    ftp.retrbinary("RETR file.bin", buf.extend)
    print(f"got {n} {len(buf)} {first_line(buf)}", flush=True)


def wait_go(go):
    deadline = time.time() + 60
    while not os.path.exists(go):
        if time.time() > deadline:
            raise TimeoutError("no go file")
        time.sleep(0.05)


def fetch_big(ftp, go):
    conn = ftp.transfercmd("RETR big.bin")
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, CHUNK)
    conn.settimeout(20)
    buf = bytearray()
    started = False
    while True:
        data = conn.recv(16384)
        if not data:
            break
        buf.extend(data)
        if not started and len(buf) >= CHUNK:
            print(f"started {conn.getsockname()[1]}", flush=True)
            wait_go(go)
            started = True
    conn.close()
    ftp.voidresp()
    first = bytes(buf[:CHUNK])
    whole = len(buf) == 64 * CHUNK and all(
        buf[i : i + CHUNK] == first for i in range(0, len(buf), CHUNK)
    )
    state = "whole" if whole else "broken"
    print(f"big {len(buf)} {first_line(buf)} {state}", flush=True)


def main():
    vip, go = sys.argv[1], sys.argv[2]
    try:
        ftp = ftplib.FTP()
        ftp.connect(vip, 21, timeout=10)
        ftp.login()
        ftp.set_pasv(True)
        fetch(ftp, 1)
        fetch_big(ftp, go)
        ftp.voidcmd("NOOP")
        fetch(ftp, 2)
        ftp.quit()
        print("done", flush=True)
        return 0
    except (OSError, EOFError, ftplib.Error) as e:
        print(f"error {type(e).__name__}: {e}", flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
