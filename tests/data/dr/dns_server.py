"""A minimal DNS responder for the DNS_CHECK test of tests/health.rs.

usage: python3 dns_server.py ADDR PORT MAX_SECS

Binds ADDR:PORT (an ADDR with a colon is IPv6) and answers every query
with its own identifier and question, QR and RA set and no records, and
RCODE by the first label of the name asked for: `servfail` 2 (SERVFAIL),
`nx` 3 (NXDOMAIN), anything else 0. A datagram shorter than a header is
ignored. Prints `ready` once bound. Bounded: exits after MAX_SECS.
"""

import sys

from udp_echo import serve


def first_label(query):
    # The question starts after the 12-byte header: a length, then the label.
    if len(query) < 13:
        return b""
    n = query[12]
    return query[13 : 13 + n].lower()


def answer(q):
    if len(q) < 12:
        return None
    rcode = {b"servfail": 2, b"nx": 3}.get(first_label(q), 0)
    flags = 0x8180 | rcode
    return q[:2] + flags.to_bytes(2, "big") + b"\x00\x01\x00\x00\x00\x00\x00\x00" + q[12:]


def main():
    addr, port, max_secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    serve(addr, port, max_secs, answer)


if __name__ == "__main__":
    main()
