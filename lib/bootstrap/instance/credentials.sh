# ses-relay instance program, job "credentials": reads the SMTP credentials from Secrets Manager with
# the instance role and writes Postfix's sasl_passwd (0600 from the moment it exists, replaced whole
# by rename, postmap'd). Run alone (bash credentials.sh) it refreshes them: Postfix is reloaded only
# when they changed. The password goes through shell built-ins only: never a command line, the
# environment, output or a log.
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SMTP_USER=
SMTP_PASS=

# Sets DB_TYPE and DB_SUFFIX: Postfix's default lookup table type (hash, lmdb or cdb).
sasl_db() {
  DB_TYPE=$(postconf -d -h default_database_type 2>/dev/null || echo hash)
  case $DB_TYPE in
    lmdb) DB_SUFFIX=.lmdb ;;
    cdb) DB_SUFFIX=.cdb ;;
    *) DB_SUFFIX=.db ;;
  esac
}

# Reads the credentials with the instance role into SMTP_USER and SMTP_PASS. Transient failures
# (role credentials not yet delivered, network not up) and a secret that does not hold credentials
# yet (the generated placeholder of a secret the custom resource has not written, a half-written
# value) are retried until SES_RELAY_CREDENTIALS_WAIT seconds have passed; a refusal (access
# denied, no such secret) fails at once. Either way: no relay without them.
fetch_credentials() {
  local out deadline delay=2 re_user re_pass why
  deadline=$(($(date +%s) + ${SES_RELAY_CREDENTIALS_WAIT:-300}))
  re_user='"username"[[:space:]]*:[[:space:]]*"([A-Z0-9]{16,128})"'
  re_pass='"password"[[:space:]]*:[[:space:]]*"([A-Za-z0-9+/=\\]{20,256})"'
  while :; do
    if out=$(aws secretsmanager get-secret-value --secret-id "$SECRET_ID" --region "$SECRET_REGION" \
      --query SecretString --output text 2>&1); then
      if [[ $out =~ $re_user ]]; then
        SMTP_USER=${BASH_REMATCH[1]}
        if [[ $out =~ $re_pass ]]; then
          SMTP_PASS=${BASH_REMATCH[1]//\\/}
          out=
          return 0
        fi
        why="secret $SECRET_ID has no valid \"password\" (the SES SMTP password) yet"
      else
        why="secret $SECRET_ID has no valid \"username\" (the SMTP user name, an access key id) yet"
      fi
      out=
    else
      out=${out##*$'\n'}
      case $out in
        *AccessDenied* | *ResourceNotFound* | *InvalidParameter* | *InvalidRequest* | *ValidationException* | *DecryptionFailure*)
          die "Secrets Manager refused to return $SECRET_ID: ${out:0:300}"
          ;;
      esac
      why="credentials not available yet (${out:0:200})"
    fi
    [ "$(date +%s)" -lt "$deadline" ] || die "could not fetch valid credentials from $SECRET_ID in time: $why"
    log "$why; retrying in ${delay}s"
    sleep "$delay"
    [ "$delay" -ge 30 ] || delay=$((delay * 2))
  done
}

# Writes sasl_passwd whole or not at all: a 0600 temporary file in the same directory, then rename.
# CHANGED=1 when the credentials differ from those Postfix has.
write_credentials() {
  sasl_db
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

# The access key id Postfix authenticates with now (not a secret), or nothing.
current_user() {
  [ -r "$PF/sasl_passwd" ] || return 0
  local line
  line=$(head -n 1 "$PF/sasl_passwd")
  line=${line#* }
  printf '%s' "${line%%:*}"
}

# Refresh: the secret's current credentials into Postfix, reloaded only when they changed. Mail in
# flight keeps its connection; the next deliveries authenticate with the new key, and mail that
# meets a refused AUTH meanwhile is deferred (smtp_sasl_auth_soft_bounce), never bounced.
refresh_credentials() {
  local before
  before=$(current_user)
  fetch_credentials
  write_credentials
  if [ "$CHANGED" = 1 ]; then
    apply_postfix
    log "credentials refreshed: Postfix now authenticates as $SMTP_USER (was ${before:-none})"
  fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  load_settings
  SES_RELAY_CREDENTIALS_WAIT=${SES_RELAY_CREDENTIALS_WAIT:-60}
  refresh_credentials
fi
