# ses-relay instance program, job "health": can this relay deliver? probe.py authenticates to SES
# with the credentials Postfix has (verified TLS, no mail sent). In an Auto Scaling group with the
# drain hook (LIFECYCLE_HOOK), a relay whose AUTH is refused, whose TLS is not verified or which has
# no credentials, FAILS_BEFORE_REPLACE probes in a row, stops accepting mail (so the load balancer's
# check fails and takes it out) and asks its group to replace it; its queue then leaves through
# the drain (drain.sh). It does so only while another relay of the group is in service and
# healthy: a fault every relay shares (the secret's key refused) is not cured by replacing relays,
# so the last one stays and keeps the mail deferred. SES merely unreachable is not this relay's
# fault: the mail waits queued. Also what a relay knows of its group (group_facts, peers) and the
# creation signal of a new relay (signal_ready). Run alone: bash health.sh (one probe).
# shellcheck source=install.sh
. "$(dirname "${BASH_SOURCE[0]}")/install.sh"

# Probes in a row that must fail before a relay takes itself out (rides over a key rotation's
# seconds of IAM propagation and a refresh that is about to bring the new key).
FAILS_BEFORE_REPLACE=3
# How long a new relay keeps trying its first AUTH before it signals failure (a new IAM key takes
# seconds to minutes before SES accepts it).
SES_RELAY_AUTH_WAIT=${SES_RELAY_AUTH_WAIT:-300}
INSTANCE_ID=
REGION=
GROUP=

# probe.py against SES: prints its one line; exit 0 authenticated, 1 refused, 2 unreachable.
probe_ses() {
  "$(python3_bin)" -I "$(dirname "${BASH_SOURCE[0]}")/probe.py" "$SES_HOST" "$SES_PORT" "$SES_TLS" "$CA_FILE" "$PF/sasl_passwd"
}

# Runs a command up to N times, 2, 4, 8... seconds apart, until it succeeds (API throttling).
retry() {
  local n=$1 i=1 delay=2
  shift
  until "$@"; do
    [ "$i" -lt "$n" ] || return 1
    sleep "$delay"
    i=$((i + 1))
    delay=$((delay * 2))
  done
}

# No new connection reaches this Postfix (Postfix 3.5+: its SMTP servers stop listening; a reload
# lets sessions and deliveries under way finish); local submission (sendmail) still works.
stop_accepting() {
  want master_service_disable inet
  apply_conf
  [ "$CHANGED" = 1 ] || return 0
  CHANGED=0
  postfix reload >/dev/null 2>&1 || return 1
  log "stopped accepting mail: the SMTP server no longer listens"
}

# Sets INSTANCE_ID, REGION (the instance's own, for the group's API; SES's may be another) and
# GROUP (empty when the group cannot be told, even after retries).
group_facts() {
  INSTANCE_ID=$(imds instance-id)
  REGION=$(imds placement/region)
  GROUP=$(retry 4 aws autoscaling describe-auto-scaling-instances --instance-ids "$INSTANCE_ID" --region "$REGION" \
    --query 'AutoScalingInstances[0].AutoScalingGroupName' --output text) || GROUP=
  [ "$GROUP" != None ] || GROUP=
  [ -n "$GROUP" ] || log "WARNING: cannot tell which Auto Scaling group this instance is in"
}

# Private addresses of the group's other relays in service and healthy; nothing when there are
# none or the group cannot be asked.
peers() {
  local ids
  [ -n "$GROUP" ] || return 0
  ids=$(retry 3 aws autoscaling describe-auto-scaling-groups --auto-scaling-group-names "$GROUP" --region "$REGION" \
    --query "AutoScalingGroups[0].Instances[?LifecycleState=='InService' && HealthStatus=='Healthy'].InstanceId" \
    --output text) || {
    log "WARNING: cannot list the relays of $GROUP"
    return 0
  }
  # shellcheck disable=SC2086 # one id per word
  ids=$(printf '%s\n' $ids | grep -vx -e "$INSTANCE_ID" -e None | grep . || true)
  [ -n "$ids" ] || return 0
  # shellcheck disable=SC2086 # one argument per instance id
  retry 3 aws ec2 describe-instances --instance-ids $ids --region "$REGION" \
    --query 'Reservations[].Instances[].PrivateIpAddress' --output text | tr '\t' '\n' | grep . || true
}

# Out of service: no longer listening, and marked Unhealthy so that the group replaces the relay.
take_out_of_service() {
  stop_accepting || die "could not stop the SMTP server (postfix reload failed); staying as it is"
  retry 3 aws autoscaling set-instance-health --instance-id "$INSTANCE_ID" --health-status Unhealthy \
    --region "$REGION" >/dev/null || die "could not mark the instance Unhealthy; trying again at the next probe"
  log "UNHEALTHY: out of service and marked Unhealthy for replacement; the queue will be drained: $1"
}

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
        group_facts
        if [ -n "$(peers)" ]; then
          take_out_of_service "$out"
        else
          log "ERROR: cannot deliver, and no other healthy relay could take over: staying in service, mail deferred until this is fixed: $out"
        fi
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
  if ! send_signal "$status"; then
    log "could not signal $status to $SIGNAL_RESOURCE (CloudFormation waits for its timeout): $out"
    return 1
  fi
  log "signalled $status to ${SIGNAL_RESOURCE}: $out"
  [ "$status" = SUCCESS ]
}

send_signal() {
  retry 3 aws cloudformation signal-resource --stack-name "${SIGNAL_RESOURCE%/*}" \
    --logical-resource-id "${SIGNAL_RESOURCE#*/}" --unique-id "$(imds instance-id)" --status "$1" \
    --region "$(imds placement/region)" >/dev/null
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  load_settings
  detect_os
  check_health
fi
