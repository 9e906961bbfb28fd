# ses-relay instance program, job "pacer": at most the send rate (the quota, or this relay's share)
# of recipients to SES in any second: pacer.py for Postfix, the connections. Sourced by postfix.sh.
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

HELPERS=/usr/local/libexec/ses-relay
PACER_DIR=/var/lib/ses-relay
RATE_NOTE=
# Recipients/s a cached connection carries at least (5 round trips each: RSET, MAIL FROM, RCPT TO,
# DATA, the message; SES offers no PIPELINING. About 3/s at 60 ms in bench/relay.ts): ceil(rate /
# this) connections, at most MAX_CONNECTIONS (of 100 processes).
PER_CONNECTION=2
MAX_CONNECTIONS=50

# "CONNECTIONS NOTE" for RATE recipients/s: enough connections to reach the rate when SES answers
# slowly; the pacer, not their number, keeps them to it. (Every Postfix the program supports, 3.5
# and newer, has the hooks the pacer needs.)
pace_for() {
  local conns=$((($(whole_rate "$1") + PER_CONNECTION - 1) / PER_CONNECTION))
  [ "$conns" -le "$MAX_CONNECTIONS" ] || conns=$MAX_CONNECTIONS
  echo "$conns at most $1 recipients/s, each delivery paced, over up to $conns connection(s)"
}

# RATE in whole recipients, at least 1 (4.5/s: 4; 0.001/s: 1), as the pacer takes it: K.
whole_rate() {
  awk -v r="$1" 'BEGIN { k = int(r); print (k < 1 ? 1 : k) }'
}

# Installs Python helper $1 in $HELPERS, for Postfix to run with $PYTHON (python3, installed where
# missing) as the user ses-relay.
PYTHON=
install_helper() {
  local nologin
  [ -n "$PYTHON" ] || PYTHON=$(python3_bin) || PYTHON=
  if [ -z "$PYTHON" ]; then
    log "installing python3 for the pacer"
    pkg_install python3 || die "could not install python3 (the pacer needs it)"
    PYTHON=/usr/bin/python3
  fi
  if ! id -u ses-relay >/dev/null 2>&1; then
    nologin=$(command -v nologin || echo /bin/false)
    useradd --system --no-create-home --home-dir / --shell "$nologin" ses-relay || die "could not create the ses-relay user"
  fi
  (umask 022 && mkdir -p "$HELPERS")
  chmod 0755 "$HELPERS"
  put_file "$HELPERS/$1" "$(cat "$(dirname "${BASH_SOURCE[0]}")/$1")"
}

# The pacer serves Postfix's SMTP clients on private/ses-pace: with systemd, one pacer for them all
# (ses-relay-pace.socket starts it; PACE_UNITS=1); without, or with SELinux enforcing (whose
# policy knows Postfix's own children), one each, spawned by Postfix. A changed pacer (its rate, its
# program) is marked for start_pacer to restart, until Postfix has reloaded (apply_relay), should
# a run stop before.
PACE_UNITS=
install_pacer() {
  local cmd was=$CHANGED
  CHANGED=0
  install_helper pacer.py
  (umask 022 && mkdir -p "$PACER_DIR")
  chown ses-relay: "$PACER_DIR"
  chmod 0700 "$PACER_DIR"
  cmd="$PYTHON -I -S $HELPERS/pacer.py $1 $PACER_DIR/schedule"
  if has_systemd && [ "$(cat /sys/fs/selinux/enforce 2>/dev/null)" != 1 ]; then
    put_file "$UNIT_DIR/ses-relay-pace.socket" "[Socket]
ListenStream=$(postconf -h queue_directory)/private/ses-pace
SocketUser=$(postconf -h mail_owner)
SocketMode=0600

[Install]
WantedBy=sockets.target"
    put_file "$UNIT_DIR/ses-relay-pace.service" "[Unit]
Requires=ses-relay-pace.socket
StartLimitIntervalSec=0

[Service]
User=ses-relay
ExecStart=$cmd
Restart=always
RestartSec=1
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=$PACER_DIR"
    [ "$CHANGED" = 0 ] || touch "$PACER_DIR/restart"
    PACE_UNITS=1
    drop_service ses-pace unix
  else
    put_service ses-pace unix "ses-pace  unix  -       n       n       -       -       spawn user=ses-relay argv=$cmd"
  fi
  # (A new pacer: Postfix reloaded, its SMTP clients end with their delivery, and the pacer's.)
  CHANGED=$((was | CHANGED))
  want smtp_reply_filter "socketmap:unix:private/ses-pace:reply"
  want smtp_delivery_status_filter "socketmap:unix:private/ses-pace:pace"
}

