# ses-relay instance program: installs packages with the distribution's package manager, and makes
# sure the AWS CLI is there (the jobs read the secret, the send quota and the instance's lifecycle
# with it). Self-contained, so that the user data of SesRelay can carry it verbatim: it needs the
# CLI to fetch the rest of the program.

# Installs packages quietly with PKG's package manager (apt or dnf: install.sh's detect_os; else
# apt where there is apt-get). On failure it names the packages and the package manager's last
# error line, and returns false. apt's lists are updated once per run.
pkg_install() {
  local pm=${PKG:-} out rc=0 last
  [ -n "$pm" ] || { command -v apt-get >/dev/null && pm=apt; } || pm=dnf
  out=$(mktemp)
  if [ "$pm" = apt ]; then
    # "No configuration": the package must not start an Internet-facing Postfix of its own.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    if [ -z "${PKG_APT_UPDATED:-}" ]; then
      # A failed update shows in the install that follows.
      DEBIAN_FRONTEND=noninteractive apt-get -y -q update >"$out" 2>&1 && PKG_APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Options::=--force-confold install "$@" >>"$out" 2>&1 || rc=$?
    pm=apt-get
  else
    dnf -y -q install "$@" >"$out" 2>&1 || rc=$?
  fi
  if [ "$rc" != 0 ]; then
    last=$(grep -E '^(E:|Error)' "$out" | tail -n 1) || true
    [ -n "$last" ] || last=$(grep -v '^[[:space:]]*$' "$out" | tail -n 1) || true
    printf 'ses-relay: %s\n' "$pm could not install $* (exit $rc): ${last:-no output}" >&2
  fi
  rm -f "$out"
  return "$rc"
}

ensure_aws_cli() {
  command -v aws >/dev/null 2>&1 && return 0
  printf 'ses-relay: %s\n' "installing the AWS CLI" >&2
  pkg_install awscli 2>/dev/null || true
  command -v aws >/dev/null 2>&1 && return 0
  # Not packaged here (Ubuntu 24.04, RHEL): AWS's own bundle.
  local d
  d=$(mktemp -d)
  pkg_install unzip curl 2>/dev/null || true
  if curl -fsSL "https://awscli.amazonaws.com/awscli-exe-linux-$(uname -m).zip" -o "$d/awscli.zip" &&
    unzip -q "$d/awscli.zip" -d "$d"; then
    "$d/aws/install" --update >/dev/null || true
  fi
  rm -rf "$d"
  command -v aws >/dev/null 2>&1 && return 0
  printf 'ses-relay: error: %s\n' "the AWS CLI is needed and could not be installed" >&2
  return 1
}
