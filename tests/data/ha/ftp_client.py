"""One FTP control connection across a failover (tests/ha_netns.rs).

usage: ftp_client.py VIP GO_FILE

Logs in anonymously to VIP:21, fetches file.bin over a passive data
connection (PASV: the director rewrites the server's 227 reply, which moves
the rest of the server's stream), prints `got 1 BYTES FIRST_LINE`, then
`waiting` and waits (60 s at most) for GO_FILE to exist: the test crashes the
active director meanwhile. On the same control connection it then sends
NOOP, fetches the file again (`got 2 ...`) and quits (`done`). Any error is
printed as `error WHAT` and ends the script with status 1. Every network wait
is bounded (10 s).
"""

import ftplib
import os
import sys
import time


def fetch(ftp, n):
    buf = bytearray()
    ftp.retrbinary("RETR file.bin", buf.extend)
    first = bytes(buf[: buf.find(b"\n")]).decode("ascii", "replace")
    print(f"got {n} {len(buf)} {first}", flush=True)


def main():
    vip, go = sys.argv[1], sys.argv[2]
    try:
        ftp = ftplib.FTP()
        ftp.connect(vip, 21, timeout=10)
        ftp.login()
        ftp.set_pasv(True)
        fetch(ftp, 1)
        print("waiting", flush=True)
        deadline = time.time() + 60
        while not os.path.exists(go):
            if time.time() > deadline:
                print("error no go", flush=True)
                return 1
            time.sleep(0.05)
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