# Before Postfix takes its configuration: the socket listening (systemd takes the path over from an
# earlier release's spawn service); a changed pacer restarted, the one before taking no more clients
# and ending once those it serves end (with their delivery, Postfix reloaded next: even when nothing
# else changed, after a run that stopped before); new ones wait in the socket's queue meanwhile.
start_pacer() {
  [ -n "$PACE_UNITS" ] || return 0
  # (A failing systemctl says why, and stops the run: set -e.)
  if [ -f "$PACER_DIR/restart" ]; then systemctl daemon-reload; fi
  systemctl enable --quiet --now ses-relay-pace.socket
  if [ -f "$PACER_DIR/restart" ]; then
    systemctl try-restart --no-block ses-relay-pace.service
    CHANGED=1
  fi
}

# Postfix takes its configuration, the pacer started first; a restart stays marked until Postfix
# has reloaded (a run that stops before leaves it to the next).
apply_relay() {
  start_pacer
  apply_postfix
  rm -f "$PACER_DIR/restart"
}

# RATE / RELAY_COUNT to 6 digits: more than 0 for all the options accept (1 / 1000 relays is 0.001).
share_of() {
  awk -v r="$1" -v n="$2" 'BEGIN { printf "%.6g\n", r / n }'
}

# The account's maximum send rate, read from SES; 1 (SES's least) when it cannot be read.
read_quota() {
  local rate
  rate=$(aws sesv2 get-account --region "$SES_REGION" --query SendQuota.MaxSendRate --output text 2>/dev/null || true)
  case $rate in
    '' | None | *[!0-9.]* | .* | 0 | 0.*)
      log "cannot read the SES send quota (ses:GetAccount); keeping to 1 message/s"
      rate=1
      ;;
  esac
  echo "$rate"
}

# Paces delivery to the SES send quota over a few connections, each reused for many messages (TLS
# and AUTH once, kept by tlsproxy); mail SES throttles anyway (454) is retried in seconds.
configure_rate() {
  local rate=$MAX_SEND_RATE conns per share=''
  [ "$rate" != 0 ] || rate=$(read_quota)
  # RELAY_COUNT relays send with the account's rate at once: this one keeps to its share.
  if [ "$RELAY_COUNT" != 1 ]; then
    rate=$(share_of "$rate" "$RELAY_COUNT")
    share=" (its share of a rate for $RELAY_COUNT relays)"
  fi
  install_pacer "$rate"
  # One command at a time, each reply heard before the next command goes out (SES offers no
  # PIPELINING today): the pacer holds each recipient's reply until the window has room for the
  # message's recipients so far, before DATA.
  # (silent-discard: Postfix would log the list at every EHLO, offered or not.)
  want smtp_discard_ehlo_keywords "silent-discard, pipelining"
  read -r conns RATE_NOTE <<<"$(pace_for "$rate")"
  RATE_NOTE+=$share
  # SES counts a message's recipients together, at its DATA command: no more in one transaction
  # than a window holds (the rate in whole recipients, at least 1; SES takes 50 at most).
  per=$(whole_rate "$rate")
  [ "$per" -le 50 ] || per=50
  want smtp_destination_recipient_limit "$per"
  # At one a transaction, Postfix schedules per recipient, not per destination (postconf(5)): the
  # SMTP clients' process limit keeps the connections to their number, at any rate.
  want_field smtp/unix/process_limit "$conns"
  want default_destination_concurrency_limit "$conns"
  # All of them from the first delivery on: Postfix's slow start (5, then one more per round of
  # deliveries) would hold a burst's first second below the rate.
  want initial_destination_concurrency "$conns"
  # 0s: the pacer spaces deliveries (an older release set whole seconds here).
  want smtp_destination_rate_delay 0s
  # postconf(5): the relay host name, without [] or port.
  want smtp_connection_cache_destinations "$SES_HOST"
  want smtp_connection_cache_time_limit 5s
  # scache(8) keeps a connection no longer than this (2 s by default, whatever the client asks).
  want connection_cache_ttl_limit 5s
  want smtp_tls_connection_reuse yes
  # Outside Postfix's chroot (upstream's default; Debian's master.cf chroots it): it verifies SES's
  # certificate from smtp_tls_CApath, whose files it reads when it needs them (postfix.sh).
  put_service tlsproxy unix "tlsproxy  unix  -       -       n       -       0       tlsproxy"
  want queue_run_delay 10s
  want minimal_backoff_time 10s
  want maximal_backoff_time 300s
}

