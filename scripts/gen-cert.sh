#!/bin/sh
# Makes a self-signed test certificate: DIR/cert.pem and DIR/cert.key (CN=localhost,
# SAN localhost/127.0.0.1/::1). For the example configuration, the demo and tests;
# never for production.
set -eu
dir=${1:-.}
name=${2:-cert}
[ -s "$dir/$name.pem" ] && [ -s "$dir/$name.key" ] && exit 0
mkdir -p "$dir"
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=localhost \
	-addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
	-keyout "$dir/$name.key" -out "$dir/$name.pem" 2>/dev/null
chmod 600 "$dir/$name.key"
