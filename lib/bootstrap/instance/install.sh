# ses-relay instance program, job "install": detects the distribution and installs Postfix, the
# SASL plain mechanism and CA certificates when missing (and removes Sendmail). Run alone:
# bash install.sh.
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=packages.sh
. "$(dirname "${BASH_SOURCE[0]}")/packages.sh"

SUPPORTED="Amazon Linux 2023, Amazon Linux 2, RHEL/Rocky/AlmaLinux 8 and 9, Ubuntu 22.04 and 24.04, Debian 11 and 12"

# Sets PKG (apt, dnf or yum) and CA_FILE from /etc/os-release; refuses what we do not know.
detect_os() {
  [ -r /etc/os-release ] || die "cannot read /etc/os-release; supported: $SUPPORTED"
  local id ver
  # shellcheck disable=SC1091
  id=$(. /etc/os-release && printf '%s' "${ID:-}")
  # shellcheck disable=SC1091
  ver=$(. /etc/os-release && printf '%s' "${VERSION_ID:-}")
  case "$id:$ver" in
    amzn:2023*) PKG=dnf ;;
    amzn:2) PKG=yum ;;
    rhel:8* | rhel:9* | rocky:8* | rocky:9* | almalinux:8* | almalinux:9*) PKG=dnf ;;
    ubuntu:22.04 | ubuntu:24.04 | debian:11 | debian:12) PKG=apt ;;
    *) die "unsupported distribution '$id $ver'; supported: $SUPPORTED" ;;
  esac
  if [ "$PKG" = apt ]; then
    CA_FILE=/etc/ssl/certs/ca-certificates.crt
  else
    # shellcheck disable=SC2034 # read by postfix.sh
    CA_FILE=/etc/pki/tls/certs/ca-bundle.crt
  fi
}

# True when a package is installed.
have_pkg() {
  if [ "$PKG" = apt ]; then
    # shellcheck disable=SC2016
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep 'ok installed' >/dev/null
  else
    rpm -q "$1" >/dev/null 2>&1
  fi
}

install_packages() {
  local p missing=() sasl=cyrus-sasl-plain
  [ "$PKG" = apt ] && sasl=libsasl2-modules
  for p in sendmail sendmail-bin; do
    if have_pkg "$p"; then
      log "removing $p"
      if [ "$PKG" = apt ]; then
        DEBIAN_FRONTEND=noninteractive apt-get -y -q purge "$p" >/dev/null
      else
        "$PKG" -y -q remove "$p" >/dev/null
      fi
    fi
  done
  for p in postfix "$sasl" ca-certificates; do
    have_pkg "$p" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    pkg_install "${missing[@]}" || die "could not install ${missing[*]}"
  fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  detect_os
  install_packages
fi
