# ses-relay instance program, the boot entry: configures Postfix to relay through Amazon SES, in
# the order of AWS's procedure. Each step is a job of this folder, runnable alone; this file only
# calls them in order. Run as root (cloud-init runs user data as root); idempotent: a second run
# changes no file and does not reload Postfix.
# shellcheck source=postfix.sh
. "$(dirname "${BASH_SOURCE[0]}")/postfix.sh"
# shellcheck source=refresh.sh
. "$(dirname "${BASH_SOURCE[0]}")/refresh.sh"

# A boot that fails tells CloudFormation at once, instead of letting it wait for the timeout.
on_failure() {
  if [ -n "${SIGNAL_RESOURCE:-}" ]; then send_signal FAILURE; fi
}

# A relay its group is terminating stays out of service: run again (by hand, by a tool re-applying
# user data) the boot would otherwise listen again and take mail the instance then takes with it.
left_out_of_service() {
  [ -f "$RUN_DIR/draining" ] || return 1
  log "this relay is draining (its group is terminating it): left out of service, nothing changed"
}

main() {
  [ "$(id -u)" = 0 ] || die "must run as root"
  left_out_of_service && return 0
  # One job at a time with the periodic refresh (and the drain it runs).
  mkdir -p "$RUN_DIR"
  exec 9>"$RUN_DIR/refresh.lock"
  if ! flock -w 300 9; then
    left_out_of_service && return 0
    die "another ses-relay job has held $RUN_DIR/refresh.lock for 5 minutes"
  fi
  left_out_of_service && return 0
  load_settings
  detect_os
  install_packages
  ensure_aws_cli || die "the AWS CLI is needed to fetch the credentials"
  fetch_credentials
  ensure_main_cf
  write_credentials
  configure_postfix
  apply_relay
  install_refresh_timer
  if [ -n "$RELAY_NETWORKS" ]; then
    log "Postfix relays through [$SES_HOST]:$SES_PORT for loopback and $RELAY_NETWORKS, $RATE_NOTE"
  else
    log "Postfix relays through [$SES_HOST]:$SES_PORT for this host only, $RATE_NOTE"
  fi
  if [ -n "$SIGNAL_RESOURCE" ]; then signal_ready || die "SES did not accept this relay's credentials; not ready"; fi
}

main "$@"
