# ses-relay instance program, job "pacer": keeps deliveries to SES within the send rate (the
# account's quota, or its share of it when several relays send at once). Installs pacer.py as a
# socketmap service of Postfix and sets the connections to SES. Sourced by postfix.sh.
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PACER=/usr/local/libexec/ses-relay/pacer.py
PACER_DIR=/var/lib/ses-relay
RATE_NOTE=
# Recipients per second one reused connection to SES carries at the least (bench/relay.ts measured
# 15 at a 20 ms round trip; SES answering slowly carries fewer): ceil(rate / this) connections are
# allowed, at most MAX_CONNECTIONS (Postfix runs at most 100 processes a service), and the pacer,
# not the number of connections, keeps them to the rate.
PER_CONNECTION=5
MAX_CONNECTIONS=50

# The connections and the delay between deliveries that keep to RATE recipients/s, and what that
# means: "CONNECTIONS DELAY NOTE". PACED=1 when the pacer gives each delivery its turn: then enough
# connections to reach the rate even when SES answers slowly (PER_CONNECTION recipients/s each),
# at most MAX_CONNECTIONS. Without it (Postfix 2.x) only a delay of whole seconds paces anything.
pace_for() {
  local whole=${1%.*} conns
  if [ "$2" = 1 ]; then
    conns=$(((whole + PER_CONNECTION - 1) / PER_CONNECTION))
    [ "$conns" -ge 1 ] || conns=1
    [ "$conns" -le "$MAX_CONNECTIONS" ] || conns=$MAX_CONNECTIONS
    echo "$conns 0s at most $1 recipients/s, each delivery paced, over up to $conns connection(s)"
  elif [ "$whole" -lt 2 ]; then
    echo "1 1s at most $1 messages/s over one connection, a second apart"
  else
    echo "1 0s one unpaced connection for a quota of $1 messages/s (Postfix before 3.0 cannot pace deliveries)"
  fi
}

# Installs the pacer (see pacer.py): Postfix runs it as the unprivileged ses-relay user on a private
# socket, and it keeps its schedule in $PACER_DIR.
install_pacer() {
  local rate=$1 py='' p nologin
  for p in /usr/bin/python3 /usr/libexec/platform-python; do
    if [ -x "$p" ]; then
      py=$p
      break
    fi
  done
  if [ -z "$py" ]; then
    log "installing python3 for the pacer"
    pkg_install python3 || die "could not install python3 (the pacer needs it)"
    py=/usr/bin/python3
  fi
  if ! id -u ses-relay >/dev/null 2>&1; then
    nologin=$(command -v nologin || echo /bin/false)
    useradd --system --no-create-home --home-dir / --shell "$nologin" ses-relay || die "could not create the ses-relay user"
  fi
  (umask 022 && mkdir -p "$PACER_DIR" "${PACER%/*}")
  chmod 0755 "${PACER%/*}"
  chown ses-relay: "$PACER_DIR"
  chmod 0700 "$PACER_DIR"
  put_file "$PACER" "$(cat "$(dirname "${BASH_SOURCE[0]}")/pacer.py")"
  put_service ses-pace unix "ses-pace  unix  -       n       n       -       -       spawn user=ses-relay argv=$py -I -S $PACER $rate $PACER_DIR/schedule"
  want smtp_delivery_status_filter "socketmap:unix:private/ses-pace:pace"
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

# Paces delivery to the SES send quota without hammering it: every delivery waits for its turn
# (the pacer), over a few connections, each reused for many messages (TLS and AUTH once, kept by
# tlsproxy) instead of up to 20 fresh ones per burst; mail SES throttles anyway (454) is retried
# in seconds, backing off.
configure_rate() {
  local rate=$MAX_SEND_RATE conns delay paced=0 share=''
  [ "$rate" != 0 ] || rate=$(read_quota)
  # RELAYS relays send with the account's rate at once: this one keeps to its share.
  if [ "$RELAYS" != 1 ]; then
    rate=$(awk -v r="$rate" -v n="$RELAYS" 'BEGIN { printf "%.2f", r / n }')
    share=" (its share of a rate for $RELAYS relays)"
  fi
  if has_param smtp_delivery_status_filter; then
    install_pacer "$rate"
    paced=1
  fi
  read -r conns delay RATE_NOTE <<<"$(pace_for "$rate" "$paced")"
  RATE_NOTE+=$share
  want default_destination_concurrency_limit "$conns"
  want smtp_destination_rate_delay "$delay"
  # postconf(5): the relay host name, without [] or port.
  want smtp_connection_cache_destinations "$SES_HOST"
  want smtp_connection_cache_time_limit 5s
  if has_param smtp_tls_connection_reuse; then
    want smtp_tls_connection_reuse yes
    if grep -Eq '^#tlsproxy[[:space:]]' "$PF/master.cf"; then
      sed -i -E 's/^#(tlsproxy[[:space:]])/\1/' "$PF/master.cf"
      CHANGED=1
    else
      ensure_service tlsproxy unix "tlsproxy  unix  -       -       n       -       0       tlsproxy"
    fi
  fi
  want queue_run_delay 10s
  want minimal_backoff_time 10s
  want maximal_backoff_time 300s
}

