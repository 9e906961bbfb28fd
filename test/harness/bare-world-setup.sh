#!/bin/bash
# Builds a bare-system world (see bare-system.test.ts) inside fresh mount, network and UTS
# namespaces: the bare root filesystem at ROOT with /proc and /dev, a resolver that answers the SES
# endpoint and the package mirror's name with loopback, the mirror stand-in (a flat repository
# served over HTTP on loopback), the test CA where Debian's ca-certificates takes local CAs from
# (/usr/local/share/ca-certificates, as an organisation's image would), and the `aws` stand-in
# where an image has the AWS CLI. Usage: bare-world-setup.sh DIR ROOT MIRROR SES_HOST HARNESS
set -euo pipefail
dir=$1
root=$2
mirror=$3
ses_host=$4
harness=$5
mount --make-rprivate /
ip link set lo up
hostname relay.e2e.test
echo relay.e2e.test >"$root/etc/hostname"
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
printf 'nameserver 127.0.0.1\n' >"$root/etc/resolv.conf"
# The image's Debian source, with the mirror stand-in in its place (unsigned, hence trusted=yes).
printf 'deb [trusted=yes] http://mirror.e2e.test/ ./\n' >"$root/etc/apt/sources.list"
mkdir -p "$root/usr/local/share/ca-certificates"
cp "$dir/tls/ca.crt" "$root/usr/local/share/ca-certificates/ses-relay-test-ca.crt"
install -m 0755 "$harness/aws" "$root/usr/local/bin/aws"
dnsmasq --conf-file=/dev/null --no-resolv --no-hosts --listen-address=127.0.0.1 --bind-interfaces \
  --address="/$ses_host/127.0.0.1" --address=/mirror.e2e.test/127.0.0.1 --pid-file="$dir/dnsmasq.pid" \
  --user=root --group=root </dev/null >"$dir/dnsmasq.log" 2>&1
python3 -m http.server --bind 127.0.0.1 --directory "$mirror" 80 </dev/null >"$dir/mirror.log" 2>&1 &
for _ in $(seq 100); do
  if (exec 3<>/dev/tcp/127.0.0.1/80) 2>/dev/null; then exit 0; fi
  sleep 0.1
done
echo "the mirror stand-in did not start: $(cat "$dir/mirror.log")" >&2
exit 1
