# ses-relay instance program: what every job shares. Sourced, never run: the settings the generator
# wrote (SES_HOST, SES_PORT, ...), logging, and the helpers that change Postfix only where it differs.
# Every job of this folder (boot, refresh, health, drain) logs what it did in one line per change,
# and never logs, prints or passes on a command line the SMTP password.
set -euo pipefail
umask 077
export PATH="$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Where the generator's stub put things.
SES_RELAY_LIB=${SES_RELAY_LIB:-/usr/local/lib/ses-relay}
SES_RELAY_SETTINGS=${SES_RELAY_SETTINGS:-/etc/ses-relay/settings}
# Postfix's configuration directory, and our run-time state (the probe's failures, the lock).
PF=/etc/postfix
# shellcheck disable=SC2034 # used by refresh.sh and health.sh
RUN_DIR=/run/ses-relay
CHANGED=0
RESTART=0
TMP_FILE=

log() { printf 'ses-relay: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}
# On every exit: clear the password, remove a half-written file, and let the job that defines
# on_failure (boot.sh: the creation signal) say that it failed.
cleanup() {
  local rc=$?
  # shellcheck disable=SC2034 # the password credentials.sh read, cleared on every exit
  SMTP_PASS=
  if [ -n "$TMP_FILE" ]; then rm -f "$TMP_FILE"; fi
  if [ "$rc" != 0 ] && declare -F on_failure >/dev/null; then on_failure || true; fi
}
trap cleanup EXIT

# The settings file holds shell assignments of validated values only (no secret): see render.ts.
load_settings() {
  [ -r "$SES_RELAY_SETTINGS" ] || die "cannot read the settings $SES_RELAY_SETTINGS (written by the ses-relay user data)"
  # shellcheck disable=SC1090
  . "$SES_RELAY_SETTINGS"
}

# The Python 3 of the system (the pacer, the SMTP probe and the metadata client run on it).
python3_bin() {
  local p
  for p in /usr/bin/python3 /usr/libexec/platform-python; do
    if [ -x "$p" ]; then
      printf '%s' "$p"
      return 0
    fi
  done
  return 1
}

# An instance metadata item (imds.py: IMDSv2 only), e.g. `imds instance-id`; nothing when there
# is none (not on EC2, not in a group).
imds() {
  "$(python3_bin)" -I "$(dirname "${BASH_SOURCE[0]}")/imds.py" "$1"
}

# main.cf settings are collected with want() and written by apply_conf() in one postconf call, and
# only those that differ: a second run changes nothing, and Postfix (which waits for a main.cf
# younger than a second to age before reading it) is read and written once instead of per setting.
WANT_NAMES=()
WANT_VALUES=()
want() {
  WANT_NAMES+=("$1")
  WANT_VALUES+=("$2")
}
apply_conf() {
  local -A current=()
  local line i changes=()
  [ "${#WANT_NAMES[@]}" -gt 0 ] || return 0
  while IFS= read -r line; do
    if [[ $line == *" = "* ]]; then current[${line%% = *}]=${line#* = }; else current[${line% =}]=; fi
  done < <(postconf "${WANT_NAMES[@]}")
  for i in "${!WANT_NAMES[@]}"; do
    [ "${current[${WANT_NAMES[i]}]-}" = "${WANT_VALUES[i]}" ] && continue
    changes+=("${WANT_NAMES[i]} = ${WANT_VALUES[i]}")
    case ${WANT_NAMES[i]} in inet_interfaces | inet_protocols) RESTART=1 ;; esac
  done
  WANT_NAMES=()
  WANT_VALUES=()
  if [ "${#changes[@]}" -gt 0 ]; then
    postconf -e "${changes[@]}"
    CHANGED=1
  fi
}

# Sets a master.cf field (service/type/field, as postconf -F names it) unless it has that value.
want_field() {
  [ "$(postconf -Fh "$1")" = "$2" ] && return 0
  postconf -F "$1=$2"
  CHANGED=1
}

# True when this Postfix knows the parameter. (grep reads all of postconf's output: with pipefail,
# grep -q could fail the pipeline by SIGPIPE.)
has_param() {
  postconf -d 2>/dev/null | grep "^$1 " >/dev/null
}

# Writes a file only when its content differs.
put_file() {
  if [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; then return 0; fi
  printf '%s\n' "$2" >"$1"
  chmod 0644 "$1"
  CHANGED=1
}

# Removes a one-line master.cf service (its name and type), if there.
drop_service() {
  grep -Eq "^$1[[:space:]]+$2[[:space:]]" "$PF/master.cf" || return 0
  sed -i -E "/^$1[[:space:]]+$2[[:space:]]/d" "$PF/master.cf"
  CHANGED=1
}

# Makes a master.cf service exactly this line (plain text: Postfix 2.10 has no postconf -M),
# replacing another of the same name and type.
put_service() {
  grep -Fxq "$3" "$PF/master.cf" && return 0
  drop_service "$1" "$2"
  printf '%s\n' "$3" >>"$PF/master.cf"
  CHANGED=1
}

# shellcheck disable=SC2034 # used by refresh.sh and pacer.sh
UNIT_DIR=/etc/systemd/system
# True where systemd runs (not in a container or a chroot).
has_systemd() {
  [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1
}

# Makes Postfix take what changed: start it, restart it (listening interfaces changed) or reload it.
# With systemd where it runs; without it (a container, a chroot), Postfix's own commands.
apply_postfix() {
  local out
  postfix check || die "postfix check failed"
  if has_systemd; then
    systemctl enable postfix >/dev/null 2>&1 || true
    if ! systemctl is-active --quiet postfix; then
      systemctl start postfix || die "Postfix did not start (systemctl start postfix); see journalctl -u postfix"
    elif [ "$RESTART" = 1 ]; then
      systemctl restart postfix
    elif [ "$CHANGED" = 1 ]; then
      systemctl reload postfix
    fi
  else
    # Debian's unit prepares Postfix's chroot (/var/spool/postfix/etc...) before start. Up to
    # Postfix 3.9 its helper takes the instance ("-" for the default); from 3.10 postfix start
    # runs it itself (post-install) and refuses it from anywhere else.
    if [ -x /usr/lib/postfix/configure-instance.sh ] &&
      ! grep -q configure-instance "$(postconf -hx daemon_directory)/post-install" 2>/dev/null; then
      /usr/lib/postfix/configure-instance.sh - >/dev/null || die "Debian's /usr/lib/postfix/configure-instance.sh failed"
    fi
    if ! postfix status >/dev/null 2>&1; then
      out=$(postfix start 2>&1) || die "Postfix did not start (postfix start): $(printf '%s' "$out" | tail -n 1)"
    elif [ "$RESTART" = 1 ]; then
      postfix stop && postfix start
    elif [ "$CHANGED" = 1 ]; then
      postfix reload
    fi
  fi
  postfix status >/dev/null 2>&1 || die "Postfix is not running"
  CHANGED=0
  RESTART=0
}
