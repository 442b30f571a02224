#!/bin/sh
# Installs what mailproxy needs to build, test and benchmark, from Debian.
# Idempotent: when every package is already installed it returns at once.
# Usage: scripts/deps.sh [build|deb|test|bench]   (default: test, which includes build and deb)
set -eu

build_pkgs="gcc make pkg-config libssl-dev libyaml-dev libjansson-dev libc-ares-dev libhiredis-dev libcriterion-dev openssl"
# clang: the sanitizer pass (its UBSan checks pointer arithmetic) and libFuzzer.
san_pkgs="clang libclang-rt-14-dev"
test_pkgs="python3 dovecot-imapd dovecot-pop3d dovecot-managesieved dovecot-sieve dovecot-lmtpd sieve-connect postfix swaks curl procps iproute2 redis-server msmtp prometheus haproxy"
# Packaging (make deb, make install and their test): the .deb build, lintian, the
# logrotate run, man page rendering and systemd-analyze verify of the unit.
pkg_pkgs="dpkg-dev debhelper fakeroot lintian logrotate man-db groff-base systemd adduser ssl-cert"
bench_pkgs="nginx libnginx-mod-mail gnuplot-nox"

what=${1:-test}
case $what in
build) pkgs=$build_pkgs ;;
deb) pkgs="$build_pkgs $pkg_pkgs" ;;
test) pkgs="$build_pkgs $san_pkgs $test_pkgs $pkg_pkgs" ;;
bench) pkgs="$build_pkgs $san_pkgs $test_pkgs $pkg_pkgs $bench_pkgs" ;;
*) echo "usage: $0 [build|deb|test|bench]" >&2; exit 2 ;;
esac

missing=""
for p in $pkgs; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "deps.sh: missing packages:$missing (run as root to install them)" >&2
	exit 1
fi

echo "deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# The Debian packages of mail servers try to start their system daemons;
# a test box must not get a Postfix on :25 or a Dovecot on :143 from us.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
