// The install job on the distributions that cannot run here (the RHEL family, Amazon Linux,
// Ubuntu, Fedora) and on the Debian releases: install.sh runs unmodified under a given
// /etc/os-release (bind-mounted in a private mount namespace) with a stand-in package manager
// (test/fixtures/package-manager) on PATH that records every call. The real installations on bare
// Debian 12 and 13 are in test/e2e/bare-system.test.ts.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PROGRAM = join(__dirname, '..', '..', 'lib', 'bootstrap', 'instance');
const STANDIN = join(__dirname, '..', 'fixtures', 'package-manager');
const TOOLS = ['apt-get', 'dpkg-query', 'debconf-set-selections', 'dnf', 'rpm'];

const unshare = spawnSync('unshare', ['-rm', 'true']);
const unavailable =
  unshare.error || unshare.status !== 0 ? `unshare -rm (a private mount namespace) fails here: ${unshare.stderr}` : '';
if (unavailable && process.env.CI) throw new Error(unavailable);
const describeNs = unavailable ? describe.skip : describe;
if (unavailable) console.warn(`skipping the distribution tests: ${unavailable}`);

interface Run {
  code: number;
  stderr: string;
  /** The stand-in's calls, one "NAME ARGS" per line. */
  calls: string[];
  stdout: string;
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ses-relay-distros-'));
  for (const t of TOOLS) symlinkSync(STANDIN, join(dir, t));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `bash -c code` (install.sh's directory as $P) under this os-release with the stand-in. */
function run(osRelease: string, code: string, env: Record<string, string> = {}): Run {
  const osFile = join(dir, 'os-release');
  const log = join(dir, 'calls.log');
  writeFileSync(osFile, osRelease);
  writeFileSync(log, '');
  const r = spawnSync(
    'unshare',
    ['-rm', 'bash', '-c', `mount --bind "$OS_FILE" /etc/os-release && P="$PROGRAM" && ${code}`],
    {
      encoding: 'utf8',
      env: {
        PATH: `${dir}:/usr/bin:/bin:/usr/sbin:/sbin`,
        OS_FILE: osFile,
        PROGRAM,
        FAKE_PM_LOG: log,
        ...env,
      },
    },
  );
  const calls = readFileSync(log, 'utf8').split('\n').filter(Boolean);
  return { code: r.status ?? -1, stderr: r.stderr, stdout: r.stdout, calls };
}

const install = (osRelease: string, env: Record<string, string> = {}) => run(osRelease, 'bash "$P/install.sh"', env);
const osRelease = (id: string, version?: string) =>
  `NAME="${id}"\nID=${id}\n${version === undefined ? '' : `VERSION_ID="${version}"\n`}`;

const APT_INSTALL = [
  'apt-get -y -q update',
  'apt-get -y -q -o Dpkg::Options::=--force-confold install postfix libsasl2-modules ca-certificates',
];
const DNF_INSTALL = ['dnf -y -q install postfix cyrus-sasl-plain ca-certificates'];
const installs = (r: Run) => r.calls.filter((c) => /^(apt-get|dnf) /.test(c));

const SUPPORTED: [string, string, string[]][] = [
  ['debian', '12', APT_INSTALL],
  ['debian', '13', APT_INSTALL],
  ['ubuntu', '22.04', APT_INSTALL],
  ['ubuntu', '24.04', APT_INSTALL],
  ['ubuntu', '26.04', APT_INSTALL],
  ['rhel', '8.10', DNF_INSTALL],
  ['rhel', '9.6', DNF_INSTALL],
  ['rhel', '10.0', DNF_INSTALL],
  ['rocky', '8.10', DNF_INSTALL],
  ['rocky', '9.6', DNF_INSTALL],
  ['rocky', '10.0', DNF_INSTALL],
  ['almalinux', '8.10', DNF_INSTALL],
  ['almalinux', '9.6', DNF_INSTALL],
  ['almalinux', '10.0', DNF_INSTALL],
  ['centos', '10', DNF_INSTALL],
  ['amzn', '2023', DNF_INSTALL],
  ['fedora', '43', DNF_INSTALL],
  ['fedora', '45', DNF_INSTALL],
];

describeNs('install.sh per distribution, against a stand-in package manager', () => {
  test.each(SUPPORTED)('%s %s: installs with exactly these commands, no warning', (id, version, expected) => {
    const r = install(osRelease(id, version));
    expect(r.stderr).not.toContain('warning');
    expect(r.code).toBe(0);
    expect(installs(r)).toEqual(expected);
    expect(r.stderr).toMatch(/ses-relay: installing postfix (libsasl2-modules|cyrus-sasl-plain) ca-certificates/);
  });

  test('Debian preseeds Postfix to "No configuration" before installing it', () => {
    const r = install(osRelease('debian', '13'));
    expect(r.calls.findIndex((c) => c.startsWith('debconf-set-selections'))).toBeLessThan(
      r.calls.findIndex((c) => c.includes(' install ')),
    );
  });

  // Postfix reads the hashed directory where there is one (postfix.sh), the probe the bundle.
  test.each([
    ['debian', 'ca-certificates.crt', '/etc/ssl/certs/ca-certificates.crt', '/etc/ssl/certs'],
    ['ubuntu', 'ca-certificates.crt', '/etc/ssl/certs/ca-certificates.crt', '/etc/ssl/certs'],
    ['rocky', 'ca-bundle.crt', '/etc/pki/tls/certs/ca-bundle.crt', ''],
    ['amzn', 'ca-bundle.crt', '/etc/pki/tls/certs/ca-bundle.crt', ''],
  ])('%s trusts the CA bundle %s (and the hashed directory %j)', (id, _name, bundle, dir) => {
    const version = { debian: '12', ubuntu: '24.04', rocky: '9.6', amzn: '2023' }[id];
    const r = run(osRelease(id, version), '. "$P/install.sh" && detect_os && echo "$CA_FILE|$CA_DIR"');
    expect(r.stdout.trim()).toBe(`${bundle}|${dir}`);
  });

  test.each([
    ['debian', '14', 'Debian 14 is not among the releases tested (12 13); proceeding as for Debian 13', APT_INSTALL],
    [
      'ubuntu',
      '28.04',
      'Ubuntu 28.04 is not among the releases tested (22.04 24.04 26.04); proceeding as for Ubuntu 26.04',
      APT_INSTALL,
    ],
    [
      'ubuntu',
      '25.10',
      'Ubuntu 25.10 is not among the releases tested (22.04 24.04 26.04); proceeding as for Ubuntu 26.04',
      APT_INSTALL,
    ],
    ['rhel', '11.0', 'RHEL 11 is not among the releases tested (8 9 10); proceeding as for RHEL 10', DNF_INSTALL],
    [
      'amzn',
      '2025',
      'Amazon Linux 2025 is not among the releases tested (2023); proceeding as for Amazon Linux 2023',
      DNF_INSTALL,
    ],
    ['fedora', '46', 'Fedora 46 is not among the releases tested (43 44 45); proceeding as for Fedora 45', DNF_INSTALL],
  ])('a newer release, %s %s, proceeds with a warning in the log', (id, version, warning, expected) => {
    const r = install(osRelease(id, version));
    expect(r.stderr).toContain(`ses-relay: warning: ${warning}`);
    expect(r.code).toBe(0);
    expect(installs(r)).toEqual(expected);
  });

  test('Debian testing (no VERSION_ID) proceeds with a warning', () => {
    const r = install(osRelease('debian'));
    expect(r.stderr).toContain('ses-relay: warning: Debian without a release number (testing?)');
    expect(r.code).toBe(0);
    expect(installs(r)).toEqual(APT_INSTALL);
  });

  test.each([
    ['alpine', '3.20.0', "error: unsupported distribution 'alpine 3.20.0'; supported: Debian 12 and 13, Ubuntu"],
    ['linuxmint', '22', "error: unsupported distribution 'linuxmint 22'; supported: Debian 12 and 13, Ubuntu"],
    ['amzn', '2', 'error: Amazon Linux 2 is past its end of support; supported: Debian 12 and 13, Ubuntu'],
    ['debian', '11', 'error: Debian 11 is past its end of support; supported: Debian 12 and 13, Ubuntu'],
    ['rocky', '7.9', 'error: Rocky Linux 7 is past its end of support; supported: Debian 12 and 13, Ubuntu'],
    ['fedora', '42', 'error: Fedora 42 is past its end of support; supported: Debian 12 and 13, Ubuntu'],
  ])('%s %s is refused with the supported list, before any package manager runs', (id, version, message) => {
    const r = install(osRelease(id, version));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain('RHEL/Rocky Linux/AlmaLinux/CentOS Stream 8, 9 and 10, Amazon Linux 2023');
    expect(r.calls).toEqual([]);
  });

  test('nothing is installed when everything is there', () => {
    const r = install(osRelease('rocky', '9.6'), { FAKE_PM_INSTALLED: 'postfix cyrus-sasl-plain ca-certificates' });
    expect(r.code).toBe(0);
    expect(installs(r)).toEqual([]);
    expect(r.calls).toContain('rpm -q postfix');
  });

  test('only the missing packages are installed, and Sendmail is removed', () => {
    const apt = install(osRelease('ubuntu', '24.04'), { FAKE_PM_INSTALLED: 'postfix sendmail-bin ca-certificates' });
    expect(apt.code).toBe(0);
    expect(installs(apt)).toEqual([
      'apt-get -y -q purge sendmail-bin',
      'apt-get -y -q update',
      'apt-get -y -q -o Dpkg::Options::=--force-confold install libsasl2-modules',
    ]);
    const dnf = install(osRelease('amzn', '2023'), { FAKE_PM_INSTALLED: 'sendmail postfix' });
    expect(installs(dnf)).toEqual(['dnf -y -q remove sendmail', 'dnf -y -q install cyrus-sasl-plain ca-certificates']);
  });

  test.each([
    [
      'debian',
      '13',
      "apt-get could not install postfix libsasl2-modules ca-certificates (exit 100): E: Package 'libsasl2-modules' has no installation candidate",
      'postfix libsasl2-modules ca-certificates',
    ],
    [
      'almalinux',
      '10.0',
      'dnf could not install postfix cyrus-sasl-plain ca-certificates (exit 1): Error: Unable to find a match: cyrus-sasl-plain',
      'postfix cyrus-sasl-plain ca-certificates',
    ],
  ])('%s %s: a failed installation names the packages and the last error line', (id, version, detail, packages) => {
    const r = install(osRelease(id, version), { FAKE_PM_FAIL: 'install' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`ses-relay: ${detail}\n`);
    expect(r.stderr).toContain(`ses-relay: error: could not install ${packages}\n`);
  });

  // SesRelay's user data installs the AWS CLI before install.sh has detected anything.
  test('without detection, pkg_install uses apt where apt-get exists, else dnf', () => {
    // A PATH with the dnf stand-in and the few tools pkg_install uses, and no apt-get.
    const onlyDnf = join(dir, 'only-dnf');
    rmSync(onlyDnf, { recursive: true, force: true });
    mkdirSync(onlyDnf);
    symlinkSync(STANDIN, join(onlyDnf, 'dnf'));
    for (const tool of ['unshare', 'mount', 'bash', 'basename', 'cat', 'grep', 'mktemp', 'rm', 'tail']) {
      const path = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
      symlinkSync(path, join(onlyDnf, tool));
    }
    const withApt = run(osRelease('debian', '13'), '. "$P/packages.sh" && pkg_install awscli');
    expect(installs(withApt)).toEqual([
      'apt-get -y -q update',
      'apt-get -y -q -o Dpkg::Options::=--force-confold install awscli',
    ]);
    const withDnf = run(osRelease('amzn', '2023'), '. "$P/packages.sh" && pkg_install awscli', { PATH: onlyDnf });
    expect(withDnf.code).toBe(0);
    expect(installs(withDnf)).toEqual(['dnf -y -q install awscli']);
  });

  test("apt's package lists are updated once per run, however many installs", () => {
    const r = run(
      osRelease('debian', '12'),
      '. "$P/install.sh" && detect_os && pkg_install postfix && pkg_install python3',
    );
    expect(r.code).toBe(0);
    expect(installs(r)).toEqual([
      'apt-get -y -q update',
      'apt-get -y -q -o Dpkg::Options::=--force-confold install postfix',
      'apt-get -y -q -o Dpkg::Options::=--force-confold install python3',
    ]);
  });
});

// apply_postfix without systemd, for Postfix up to 3.9 and from 3.10 on Debian: a stand-in
// `postfix`/`postconf` and Debian's /usr/lib/postfix (bind-mounted) record what runs.
describeNs('starting Postfix without systemd (apply_postfix)', () => {
  /** Runs apply_postfix; `postInstall` is the text of Postfix's post-install, `start` what `postfix start` does. */
  function applyPostfix(postInstall: string, start: string): Run {
    const bin = join(dir, 'postfix-bin');
    const lib = join(dir, 'usr-lib-postfix');
    rmSync(bin, { recursive: true, force: true });
    rmSync(lib, { recursive: true, force: true });
    mkdirSync(bin);
    mkdirSync(join(lib, 'sbin'), { recursive: true });
    const script = (path: string, body: string) => writeFileSync(path, `#!/bin/bash\n${body}\n`, { mode: 0o755 });
    script(join(bin, 'postconf'), `[ "$*" = "-hx daemon_directory" ] && echo /usr/lib/postfix/sbin`);
    script(
      join(bin, 'postfix'),
      `echo "postfix $*" >>"$FAKE_PM_LOG"\ncase $1 in status) [ -e "${dir}/running" ] ;; start) ${start} ;; esac`,
    );
    script(join(lib, 'sbin', 'post-install'), postInstall);
    script(join(lib, 'configure-instance.sh'), 'echo "configure-instance.sh $*" >>"$FAKE_PM_LOG"');
    rmSync(join(dir, 'running'), { force: true });
    const code = `mount --bind "${lib}" /usr/lib/postfix && . "$P/common.sh" && apply_postfix && echo started`;
    return run(osRelease('debian', '13'), code, { PATH: `${bin}:/usr/bin:/bin:/usr/sbin:/sbin` });
  }
  const STARTS = `touch "${'$'}{FAKE_PM_LOG%/*}/running"`;

  test('up to Postfix 3.9, Debian\'s configure-instance.sh prepares the default instance ("-") first', () => {
    const r = applyPostfix('# Postfix 3.7: no chroot set-up here', STARTS);
    expect(r.stdout.trim()).toBe('started');
    expect(r.calls).toEqual([
      'postfix check',
      'configure-instance.sh -',
      'postfix status',
      'postfix start',
      'postfix status',
    ]);
  });

  test('from Postfix 3.10, postfix start prepares the chroot itself: configure-instance.sh is not called', () => {
    const r = applyPostfix('/usr/lib/postfix/configure-instance.sh || exit 1  # debian-specific', STARTS);
    expect(r.stdout.trim()).toBe('started');
    expect(r.calls).toEqual(['postfix check', 'postfix status', 'postfix start', 'postfix status']);
  });

  test("a failed start says so with Postfix's own last line", () => {
    const r = applyPostfix(
      '',
      'echo "postfix/postfix-script: fatal: the Postfix mail system is not configured" >&2; exit 1',
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      'ses-relay: error: Postfix did not start (postfix start): postfix/postfix-script: fatal: the Postfix mail system is not configured',
    );
  });
});
