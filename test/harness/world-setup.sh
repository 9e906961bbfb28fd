#!/bin/bash
# Builds the end-to-end test world inside fresh mount, network and UTS namespaces (see world.ts):
# private copies of Postfix's state, of the pacer and its schedule, a private /var/log, a resolver
# that answers the SES endpoint name with loopback, and CAs (bundle and directory) that also trust
# the test CA.
# The host is left untouched but for the system user the script creates (ses-relay), as on EC2.
set -euo pipefail
dir=$1
ses_host=$2
mount --make-rprivate /
ip link set lo up
hostname relay.e2e.test
for d in /etc/postfix /var/spool/postfix /var/lib/postfix /var/log /var/lib/ses-relay /etc/ses-relay /run/ses-relay \
  /usr/local/libexec/ses-relay /usr/local/lib /usr/local/sbin; do
  mkdir -p "$d" "$dir/root$d"
  cp -a "$d/." "$dir/root$d/"
  mount --bind "$dir/root$d" "$d"
done
rm -f /var/log/maillog
printf 'nameserver 127.0.0.1\n' >"$dir/resolv.conf"
mount --bind "$dir/resolv.conf" /etc/resolv.conf
# The CAs as Debian's update-ca-certificates leaves them, the test CA among them: the bundle and
# the hashed directory (its own links kept, pointing where the system's point).
mkdir -p "$dir/certs"
cp -a /etc/ssl/certs/. "$dir/certs/"
rm -f "$dir/certs/ca-certificates.crt"
cat /etc/ssl/certs/ca-certificates.crt "$dir/tls/ca.crt" >"$dir/certs/ca-certificates.crt"
cp "$dir/tls/ca.crt" "$dir/certs/ses-relay-test-ca.pem"
openssl rehash "$dir/certs" 2>/dev/null
chmod 0755 "$dir/certs"
mount --bind "$dir/certs" /etc/ssl/certs
# No systemd in the world: the script must take its container path (postfix start/reload).
if [ -d /run/systemd ]; then mount -t tmpfs tmpfs /run/systemd; fi
dnsmasq --conf-file=/dev/null --no-resolv --no-hosts --listen-address=127.0.0.1 --bind-interfaces \
  --address="/$ses_host/127.0.0.1" --pid-file="$dir/dnsmasq.pid" --user=root --group=root \
  </dev/null >"$dir/dnsmasq.log" 2>&1
