# ses-relay instance program, job "install": detects the distribution and installs Postfix, the
# SASL plain mechanism and CA certificates when missing (and removes Sendmail). Run alone:
# bash install.sh.
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=packages.sh
. "$(dirname "${BASH_SOURCE[0]}")/packages.sh"

# Known by family (os-release ID), at the releases tested. A newer release of a known family
# proceeds with a warning (images named "latest" move on); one older than those is past its end of
# support and refused, as is any other family. Amazon Linux 2 ended its support on 2026-06-30.
SUPPORTED="Debian 12 and 13, Ubuntu 22.04, 24.04 and 26.04, RHEL/Rocky Linux/AlmaLinux/CentOS Stream 8, 9 and 10, Amazon Linux 2023, Fedora 43 to 45 (newer releases of these with a warning)"

# True when version $1 sorts before version $2 (dotted numbers).
version_lt() {
  [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n 1)" = "$1" ]
}

# Sets PKG (apt or dnf), CA_FILE (the CA bundle) and CA_DIR (the same CAs, one file each, hashed
# for OpenSSL; none where the distribution keeps no such directory) from /etc/os-release; refuses
# what we do not know, before anything is installed.
detect_os() {
  [ -r /etc/os-release ] || die "cannot read /etc/os-release; supported: $SUPPORTED"
  local id ver name known
  # shellcheck disable=SC1091
  id=$(. /etc/os-release && printf '%s' "${ID:-}")
  # shellcheck disable=SC1091
  ver=$(. /etc/os-release && printf '%s' "${VERSION_ID:-}")
  case "$id" in
    debian) name=Debian PKG=apt known="12 13" ;;
    ubuntu) name=Ubuntu PKG=apt known="22.04 24.04 26.04" ;;
    rhel | rocky | almalinux | centos)
      # Minor releases (9.4) are the major's.
      PKG=dnf known="8 9 10" ver=${ver%%.*}
      case "$id" in rhel) name=RHEL ;; rocky) name="Rocky Linux" ;; almalinux) name=AlmaLinux ;; *) name="CentOS Stream" ;; esac
      ;;
    amzn) name="Amazon Linux" PKG=dnf known="2023" ;;
    fedora) name=Fedora PKG=dnf known="43 44 45" ;;
    *) die "unsupported distribution '$id $ver'; supported: $SUPPORTED" ;;
  esac
  if [ -z "$ver" ]; then
    # Debian testing and unstable have no VERSION_ID.
    log "warning: $name without a release number (testing?) is not among the releases tested ($known); proceeding as for $name ${known##* }"
  elif version_lt "$ver" "${known%% *}"; then
    die "$name $ver is past its end of support; supported: $SUPPORTED"
  elif [[ " $known " != *" $ver "* ]]; then
    log "warning: $name $ver is not among the releases tested ($known); proceeding as for $name ${known##* }"
  fi
  # shellcheck disable=SC2034 # read by postfix.sh
  if [ "$PKG" = apt ]; then
    CA_FILE=/etc/ssl/certs/ca-certificates.crt CA_DIR=/etc/ssl/certs
  else
    CA_FILE=/etc/pki/tls/certs/ca-bundle.crt CA_DIR=
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
        dnf -y -q remove "$p" >/dev/null
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
