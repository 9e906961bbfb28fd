# ses-relay instance program, job "health": can this relay deliver? probe.py authenticates to SES
# with the credentials Postfix has (verified TLS, no mail sent). In an Auto Scaling group with the
# drain hook (LIFECYCLE_HOOK), a relay whose AUTH is refused, whose TLS is not verified or which has
# no credentials, FAILS_BEFORE_REPLACE probes in a row, stops accepting mail (so the load balancer's
# check fails and takes it out) and asks its group to replace it; its queue then leaves through
# the drain (drain.sh). SES merely unreachable is not this relay's fault: the mail waits queued.
# Also the creation signal of a new relay (signal_ready). Run alone: bash health.sh (one probe).
# shellcheck source=install.sh
. "$(dirname "${BASH_SOURCE[0]}")/install.sh"

# Probes in a row that must fail before a relay takes itself out (rides over a key rotation's
# seconds of IAM propagation and a refresh that is about to bring the new key).
FAILS_BEFORE_REPLACE=3
# How long a new relay keeps trying its first AUTH before it signals failure (a new IAM key takes
# seconds to minutes before SES accepts it).
SES_RELAY_AUTH_WAIT=${SES_RELAY_AUTH_WAIT:-300}
RUN_DIR=/run/ses-relay

# probe.py against SES: prints its one line; exit 0 authenticated, 1 refused, 2 unreachable.
probe_ses() {
  "$(python3_bin)" -I "$(dirname "${BASH_SOURCE[0]}")/probe.py" "$SES_HOST" "$SES_PORT" "$SES_TLS" "$CA_FILE" "$PF/sasl_passwd"
}

# No new connection reaches this Postfix (Postfix 3.5+: its SMTP server stops listening; a reload
# lets deliveries under way finish); local submission (sendmail) still works.
stop_accepting() {
  want master_service_disable inet
  apply_conf
  if [ "$CHANGED" = 1 ]; then
    postfix reload >/dev/null 2>&1 || true
    CHANGED=0
    log "stopped accepting mail: the SMTP server no longer listens"
  fi
}

# The group's API region: the instance's own region (SES's may be another).
instance_region() { imds placement/region; }

# One probe, remembered: FAILS_BEFORE_REPLACE refusals in a row take the relay out of service.
check_health() {
  local out rc=0 fails=0
  out=$(probe_ses 2>&1) || rc=$?
  mkdir -p "$RUN_DIR"
  [ ! -f "$RUN_DIR/failures" ] || fails=$(cat "$RUN_DIR/failures")
  case $rc in
    0)
      [ "$fails" = 0 ] || log "healthy again: $out"
      echo 0 >"$RUN_DIR/failures"
      ;;
    2) log "SES not reachable now, mail waits in the queue: $out" ;;
    *)
      fails=$((fails + 1))
      echo "$fails" >"$RUN_DIR/failures"
      log "cannot deliver ($fails of $FAILS_BEFORE_REPLACE): $out"
      if [ "$fails" -ge "$FAILS_BEFORE_REPLACE" ] && [ -n "$LIFECYCLE_HOOK" ]; then
        stop_accepting
        aws autoscaling set-instance-health --instance-id "$(imds instance-id)" --health-status Unhealthy \
          --region "$(instance_region)" >/dev/null
        log "UNHEALTHY: out of service and marked Unhealthy for replacement; the queue will be drained: $out"
      fi
      ;;
  esac
  return "$rc"
}

# Tells CloudFormation whether this new relay is ready: SUCCESS once an AUTH succeeded (retried
# for up to SES_RELAY_AUTH_WAIT seconds while a new key propagates), FAILURE otherwise.
signal_ready() {
  local out rc deadline status=FAILURE
  [ -n "$SIGNAL_RESOURCE" ] || return 0
  deadline=$(($(date +%s) + SES_RELAY_AUTH_WAIT))
  while :; do
    rc=0
    out=$(probe_ses 2>&1) || rc=$?
    if [ "$rc" = 0 ]; then
      status=SUCCESS
      break
    fi
    [ "$(date +%s)" -lt "$deadline" ] || break
    log "not ready yet: $out; probing again in 10s"
    sleep 10
  done
  send_signal "$status"
  log "signalled $status to ${SIGNAL_RESOURCE}: $out"
  [ "$status" = SUCCESS ]
}

send_signal() {
  aws cloudformation signal-resource --stack-name "${SIGNAL_RESOURCE%/*}" \
    --logical-resource-id "${SIGNAL_RESOURCE#*/}" --unique-id "$(imds instance-id)" --status "$1" \
    --region "$(instance_region)" >/dev/null
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  load_settings
  detect_os
  check_health
fi
