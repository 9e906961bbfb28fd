# ses-relay instance program: installs packages with the distribution's package manager, and makes
# sure the AWS CLI is there (the jobs read the secret, the send quota and the instance's lifecycle
# with it). Self-contained, so that the user data of SesRelay can carry it verbatim: it needs the
# CLI to fetch the rest of the program.

# Installs packages quietly (apt-get, dnf or yum, whichever the system has); false on failure.
pkg_install() {
  if command -v apt-get >/dev/null 2>&1; then
    # "No configuration": the package must not start an Internet-facing Postfix of its own.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    DEBIAN_FRONTEND=noninteractive apt-get -y -q update >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Options::=--force-confold install "$@" >/dev/null
  elif command -v dnf >/dev/null 2>&1; then
    dnf -y -q install "$@" >/dev/null
  elif command -v yum >/dev/null 2>&1; then
    yum -y -q install "$@" >/dev/null
  else
    return 1
  fi
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
