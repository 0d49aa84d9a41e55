#!/bin/sh
# keepalived track script for a ringvs director (docs/ha.md): succeeds while
# the director at CONTROL answers on its control socket.
# usage: check.sh RINGVS CONTROL
exec "$1" stats --control "$2" >/dev/null 2>&1
