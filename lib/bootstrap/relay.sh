# Body of the ses-relay boot script. The generator (render.ts) puts a shebang and the validated
# settings (SES_HOST, SES_PORT, ...) above this text; whole-line comments are stripped on render
# to stay far below EC2's 16 KB user-data limit.
set -euo pipefail
umask 077
export PATH="$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PF=/etc/postfix
PACER=/usr/local/libexec/ses-relay/pacer.py
PACER_DIR=/var/lib/ses-relay
CHANGED=0
RESTART=0
RATE_NOTE=
TMP_FILE=
SMTP_PASS=

log() { printf 'ses-relay: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}
cleanup() {
  SMTP_PASS=
  if [ -n "$TMP_FILE" ]; then rm -f "$TMP_FILE"; fi
}
trap cleanup EXIT

SUPPORTED="Amazon Linux 2023, Amazon Linux 2, RHEL/Rocky/AlmaLinux 8 and 9, Ubuntu 22.04 and 24.04, Debian 11 and 12"

detect_os() {
  [ -r /etc/os-release ] || die "cannot read /etc/os-release; supported: $SUPPORTED"
  local id ver
  # shellcheck disable=SC1091
  id=$(. /etc/os-release && printf '%s' "${ID:-}")
  # shellcheck disable=SC1091
  ver=$(. /etc/os-release && printf '%s' "${VERSION_ID:-}")
  case "$id:$ver" in
    amzn:2023*) PKG=dnf ;;
    amzn:2) PKG=yum ;;
    rhel:8* | rhel:9* | rocky:8* | rocky:9* | almalinux:8* | almalinux:9*) PKG=dnf ;;
    ubuntu:22.04 | ubuntu:24.04 | debian:11 | debian:12) PKG=apt ;;
    *) die "unsupported distribution '$id $ver'; supported: $SUPPORTED" ;;
  esac
  if [ "$PKG" = apt ]; then
    CA_FILE=/etc/ssl/certs/ca-certificates.crt
  else
    CA_FILE=/etc/pki/tls/certs/ca-bundle.crt
  fi
}

# True when a package is installed.
have_pkg() {
  if [ "$PKG" = apt ]; then
    # shellcheck disable=SC2016
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep 'ok installed' >/dev/null
  else
    rpm -q "$1" >/dev/null 2>&1
  fi
}

pkg_install() {
  if [ "$PKG" = apt ]; then
    # "No configuration": the package must not start an Internet-facing Postfix of its own.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    DEBIAN_FRONTEND=noninteractive apt-get -y -q update >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Options::=--force-confold install "$@" >/dev/null
  else
    "$PKG" -y -q install "$@" >/dev/null
  fi
}

install_packages() {
  local p missing=() sasl=cyrus-sasl-plain
  [ "$PKG" = apt ] && sasl=libsasl2-modules
  for p in sendmail sendmail-bin; do
    if have_pkg "$p"; then
      log "removing $p"
      if [ "$PKG" = apt ]; then
        DEBIAN_FRONTEND=noninteractive apt-get -y -q purge "$p" >/dev/null
      else
        "$PKG" -y -q remove "$p" >/dev/null
      fi
    fi
  done
  for p in postfix "$sasl" ca-certificates; do
    have_pkg "$p" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    pkg_install "${missing[@]}" || die "could not install ${missing[*]}"
  fi
}

ensure_aws_cli() {
  command -v aws >/dev/null 2>&1 && return 0
  log "installing the AWS CLI"
  pkg_install awscli 2>/dev/null || true
  command -v aws >/dev/null 2>&1 && return 0
  # Not packaged here (Ubuntu 24.04, RHEL): AWS's own bundle.
  local d
  d=$(mktemp -d)
  pkg_install unzip curl 2>/dev/null || true
  if curl -fsSL "https://awscli.amazonaws.com/awscli-exe-linux-$(uname -m).zip" -o "$d/awscli.zip" &&
    unzip -q "$d/awscli.zip" -d "$d"; then
    "$d/aws/install" --update >/dev/null || true
  fi
  rm -rf "$d"
  command -v aws >/dev/null 2>&1 || die "the AWS CLI is needed to fetch the credentials and could not be installed"
}

