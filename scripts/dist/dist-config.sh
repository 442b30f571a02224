#!/bin/sh
# Writes the installed configuration: mailproxy.yaml.example with the paths of
# an installed system (the pid file and log where the systemd unit and the
# logrotate file expect them, the workers' user, Debian's snakeoil pair as the
# TLS certificate until the operator sets theirs).
# Usage: scripts/dist/dist-config.sh EXAMPLE OUTPUT
set -eu
in=$1
out=$2
sed -e 's|^user: nobody nogroup |user: mailproxy mailproxy |' \
    -e 's|^error_log: logs/error.log info |error_log: /var/log/mailproxy/error.log info |' \
    -e 's|^pid: logs/mailproxy.pid|pid: /run/mailproxy/mailproxy.pid|' \
    -e 's|^  ssl_certificate: cert.pem|  ssl_certificate: /etc/ssl/certs/ssl-cert-snakeoil.pem|' \
    -e 's|^  ssl_certificate_key: cert.key|  ssl_certificate_key: /etc/ssl/private/ssl-cert-snakeoil.key|' \
    "$in" > "$out.tmp"
# The example changed under these patterns: fail rather than install paths
# the unit and the logrotate file do not know.
for want in '^user: mailproxy mailproxy' '^error_log: /var/log/mailproxy/error.log' \
    '^pid: /run/mailproxy/mailproxy.pid' 'ssl_certificate: /etc/ssl/certs/ssl-cert-snakeoil.pem' \
    'ssl_certificate_key: /etc/ssl/private/ssl-cert-snakeoil.key'; do
	if ! grep -q "$want" "$out.tmp"; then
		echo "dist-config.sh: $in no longer has the line for: $want" >&2
		rm -f "$out.tmp"
		exit 1
	fi
done
mv "$out.tmp" "$out"
