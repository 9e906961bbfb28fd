# ses-relay instance program, job "refresh": what a relay does after boot, every 30 seconds
# (systemd timer ses-relay-refresh.timer, installed by boot.sh). If the instance metadata says its
# Auto Scaling group is terminating it, it drains (drain.sh). Otherwise, every REFRESH_SECONDS, it
# takes the secret's current credentials (a rotated key reaches Postfix within minutes, mail in
# flight unharmed) and probes SES (health.sh). Idempotent; one run at a time; one log line per
# change. Run alone: bash refresh.sh.
# shellcheck source=install.sh
. "$(dirname "${BASH_SOURCE[0]}")/install.sh"
# The group's jobs (drain, health) ship only to relays of a group: a self-contained script for a
# host on its own leaves them out (GROUP_ONLY_FILES in program.ts).
if [ -f "$(dirname "${BASH_SOURCE[0]}")/drain.sh" ]; then
  # shellcheck source=drain.sh
  . "$(dirname "${BASH_SOURCE[0]}")/drain.sh"
fi
# shellcheck source=credentials.sh
. "$(dirname "${BASH_SOURCE[0]}")/credentials.sh"

REFRESH_SECONDS=${SES_RELAY_REFRESH_SECONDS:-120}

# The timer and its service; without systemd (a container) nothing runs it: say so.
install_refresh_timer() {
  if ! has_systemd; then
    log "no systemd: run $SES_RELAY_LIB/refresh.sh every 30 seconds to follow key rotation and termination"
    return 0
  fi
  local before=$CHANGED
  CHANGED=0
  put_file "$UNIT_DIR/ses-relay-refresh.service" "[Unit]
Description=ses-relay: follow the SMTP credentials, the relay's health and its termination
After=postfix.service network-online.target

[Service]
Type=oneshot
ExecStart=/bin/bash $SES_RELAY_LIB/refresh.sh"
  put_file "$UNIT_DIR/ses-relay-refresh.timer" "[Unit]
Description=ses-relay: refresh every 30 seconds

[Timer]
OnActiveSec=30s
OnUnitActiveSec=30s
AccuracySec=5s

[Install]
WantedBy=timers.target"
  if [ "$CHANGED" = 1 ]; then systemctl daemon-reload; fi
  systemctl enable --now ses-relay-refresh.timer >/dev/null 2>&1 || die "could not start ses-relay-refresh.timer"
  CHANGED=$before
}

# True when REFRESH_SECONDS have passed since the last credentials refresh and health probe.
due() {
  local stamp=$RUN_DIR/refreshed
  mkdir -p "$RUN_DIR"
  if [ -f "$stamp" ] && [ $(($(date +%s) - $(stat -c %Y "$stamp"))) -lt "$REFRESH_SECONDS" ]; then return 1; fi
  touch "$stamp"
}

refresh() {
  load_settings
  detect_os
  if [ -n "$LIFECYCLE_HOOK" ] && [ "$(imds autoscaling/target-lifecycle-state)" = Terminated ]; then
    drain
    return 0
  fi
  due || return 0
  # A failed fetch (say, access denied for a moment) leaves Postfix with the credentials it has.
  (SES_RELAY_CREDENTIALS_WAIT=30 refresh_credentials) || log "credentials not refreshed; Postfix keeps the ones it has"
  if declare -F check_health >/dev/null; then check_health || true; fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  mkdir -p "$RUN_DIR"
  exec 9>"$RUN_DIR/refresh.lock"
  flock -n 9 || exit 0
  refresh
fi
