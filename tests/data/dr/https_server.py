"""An HTTP(S) real server for the HTTP_GET and SSL_GET tests of tests/health.rs.

usage: python3 https_server.py ADDR PORT tls|plain MAX_SECS

Listens on ADDR:PORT (an ADDR with a colon is IPv6), over TLS with the
test certificate next to this script (https_test.crt, https_test.key:
self-signed, for tests only) or in the clear, and answers HTTP/1.0:

  /fox    200, the RFC 1321 pangram as the body, with Content-Length
  /nolen  200, the same body without Content-Length (the close ends it)
  /gone   404
  /sni    200 if the TLS handshake named www.test (SNI) and the Host
          header is www.test, else 421 (Misdirected Request)
  other   404

Bounded: exits after MAX_SECS.
"""

import os
import socket
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FOX = b"The quick brown fox jumps over the lazy dog"
HERE = os.path.dirname(os.path.abspath(__file__))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def setup(self):
        # The handshake in this connection's thread, not in accept().
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(5)
            self.request.do_handshake()
        super().setup()

    def answer(self, code, body, length=True):
        self.send_response(code)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/fox":
            self.answer(200, FOX)
        elif self.path == "/nolen":
            self.answer(200, FOX, length=False)
        elif self.path == "/sni":
            sni = getattr(self.request, "ringvs_sni", None)
            host = self.headers.get("Host")
            ok = sni == "www.test" and host == "www.test"
            self.answer(200 if ok else 421, f"sni={sni} host={host}\n".encode())
        else:
            self.answer(404, b"not here\n")

    def log_message(self, *args):
        pass


def remember_sni(sock, name, _ctx):
    sock.ringvs_sni = name


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, addr, port, tls):
        self.address_family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        super().__init__((addr, port), Handler)
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(
                os.path.join(HERE, "https_test.crt"), os.path.join(HERE, "https_test.key")
            )
            ctx.sni_callback = remember_sni
            self.socket = ctx.wrap_socket(
                self.socket, server_side=True, do_handshake_on_connect=False
            )


def main():
    addr, port, mode, max_secs = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    timer = threading.Timer(max_secs, lambda: os._exit(0))
    timer.daemon = True
    timer.start()
    Server(addr, port, mode == "tls").serve_forever()


if __name__ == "__main__":
    main()
