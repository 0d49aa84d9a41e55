"""A minimal SMTP responder for the SMTP_CHECK test of tests/health.rs.

usage: python3 smtp_server.py ADDR PORT ok|busy MAX_SECS

Listens on ADDR:PORT (an ADDR with a colon is IPv6). Greets with `220`
(ok) or `554` (busy, and talks on all the same); answers `HELO mx.test` with `250` and any
other HELO with `550`; `QUIT` with `221` and the close; anything else with
`500`. Bounded: exits after MAX_SECS.
"""

import os
import socket
import socketserver
import sys
import threading


class Handler(socketserver.StreamRequestHandler):
    timeout = 5

    def say(self, line):
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self):
        # Busy or not, the conversation goes on: only the greeting differs.
        if self.server.mode == "busy":
            self.say("554 busy, try later")
        else:
            self.say("220 rs.test ESMTP ready")
        for raw in self.rfile:
            words = raw.decode(errors="replace").strip().split()
            verb = words[0].upper() if words else ""
            if verb == "HELO":
                ok = words[1:] == ["mx.test"]
                self.say("250 rs.test hello" if ok else "550 who are you")
            elif verb == "QUIT":
                self.say("221 rs.test bye")
                return
            else:
                self.say("500 what")


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, port, mode):
        self.address_family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        self.mode = mode
        super().__init__((addr, port), Handler)


def main():
    addr, port, mode, max_secs = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    timer = threading.Timer(max_secs, lambda: os._exit(0))
    timer.daemon = True
    timer.start()
    Server(addr, port, mode).serve_forever()


if __name__ == "__main__":
    main()
