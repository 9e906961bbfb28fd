"""ses-relay SMTP probe: can this relay authenticate to SES with the credentials Postfix has?

Connects to the SES SMTP endpoint, verifies its certificate against the system's CA bundle and the
host name (TLS 1.2 or newer; STARTTLS, or TLS from the start on the wrapper ports), and
authenticates with the first line of Postfix's sasl_passwd ("[host]:port user:password"), read
here as root, never passed on a command line. It sends no mail: it quits after AUTH.
Prints one line without the password. Exit codes: 0 authenticated; 1 refused (AUTH refused, the
certificate not verified, no usable credentials): this relay cannot deliver; 2 SES not reachable
now (connection refused or timed out, a temporary reply): the mail waits in the queue.
Usage: probe.py HOST PORT starttls|wrapper CA_FILE SASL_PASSWD (Python 3.6+, standard library).
"""

import contextlib
import smtplib
import socket
import ssl
import sys

# Python 3.6 (RHEL 8's platform-python) has neither ssl.TLSVersion nor SSLCertVerificationError.
CERT_ERROR = getattr(ssl, "SSLCertVerificationError", ssl.CertificateError)


def credentials(path):
    with open(path, encoding="utf-8") as f:
        line = f.readline().strip()
    _, _, pair = line.partition(" ")
    user, sep, password = pair.partition(":")
    if not (user and sep and password):
        raise ValueError("no credentials in " + path)
    return user, password


def probe(host, port, mode, ca_file, sasl_passwd):
    try:
        user, password = credentials(sasl_passwd)
    except (OSError, ValueError) as err:
        return 1, f"no usable credentials: {err}"
    context = ssl.create_default_context(cafile=ca_file)
    if hasattr(ssl, "TLSVersion"):
        context.minimum_version = ssl.TLSVersion.TLSv1_2
    else:
        context.options |= ssl.OP_NO_TLSv1 | ssl.OP_NO_TLSv1_1
    try:
        if mode == "wrapper":
            smtp = smtplib.SMTP_SSL(host, port, timeout=20, context=context)
        else:
            smtp = smtplib.SMTP(host, port, timeout=20)
            smtp.starttls(context=context)
        try:
            smtp.ehlo()
            smtp.login(user, password)
        finally:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                smtp.quit()
    except CERT_ERROR as err:
        return 1, f"TLS: the certificate of {host} was not verified: {getattr(err, 'verify_message', err)}"
    except smtplib.SMTPAuthenticationError as err:
        return 1, f"AUTH refused as {user}: {err.smtp_code} {err.smtp_error.decode(errors='replace')}"
    except smtplib.SMTPResponseException as err:
        if 400 <= err.smtp_code < 500:
            return 2, f"temporary reply {err.smtp_code}"
        return 1, f"refused: {err.smtp_code} {err.smtp_error.decode(errors='replace')}"
    except (OSError, socket.timeout, smtplib.SMTPException) as err:
        return 2, f"{host}:{port} not reachable: {err}"
    return 0, f"authenticated as {user} over verified TLS"


def main(argv):
    if len(argv) != 6 or argv[3] not in ("starttls", "wrapper") or not argv[2].isdigit():
        sys.stderr.write("usage: probe.py HOST PORT starttls|wrapper CA_FILE SASL_PASSWD\n")
        return 64
    code, message = probe(argv[1], int(argv[2]), argv[3], argv[4], argv[5])
    print(message)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
