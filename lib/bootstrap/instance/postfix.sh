# ses-relay instance program, job "postfix": Postfix's configuration for relaying through SES
# (the procedure's settings, hardened: verified TLS, no open relay, the configuration set, logging,
# pacing from pacer.sh), written only where it differs. Run alone (bash postfix.sh) it re-applies the
# settings file and reloads Postfix if anything changed.
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=pacer.sh
. "$(dirname "${BASH_SOURCE[0]}")/pacer.sh"
# shellcheck source=credentials.sh
. "$(dirname "${BASH_SOURCE[0]}")/credentials.sh"
# shellcheck source=install.sh
. "$(dirname "${BASH_SOURCE[0]}")/install.sh"

NEW_MAIN_CF=0

# An empty main.cf where the package left none ("No configuration"): postmap and postconf need one.
ensure_main_cf() {
  if [ ! -f "$PF/main.cf" ]; then
    : >"$PF/main.cf"
    NEW_MAIN_CF=1
  fi
}

configure_postfix() {
  local tls_wrapper=no maps
  sasl_db
  ensure_main_cf
  chmod 0644 "$PF/main.cf"
  [ "$SES_TLS" = wrapper ] && tls_wrapper=yes
  if has_param smtp_tls_wrappermode; then
    want smtp_tls_wrappermode "$tls_wrapper"
  elif [ "$tls_wrapper" = yes ]; then
    die "port $SES_PORT needs Postfix 3.0 or newer (TLS wrapper mode); use port 587"
  fi
  # A main.cf we created ("No configuration" install) gets the current compatibility level.
  if [ "$NEW_MAIN_CF" = 1 ]; then
    case $(postconf -d -h mail_version) in
      2.*) ;;
      3.[0-5].*) want compatibility_level 2 ;;
      *) want compatibility_level 3.6 ;;
    esac
  fi
  want relayhost "[$SES_HOST]:$SES_PORT"
  want smtp_sasl_auth_enable yes
  want smtp_sasl_password_maps "$DB_TYPE:$PF/sasl_passwd"
  # Plaintext mechanisms (SES offers PLAIN and LOGIN) only inside TLS, which "secure" makes mandatory.
  want smtp_sasl_security_options "noanonymous, noplaintext"
  want smtp_sasl_tls_security_options noanonymous
  want smtp_sasl_auth_soft_bounce yes
  # "secure", not the procedure's "encrypt": the certificate must name the endpoint, signed by a CA
  # the distribution trusts, before the credentials are sent.
  want smtp_tls_security_level secure
  want smtp_tls_secure_cert_match nexthop
  # The CAs as a hashed directory where the distribution keeps one (Debian, Ubuntu): OpenSSL reads
  # the one certificate it needs, when it needs it, where each new SMTP client process would parse
  # the whole bundle first (about 140 certificates, 25 ms of CPU with OpenSSL 3), which held back a
  # burst's connections, Postfix starting them one after the other (bench/relay.ts).
  if [ -n "$CA_DIR" ]; then
    want smtp_tls_CApath "$CA_DIR"
    want smtp_tls_CAfile ''
  else
    want smtp_tls_CAfile "$CA_FILE"
    want smtp_tls_CApath ''
  fi
  want smtp_tls_mandatory_protocols '!SSLv2, !SSLv3, !TLSv1, !TLSv1.1'
  want smtp_tls_protocols '!SSLv2, !SSLv3, !TLSv1, !TLSv1.1'
  want smtp_tls_note_starttls_offer yes
  want smtp_tls_loglevel 1
  # Null client or relay hub: nothing is delivered locally; only loopback and RELAY_NETWORKS may relay.
  want mydestination ''
  want relay_domains ''
  want inet_protocols ipv4
  if [ -n "$RELAY_NETWORKS$PEER_NETWORKS" ]; then want inet_interfaces all; else want inet_interfaces loopback-only; fi
  want mynetworks "127.0.0.0/8${RELAY_NETWORKS:+ $RELAY_NETWORKS}"
  configure_peer_port
  want smtpd_relay_restrictions 'permit_mynetworks, reject'
  want smtpd_recipient_restrictions 'permit_mynetworks, reject'
  want disable_vrfy_command yes
  # Back in service when run again: undo only what a drain or a failed health check of ours set.
  [ "$(postconf -h master_service_disable)" != inet ] || want master_service_disable ''
  case $(postconf -h default_transport) in ses-peer:*) want default_transport smtp ;; esac
  want smtpd_helo_required yes
  configure_configuration_set
  # As the procedure says: a fallback relay would bypass SES.
  if grep -Eq '^[[:space:]]+-o[[:space:]]+smtp_fallback_relay=' "$PF/master.cf"; then
    sed -i -E 's/^([[:space:]]+-o[[:space:]]+smtp_fallback_relay=)/#\1/' "$PF/master.cf"
    CHANGED=1
  fi
  configure_logging
  configure_rate
  apply_conf
  maps=$(postconf -h smtp_sasl_password_maps)
  [ "$maps" = "$DB_TYPE:$PF/sasl_passwd" ] || die "main.cf did not take the settings"
}

