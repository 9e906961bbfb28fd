// Throwaway test CAs and certificates, made with openssl, so TLS clients under test verify a real
// chain (and a wrong name or an unknown CA really fails). Shared by the handler tests and the
// end-to-end world.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/** A new 2048-bit RSA key in NAME.key, and a request (or self-signed certificate) for CN. */
function request(dir: string, name: string, cn: string, out: string[]): void {
  openssl(dir, ['req', ...out, '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-subj', `/CN=${cn}`]);
}

/** NAME.key and a self-signed NAME.crt for CN (a CA, or a certificate nobody vouches for). */
export function selfSignedCertificate(dir: string, name: string, cn: string, extra: string[] = []): void {
  request(dir, name, cn, ['-x509', '-days', '2', '-out', `${name}.crt`, ...extra]);
}

/** NAME.key and NAME.crt for `host` and any other names (subjectAltName), signed by ca.crt in `dir`. */
export function signedCertificate(dir: string, name: string, host: string, ...otherNames: string[]): void {
  request(dir, name, host, ['-new', '-out', `${name}.csr`]);
  writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${[host, ...otherNames].map((h) => `DNS:${h}`).join(',')}\n`);
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    `${name}.ext`,
    '-out',
    `${name}.crt`,
  ]);
}

export interface TestTls {
  readonly dir: string;
  /** PEM of the CA that signed the certificates. */
  readonly ca: string;
  /** Key and certificate files for `host`. */
  readonly keyFile: string;
  readonly certFile: string;
}

/** A CA and a certificate for `host` and any other names (subjectAltName DNS:...) signed by it. */
export function makeTestTls(host: string, ...otherNames: string[]): TestTls {
  const dir = mkdtempSync(join(tmpdir(), 'ses-relay-tls-'));
  selfSignedCertificate(dir, 'ca', 'ses-relay test CA');
  signedCertificate(dir, 'server', host, ...otherNames);
  return {
    dir,
    ca: readFileSync(join(dir, 'ca.crt'), 'utf8'),
    keyFile: join(dir, 'server.key'),
    certFile: join(dir, 'server.crt'),
  };
}
