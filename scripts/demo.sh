#!/bin/sh
# `make demo`: the proxy against real Dovecot and Postfix on loopback (see scripts/demo.py).
exec python3 "$(dirname "$0")/demo.py" "$@"
