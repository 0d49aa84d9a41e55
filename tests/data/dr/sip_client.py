"""SIP-like UDP requests for tests/sip_netns.rs (the SIP persistence engine).

usage: python3 sip_client.py ADDR PORT CALLS SOCKETS [PREFIX [SPORT]]

For each of CALLS calls (Call-IDs `PREFIX-K@client.example`, PREFIX `call`
unless given, K from 0) and each of SOCKETS client sockets (each its own
source port: SPORT, SPORT+1, ... if given, else any), sends one OPTIONS
request carrying that Call-ID to ADDR:PORT and prints `call K PORT ANSWER`
(ANSWER: the real server's `NAME LEN` answer, or `timeout` after 2 s). Then
sends one request without a Call-ID and prints `nocallid ANSWER`. Every wait
is bounded.
"""

import socket
import sys


def request(call_id):
    lines = [
        "OPTIONS sip:service@example.invalid SIP/2.0",
        "Via: SIP/2.0/UDP client.example;branch=z9hG4bK-test",
        "From: <sip:client@client.example>;tag=1",
        "To: <sip:service@example.invalid>",
    ]
    if call_id is not None:
        lines.append("Call-ID: " + call_id)
    lines += ["CSeq: 1 OPTIONS", "Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode()


def ask(s, addr, port, data):
    s.sendto(data, (addr, port))
    try:
        answer, _ = s.recvfrom(2048)
        return answer.decode(errors="replace")
    except socket.timeout:
        return "timeout"


def main():
    addr, port = sys.argv[1], int(sys.argv[2])
    calls, sockets = int(sys.argv[3]), int(sys.argv[4])
    prefix = sys.argv[5] if len(sys.argv) > 5 else "call"
    sport = int(sys.argv[6]) if len(sys.argv) > 6 else 0
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    socks = []
    for i in range(sockets):
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.bind(("", sport + i if sport else 0))
        s.settimeout(2.0)
        socks.append(s)
    for k in range(calls):
        for s in socks:
            answer = ask(s, addr, port, request("%s-%d@client.example" % (prefix, k)))
            print("call %d %d %s" % (k, s.getsockname()[1], answer), flush=True)
    print("nocallid %s" % ask(socks[0], addr, port, request(None)), flush=True)
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
