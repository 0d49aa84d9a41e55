"""A SIP callee that hangs up, for tests/sip_netns.rs (IPVS's conn_out).

usage:
  python3 sip_callee.py rs NAME PORT TRIGGER SECS
      On a real server: answers every request on UDP PORT with NAME. When
      the file TRIGGER appears, reads `CLIENT CPORT CALLID` from it and sends
      a BYE with that Call-ID to CLIENT:CPORT from PORT (the server's own
      request), printing `bye-sent`. Prints `response ADDR PORT CALLID` for
      every SIP response it gets (the client's 200 OK). Exits after SECS.
  python3 sip_callee.py ua VIP VPORT CPORT CALLS
      On the client: binds CPORT, prints `ready`, waits (5 s at most) for a
      request, prints `bye ADDR PORT CALLID` and answers it with a 200 OK to
      where it came from. Then sends CALLS OPTIONS requests with that Call-ID
      to VIP:VPORT, each from a new socket, and prints `answer NAME` (or
      `answer timeout` after 2 s) for each. Every wait is bounded.
"""

import os
import select
import socket
import sys
import time


def call_id(data):
    for line in data.decode(errors="replace").split("\r\n"):
        if line.lower().startswith("call-id:"):
            return line.split(":", 1)[1].strip()
    return "-"


def rs(name, port, trigger, secs):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    end = time.monotonic() + secs
    sent = False
    while time.monotonic() < end:
        if not sent and os.path.exists(trigger):
            with open(trigger) as f:
                words = f.read().split()
            if len(words) == 3:
                client, cport, cid = words[0], int(words[1]), words[2]
                bye = "BYE sip:ua@%s SIP/2.0\r\nCall-ID: %s\r\nCSeq: 2 BYE\r\n\r\n" % (client, cid)
                s.sendto(bye.encode(), (client, cport))
                sent = True
                print("bye-sent", flush=True)
        ready, _, _ = select.select([s], [], [], 0.05)
        if not ready:
            continue
        data, (addr, p) = s.recvfrom(4096)
        if data.startswith(b"SIP/2.0 "):
            print("response %s %d %s" % (addr, p, call_id(data)), flush=True)
        else:
            s.sendto(name.encode(), (addr, p))


def ua(vip, vport, cport, calls):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", cport))
    s.settimeout(5.0)
    print("ready", flush=True)
    try:
        data, (addr, p) = s.recvfrom(4096)
    except socket.timeout:
        print("bye timeout", flush=True)
        return
    cid = call_id(data)
    print("bye %s %d %s" % (addr, p, cid), flush=True)
    ok = "SIP/2.0 200 OK\r\nCall-ID: %s\r\nCSeq: 2 BYE\r\n\r\n" % cid
    s.sendto(ok.encode(), (addr, p))
    for _ in range(calls):
        q = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        q.bind(("", 0))
        q.settimeout(2.0)
        req = "OPTIONS sip:x SIP/2.0\r\nCall-ID: %s\r\nCSeq: 3 OPTIONS\r\n\r\n" % cid
        q.sendto(req.encode(), (vip, vport))
        try:
            answer, _ = q.recvfrom(4096)
            print("answer %s" % answer.decode(errors="replace"), flush=True)
        except socket.timeout:
            print("answer timeout", flush=True)
        q.close()


def main():
    if sys.argv[1] == "rs":
        rs(sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5]))
    else:
        ua(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))


if __name__ == "__main__":
    main()
