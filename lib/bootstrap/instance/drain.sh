# ses-relay instance program, job "drain": the relay is leaving (its Auto Scaling group terminates
# it: scale-in, instance refresh, AZ rebalancing, a replacement). It stops accepting mail, delivers
# its queue to SES at the paced rate for as long as SES takes it, hands whatever SES does not take
# (SES down, refused, no progress for STALL_SECONDS) to a surviving relay of the group, reached
# directly (a load balancer preserving client addresses cannot route a target back to itself), and
# only then completes the lifecycle action. With no peer left, it waits for SES up to
# NO_PEER_WAIT and logs, loudly, exactly what is left. Mail answered 250 is never dropped here.
# Run by refresh.sh when the instance metadata says the instance is terminating; alone: bash drain.sh.
# shellcheck source=health.sh
. "$(dirname "${BASH_SOURCE[0]}")/health.sh"

# No delivery for this long while mail is queued: SES is not taking it; hand it over.
STALL_SECONDS=${SES_RELAY_STALL_SECONDS:-60}
# With no peer: how long to keep trying SES (the hook's own timeout ends it anyway).
NO_PEER_WAIT=${SES_RELAY_NO_PEER_WAIT:-1800}
# The lifecycle action's heartbeat: well inside the hook's heartbeat timeout (SesRelayHub: 10 min).
HEARTBEAT_SECONDS=120
# Peers listen where this relay does.
PEER_PORT=25

queued() { postqueue -j 2>/dev/null | grep -c '"queue_id"' || true; }

# Waits while the queue shrinks; returns 0 once it is empty, 1 when it stalls for STALL_SECONDS or
# `until` passes. Deferred mail is retried every few seconds, and the lifecycle action kept alive.
wait_for_queue() {
  local until=$1 left last moved beat
  last=$(queued)
  moved=$(date +%s)
  beat=$moved
  while :; do
    left=$(queued)
    [ "$left" != 0 ] || return 0
    if [ "$left" -lt "$last" ]; then
      last=$left
      moved=$(date +%s)
    fi
    [ "$(date +%s)" -lt "$until" ] || return 1
    [ $(($(date +%s) - moved)) -lt "$STALL_SECONDS" ] || return 1
    if [ $(($(date +%s) - beat)) -ge "$HEARTBEAT_SECONDS" ]; then
      heartbeat
      beat=$(date +%s)
    fi
    postqueue -f >/dev/null 2>&1 || true
    sleep 5
  done
}

heartbeat() {
  [ -n "$GROUP" ] || return 0
  aws autoscaling record-lifecycle-action-heartbeat --lifecycle-hook-name "$LIFECYCLE_HOOK" \
    --auto-scaling-group-name "$GROUP" --instance-id "$INSTANCE_ID" --region "$REGION" >/dev/null || true
}

# Private addresses of the group's other relays in service.
peers() {
  local ids
  [ -n "$GROUP" ] || return 0
  ids=$(aws autoscaling describe-auto-scaling-groups --auto-scaling-group-names "$GROUP" --region "$REGION" \
    --query "AutoScalingGroups[0].Instances[?LifecycleState=='InService' && HealthStatus=='Healthy'].InstanceId" \
    --output text | tr '\t' '\n' | grep -vx "$INSTANCE_ID" | grep . || true)
  [ -n "$ids" ] || return 0
  # shellcheck disable=SC2086 # one argument per instance id
  aws ec2 describe-instances --instance-ids $ids --region "$REGION" \
    --query 'Reservations[].Instances[].PrivateIpAddress' --output text | tr '\t' '\n' | grep . || true
}

# Sends every queued message to the peer instead of SES: a transport of ours without our SES
# credentials, header checks or pacing (the peer applies its own), chosen for all mail by
# default_transport, whose next hop outranks relayhost. Deferred mail follows at the next flush.
# soft_bounce: whatever the peer answers, the mail stays queued here rather than bounce.
route_to_peer() {
  put_service ses-peer unix "ses-peer  unix  -       -       n       -       -       smtp -o smtp_sasl_auth_enable=no -o smtp_tls_security_level=may -o smtp_tls_wrappermode=no -o smtp_header_checks= -o smtp_delivery_status_filter= -o soft_bounce=yes"
  want default_transport "ses-peer:[$1]:$PEER_PORT"
  apply_conf
  postfix reload >/dev/null 2>&1 || true
  CHANGED=0
  postqueue -f >/dev/null 2>&1 || true
}

# What is left, one line per message: the loud record of mail that could not leave.
report_left() {
  postqueue -j 2>/dev/null | "$(python3_bin)" -I "$(dirname "${BASH_SOURCE[0]}")/queue_left.py" >&2
}

drain() {
  local peer handed=''
  INSTANCE_ID=$(imds instance-id)
  REGION=$(instance_region)
  # Unknown (the API not answering): the queue still goes to SES; the hook's timeout ends the wait.
  GROUP=$(aws autoscaling describe-auto-scaling-instances --instance-ids "$INSTANCE_ID" --region "$REGION" \
    --query 'AutoScalingInstances[0].AutoScalingGroupName' --output text) || GROUP=
  [ "$GROUP" != None ] || GROUP=
  [ -n "$GROUP" ] || log "WARNING: cannot tell which group this instance is in: no peer, no heartbeat"
  stop_accepting
  log "terminating: draining $(queued) queued message(s) to SES"
  postqueue -f >/dev/null 2>&1 || true
  if ! wait_for_queue $(($(date +%s) + 86400)); then
    for peer in $(peers); do
      log "SES is not taking the queue ($(queued) left): handing it to peer relay $peer"
      route_to_peer "$peer"
      if wait_for_queue $(($(date +%s) + 86400)); then
        handed=$peer
        break
      fi
    done
    if [ -z "$handed" ] && [ "$(queued)" != 0 ]; then
      log "WARNING: no peer relay took the queue; waiting up to ${NO_PEER_WAIT}s for SES"
      want default_transport smtp
      apply_conf
      postfix reload >/dev/null 2>&1 || true
      STALL_SECONDS=$NO_PEER_WAIT wait_for_queue $(($(date +%s) + NO_PEER_WAIT)) || true
    fi
  fi
  if [ "$(queued)" != 0 ]; then
    log "ERROR: terminating with $(queued) message(s) undelivered; they are lost with this instance:"
    report_left
  else
    log "drained: the queue is empty${handed:+ (the rest handed to $handed)}"
  fi
  [ -n "$GROUP" ] || die "cannot complete the lifecycle action without the group's name; the hook's timeout will"
  aws autoscaling complete-lifecycle-action --lifecycle-hook-name "$LIFECYCLE_HOOK" \
    --auto-scaling-group-name "$GROUP" --lifecycle-action-result CONTINUE --instance-id "$INSTANCE_ID" \
    --region "$REGION" >/dev/null
  log "lifecycle action completed: the instance may terminate"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  load_settings
  detect_os
  drain
fi
