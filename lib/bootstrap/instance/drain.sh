# ses-relay instance program, job "drain": the relay is leaving (its Auto Scaling group terminates
# it: scale-in, instance refresh, AZ rebalancing, a replacement, stack deletion). It stops
# accepting mail and lets the sessions under way end, delivers its queue to SES at the paced rate
# for as long as SES takes it, hands whatever SES does not take (SES down, refused, no progress for
# STALL_SECONDS) to another relay of the group in service, reached directly on its hand-over port
# (a load balancer preserving client addresses cannot route a target back to itself), and only
# then completes the lifecycle action. With no peer taking it, it goes back to SES and looks for
# peers again, until GIVE_UP_AFTER (just inside the hook's own limit); only then does it let the
# instance go, logging, loudly, exactly what is left. Run by refresh.sh when the instance metadata
# says the instance is terminating; alone: bash drain.sh.
# shellcheck source=health.sh
. "$(dirname "${BASH_SOURCE[0]}")/health.sh"

# No delivery for this long while mail is queued: SES is not taking it; hand it over.
STALL_SECONDS=${SES_RELAY_STALL_SECONDS:-60}
# The hook's overall limit is 100 heartbeat timeouts (SesRelayHub: 100 x 10 min): give up a little
# before it, so that what is left is logged rather than cut off.
GIVE_UP_AFTER=${SES_RELAY_GIVE_UP_AFTER:-57600}
# The lifecycle action's heartbeat: well inside the hook's heartbeat timeout (SesRelayHub: 10 min).
HEARTBEAT_SECONDS=120
# Where peers take a leaving relay's queue (postfix.sh: an SMTP server for PEER_NETWORKS only).
PEER_PORT=2525
# How long sessions under way may take to end once the SMTP server stopped listening (smtpd_timeout).
SESSION_WAIT=300

# The messages Postfix holds, in every queue (maildrop and incoming included), counted as files;
# fails when the queue cannot be read, which callers take as "not empty".
queued() {
  local dir
  dir=$(postconf -h queue_directory) || return 1
  find "$dir/maildrop" "$dir/incoming" "$dir/active" "$dir/deferred" "$dir/hold" -type f | wc -l
}

# Waits until no SMTP server process is left: a client in the middle of a session may still get
# its 250, and that message must be counted before the queue is.
wait_sessions() {
  local until=$(($(date +%s) + SESSION_WAIT))
  while grep -qx smtpd /proc/[0-9]*/comm 2>/dev/null && [ "$(date +%s)" -lt "$until" ]; do sleep 1; done
}

# Waits while the queue shrinks; returns 0 once it is empty, 1 when it stalls for STALL_SECONDS or
# `until` passes. Deferred mail is retried every few seconds, and the lifecycle action kept alive.
wait_for_queue() {
  local until=$1 left last=-1 moved beat
  moved=$(date +%s)
  beat=$moved
  while :; do
    left=$(queued) || left=unknown
    [ "$left" != 0 ] || return 0
    if [ "$left" != unknown ] && { [ "$last" = -1 ] || [ "$left" -lt "$last" ]; }; then
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
  retry 3 aws autoscaling record-lifecycle-action-heartbeat --lifecycle-hook-name "$LIFECYCLE_HOOK" \
    --auto-scaling-group-name "$GROUP" --instance-id "$INSTANCE_ID" --region "$REGION" >/dev/null ||
    log "WARNING: could not record a heartbeat; the hook may time out"
}

# Sends every queued message to the peer instead of SES: a transport of ours without our SES
# credentials, header handling or pacing (the peer applies its own), chosen for all mail by
# default_transport, whose next hop outranks relayhost. Deferred mail follows at the next flush.
# soft_bounce: whatever the peer answers, the mail stays queued here rather than bounce.
route_to_peer() {
  put_service ses-peer unix "ses-peer  unix  -       -       n       -       -       smtp -o smtp_sasl_auth_enable=no -o smtp_tls_security_level=may -o smtp_tls_wrappermode=no -o smtp_header_checks= -o smtp_delivery_status_filter= -o smtp_reply_filter= -o soft_bounce=yes"
  want default_transport "ses-peer:[$1]:$PEER_PORT"
  reroute
}

# Back to SES (the transport relayhost names).
route_to_ses() {
  want default_transport smtp
  reroute
}

reroute() {
  apply_conf
  if [ "$CHANGED" = 1 ]; then
    CHANGED=0
    postfix reload >/dev/null 2>&1 || log "WARNING: postfix reload failed; the route may not have changed"
  fi
  postqueue -f >/dev/null 2>&1 || true
}

# What is left, one line per message: the loud record of mail that could not leave.
report_left() {
  postqueue -j 2>/dev/null | "$(python3_bin)" -I "$(dirname "${BASH_SOURCE[0]}")/queue_left.py" >&2
}

drain() {
  local peer handed='' deadline
  # From here on this relay never serves again: boot.sh, run again, leaves it out of service.
  mkdir -p "$RUN_DIR"
  : >"$RUN_DIR/draining"
  group_facts
  stop_accepting || log "WARNING: could not stop the SMTP server (postfix reload failed)"
  wait_sessions
  log "terminating: draining $(queued || echo an unknown number of) queued message(s) to SES"
  deadline=$(($(date +%s) + GIVE_UP_AFTER))
  postqueue -f >/dev/null 2>&1 || true
  until wait_for_queue "$deadline"; do
    [ "$(date +%s)" -lt "$deadline" ] || break
    for peer in $(peers); do
      log "SES is not taking the queue ($(queued || true) left): handing it to peer relay $peer"
      route_to_peer "$peer"
      if wait_for_queue "$deadline"; then
        handed=$peer
        break
      fi
    done
    [ -z "$handed" ] || break
    route_to_ses
    log "WARNING: no peer relay took the queue ($(queued || true) left); trying SES again and looking for peers every ${STALL_SECONDS}s, until $(date -d "@$deadline" '+%F %T')"
  done
  if [ "$(queued || true)" = 0 ]; then
    log "drained: the queue is empty${handed:+ (the rest handed to $handed)}"
  else
    log "ERROR: terminating with $(queued || echo some) message(s) undelivered; they are lost with this instance:"
    report_left
  fi
  [ -n "$GROUP" ] || die "cannot complete the lifecycle action without the group's name; the hook's timeout will"
  retry 4 aws autoscaling complete-lifecycle-action --lifecycle-hook-name "$LIFECYCLE_HOOK" \
    --auto-scaling-group-name "$GROUP" --lifecycle-action-result CONTINUE --instance-id "$INSTANCE_ID" \
    --region "$REGION" >/dev/null || die "could not complete the lifecycle action; the hook's timeout will"
  log "lifecycle action completed: the instance may terminate"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  load_settings
  detect_os
  drain
fi