# A milter (configuration_set.py) leaves one X-SES-CONFIGURATION-SET atop every message queued,
# bounces too: the sender's own, else ours. Content, not a route: main.cf routes at delivery.
CSET_MILTER=unix:private/ses-cset
configure_configuration_set() {
  local p list
  # Earlier releases' header tables: ours to undo.
  [ "$(postconf -h header_checks)" != "regexp:$PF/ses_header_checks" ] || want header_checks ''
  [ "$(postconf -h smtp_header_checks)" != "regexp:$PF/ses_smtp_header_checks" ] || want smtp_header_checks ''
  if [ -n "$CONFIGURATION_SET_NAME" ]; then
    install_helper configuration_set.py
    put_service ses-cset unix "ses-cset  unix  -       n       n       -       -       spawn user=ses-relay argv=$PYTHON -I -S $HELPERS/configuration_set.py $CONFIGURATION_SET_NAME"
    want internal_mail_filter_classes bounce
  fi
  # Ours last in each list of milters, the host's own kept.
  for p in smtpd_milters non_smtpd_milters; do
    list=", $(postconf -h "$p")"
    list=${list%, "$CSET_MILTER"}
    list=${list#, }
    [ -z "$CONFIGURATION_SET_NAME" ] || list=${list:+$list, }$CSET_MILTER
    want "$p" "$list"
  done
}

# The hand-over port: other relays of the group (PEER_NETWORKS, and nobody else) hand their queue to
# this one here when they leave (drain.sh); port 25 keeps relaying for RELAY_NETWORKS only.
configure_peer_port() {
  local line nets
  if [ -z "$PEER_NETWORKS" ]; then
    if grep -q '^2525 .*syslog_name=postfix/peer-in' "$PF/master.cf"; then
      sed -i '/^2525 .*syslog_name=postfix\/peer-in/d' "$PF/master.cf"
      CHANGED=1
    fi
    return 0
  fi
  nets=$(printf '127.0.0.0/8,%s' "${PEER_NETWORKS// /,}")
  line="2525      inet  n       -       n       -       -       smtpd -o syslog_name=postfix/peer-in -o mynetworks=$nets -o smtpd_relay_restrictions=permit_mynetworks,reject -o smtpd_recipient_restrictions=permit_mynetworks,reject"
  put_service 2525 inet "$line"
}

# Without a syslog daemon (Amazon Linux 2023 is journald-only) Postfix 3.4+ writes /var/log/maillog itself.
configure_logging() {
  if command -v rsyslogd >/dev/null 2>&1 || command -v syslog-ng >/dev/null 2>&1; then return 0; fi
  has_param maillog_file || return 0
  # Postfix's own service, added where missing as its master.cf has it (one there is left as it is).
  grep -q '^postlog\s' "$PF/master.cf" || put_service postlog unix-dgram "postlog   unix-dgram n  -       n       -       1       postlogd"
  want maillog_file /var/log/maillog
}


if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  load_settings
  detect_os
  configure_postfix
  apply_relay
  log "Postfix configuration re-applied, $RATE_NOTE"
fi