# Reads the credentials with the instance role. Transient failures (role credentials not yet
# delivered, network not up) are retried until SES_RELAY_CREDENTIALS_WAIT seconds have passed;
# a refusal (access denied, no such secret) fails at once. Either way: no relay without them.
fetch_credentials() {
  local out deadline delay=2 re_user re_pass
  deadline=$(($(date +%s) + ${SES_RELAY_CREDENTIALS_WAIT:-300}))
  while :; do
    if out=$(aws secretsmanager get-secret-value --secret-id "$SECRET_ID" --region "$SECRET_REGION" \
      --query SecretString --output text 2>&1); then
      break
    fi
    out=${out##*$'\n'}
    case $out in
      *AccessDenied* | *ResourceNotFound* | *InvalidParameter* | *InvalidRequest* | *ValidationException* | *DecryptionFailure*)
        die "Secrets Manager refused to return $SECRET_ID: ${out:0:300}"
        ;;
    esac
    [ "$(date +%s)" -lt "$deadline" ] || die "could not fetch $SECRET_ID from Secrets Manager in time: ${out:0:300}"
    log "credentials not available yet (${out:0:200}); retrying in ${delay}s"
    sleep "$delay"
    [ "$delay" -ge 30 ] || delay=$((delay * 2))
  done
  re_user='"username"[[:space:]]*:[[:space:]]*"([A-Z0-9]{16,128})"'
  re_pass='"password"[[:space:]]*:[[:space:]]*"([A-Za-z0-9+/=\\]{20,256})"'
  [[ $out =~ $re_user ]] || die "secret $SECRET_ID has no valid \"username\" (the SMTP user name, an access key id)"
  SMTP_USER=${BASH_REMATCH[1]}
  [[ $out =~ $re_pass ]] || die "secret $SECRET_ID has no valid \"password\" (the SES SMTP password)"
  SMTP_PASS=${BASH_REMATCH[1]//\\/}
  out=
}

# Writes sasl_passwd whole or not at all: a 0600 temporary file in the same directory, then rename.
write_credentials() {
  TMP_FILE=$(mktemp "$PF/.sasl_passwd.XXXXXX")
  chmod 0600 "$TMP_FILE"
  printf '[%s]:%s %s:%s\n' "$SES_HOST" "$SES_PORT" "$SMTP_USER" "$SMTP_PASS" >"$TMP_FILE"
  SMTP_PASS=
  if [ -f "$PF/sasl_passwd" ] && [ -f "$PF/sasl_passwd$DB_SUFFIX" ] && cmp -s "$TMP_FILE" "$PF/sasl_passwd"; then
    rm -f "$TMP_FILE"
  else
    mv -f "$TMP_FILE" "$PF/sasl_passwd"
    postmap "$DB_TYPE:$PF/sasl_passwd"
    CHANGED=1
  fi
  TMP_FILE=
  chown root:root "$PF/sasl_passwd" "$PF/sasl_passwd$DB_SUFFIX"
  chmod 0600 "$PF/sasl_passwd" "$PF/sasl_passwd$DB_SUFFIX"
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
  while IFS= read -r line; do
    if [[ $line == *" = "* ]]; then current[${line%% = *}]=${line#* = }; else current[${line% =}]=; fi
  done < <(postconf "${WANT_NAMES[@]}")
  for i in "${!WANT_NAMES[@]}"; do
    [ "${current[${WANT_NAMES[i]}]-}" = "${WANT_VALUES[i]}" ] && continue
    changes+=("${WANT_NAMES[i]} = ${WANT_VALUES[i]}")
    case ${WANT_NAMES[i]} in inet_interfaces | inet_protocols) RESTART=1 ;; esac
  done
  if [ "${#changes[@]}" -gt 0 ]; then
    postconf -e "${changes[@]}"
    CHANGED=1
  fi
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

# Adds a master.cf service line unless the service exists (plain text: Postfix 2.10 has no postconf -M).
ensure_service() {
  grep -Eq "^$1[[:space:]]+$2[[:space:]]" "$PF/master.cf" && return 0
  printf '%s\n' "$3" >>"$PF/master.cf"
  CHANGED=1
}

# Makes a service of ours exactly this line, replacing an older one of the same name and type.
put_service() {
  grep -Fxq "$3" "$PF/master.cf" && return 0
  sed -i -E "/^$1[[:space:]]+$2[[:space:]]/d" "$PF/master.cf"
  printf '%s\n' "$3" >>"$PF/master.cf"
  CHANGED=1
}

configure_postfix() {
  local tls_wrapper=no maps
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
  want smtp_tls_CAfile "$CA_FILE"
  want smtp_tls_mandatory_protocols '!SSLv2, !SSLv3, !TLSv1, !TLSv1.1'
  want smtp_tls_protocols '!SSLv2, !SSLv3, !TLSv1, !TLSv1.1'
  want smtp_tls_note_starttls_offer yes
  want smtp_tls_loglevel 1
  # Null client or relay hub: nothing is delivered locally; only loopback and RELAY_NETWORKS may relay.
  want mydestination ''
  want relay_domains ''
  want inet_protocols ipv4
  if [ -n "$RELAY_NETWORKS" ]; then
    want inet_interfaces all
    want mynetworks "127.0.0.0/8 $RELAY_NETWORKS"
  else
    want inet_interfaces loopback-only
    want mynetworks 127.0.0.0/8
  fi
  want smtpd_relay_restrictions 'permit_mynetworks, reject'
  want smtpd_recipient_restrictions 'permit_mynetworks, reject'
  want disable_vrfy_command yes
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

# SES reads X-SES-CONFIGURATION-SET. Messages that carry their own keep it: cleanup routes them
# to the ses-keep transport, which adds nothing; every other message gets ours at delivery.
configure_configuration_set() {
  if [ -z "$CONFIGURATION_SET" ]; then
    # Undo only our own tables: header checks the host already had stay as they are.
    [ "$(postconf -h header_checks)" != "regexp:$PF/ses_header_checks" ] || want header_checks ''
    [ "$(postconf -h smtp_header_checks)" != "regexp:$PF/ses_smtp_header_checks" ] || want smtp_header_checks ''
    return 0
  fi
  put_file "$PF/ses_header_checks" "/^X-SES-CONFIGURATION-SET:/ FILTER ses-keep:[$SES_HOST]:$SES_PORT"
  put_file "$PF/ses_smtp_header_checks" "/^Message-ID:/ PREPEND X-SES-CONFIGURATION-SET: $CONFIGURATION_SET"
  ensure_service ses-keep unix "ses-keep  unix  -       -       n       -       -       smtp -o smtp_header_checks="
  want header_checks "regexp:$PF/ses_header_checks"
  want smtp_header_checks "regexp:$PF/ses_smtp_header_checks"
  # A Message-ID on every message, so that the PREPEND above has exactly one header to fire on.
  want always_add_missing_headers yes
}

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
  put_file "$PACER" "$PACER_PY"
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

# Without a syslog daemon (Amazon Linux 2023 is journald-only) Postfix 3.4+ writes /var/log/maillog itself.
configure_logging() {
  if command -v rsyslogd >/dev/null 2>&1 || command -v syslog-ng >/dev/null 2>&1; then return 0; fi
  has_param maillog_file || return 0
  ensure_service postlog unix-dgram "postlog   unix-dgram n  -       n       -       1       postlogd"
  want maillog_file /var/log/maillog
}

start_postfix() {
  postfix check || die "postfix check failed"
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl enable postfix >/dev/null 2>&1 || true
    if ! systemctl is-active --quiet postfix; then
      systemctl start postfix
    elif [ "$RESTART" = 1 ]; then
      systemctl restart postfix
    elif [ "$CHANGED" = 1 ]; then
      systemctl reload postfix
    fi
  else
    # No systemd (a container): do what Debian's unit does before start, then Postfix's own commands.
    if [ -x /usr/lib/postfix/configure-instance.sh ]; then /usr/lib/postfix/configure-instance.sh - >/dev/null; fi
    if ! postfix status >/dev/null 2>&1; then
      postfix start
    elif [ "$RESTART" = 1 ]; then
      postfix stop && postfix start
    elif [ "$CHANGED" = 1 ]; then
      postfix reload
    fi
  fi
  postfix status >/dev/null 2>&1 || die "Postfix is not running"
}

main() {
  [ "$(id -u)" = 0 ] || die "must run as root"
  detect_os
  install_packages
  ensure_aws_cli
  fetch_credentials
  NEW_MAIN_CF=0
  if [ ! -f "$PF/main.cf" ]; then
    : >"$PF/main.cf"
    NEW_MAIN_CF=1
  fi
  DB_TYPE=$(postconf -d -h default_database_type 2>/dev/null || echo hash)
  case $DB_TYPE in
    lmdb) DB_SUFFIX=.lmdb ;;
    cdb) DB_SUFFIX=.cdb ;;
    *) DB_SUFFIX=.db ;;
  esac
  write_credentials
  configure_postfix
  start_postfix
  if [ -n "$RELAY_NETWORKS" ]; then
    log "Postfix relays through [$SES_HOST]:$SES_PORT for loopback and $RELAY_NETWORKS, $RATE_NOTE"
  else
    log "Postfix relays through [$SES_HOST]:$SES_PORT for this host only, $RATE_NOTE"
  fi
}

main "$@"
