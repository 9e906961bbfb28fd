// A throwaway test CA and a server certificate for one host name, made with openssl, so TLS
// clients under test verify a real chain (and a wrong name or an unknown CA really fails).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
  const openssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  openssl(
    ['req', '-x509', '-days', '2', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt'].concat([
      '-subj',
      '/CN=ses-relay test CA',
    ]),
  );
  openssl([
    'req',
    '-new',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    `/CN=${host}`,
  ]);
  writeFileSync(join(dir, 'server.ext'), `subjectAltName=${[host, ...otherNames].map((h) => `DNS:${h}`).join(',')}\n`);
  openssl(
    ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2'].concat([
      '-extfile',
      'server.ext',
      '-out',
      'server.crt',
    ]),
  );
  return {
    dir,
    ca: readFileSync(join(dir, 'ca.crt'), 'utf8'),
    keyFile: join(dir, 'server.key'),
    certFile: join(dir, 'server.crt'),
  };
}
