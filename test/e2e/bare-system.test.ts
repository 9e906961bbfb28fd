// End-to-end from a bare system: the rendered script, unmodified, runs as root (chroot) on a bare
// Debian 12 and a bare Debian 13 root filesystem (debootstrap minbase: no Postfix, no SASL module,
// no CA certificates, no python3, no systemd), in its own mount, network and UTS namespaces. Its
// own `apt-get install` fetches from a stand-in for Debian's mirror (the same packages, fetched
// beforehand, served over HTTP on loopback: test/fixtures/bare-debian.sh); it starts Postfix
// without systemd, the procedure's plain and MIME mails reach the SES stand-in, and a second run
// changes nothing. DNS, CA trust, the mirror and the `aws` CLI are the stand-ins. A third, Debian 12
// with systemd as its init, boots (systemd-nspawn, in the same network namespace): there the script
// starts Postfix and the refresh timer under systemd, the timer's own runs take a rotated key, and
// mail accepted before a crash is delivered after the next boot.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { Bootstrap } from '../../lib/bootstrap/bootstrap';
import { holdNamespaces, makeWorldTls, type RunResult, SES_HOST, Standin } from '../harness/world';
import { CREDS, options, ROTATED, SECRET_ID, SECRET_JSON, secretJson } from './suite';

const ROOT = join(__dirname, '..', '..');
const FIXTURES = join(ROOT, 'test', 'fixtures');
const HARNESS = join(ROOT, 'test', 'harness');
/** Where the bare systems and their mirrors are kept between runs (ignored by git). */
const CACHE = join(ROOT, '.cache', 'bare-debian');

function unavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'the bare-system suite needs root (chroot, namespaces)';
  const tools = [
    'debootstrap',
    'dpkg-scanpackages',
    'dnsmasq',
    'unshare',
    'nsenter',
    'openssl',
    'python3',
    'systemd-nspawn',
  ];
  for (const tool of tools) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
      return `${tool} is missing (npm test installs it: scripts/test-setup.sh)`;
    }
  }
  return undefined;
}
const reason = unavailable();
if (reason && process.env.CI) throw new Error(`bare-system suite cannot run in CI: ${reason}`);
if (reason) console.warn(`skipping the bare-system suite: ${reason}`);
const describeBare = reason ? describe.skip : describe;

jest.setTimeout(600000);

const { username: USERNAME, password: PASSWORD } = CREDS;
const PLAIN_MAIL =
  'From: Sender Name <sender@example.com>\nSubject: Amazon SES Test\nThis message was sent using Amazon SES.\n';
const MIME_MAIL = readFileSync(join(FIXTURES, 'mime-email.txt'), 'utf8');
/** What cloud-init gives user data: root, a plain PATH, no locale. */
const BASE_ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root'];
/** Resolves once `predicate` holds (looked at every 200 ms), or rejects after `ms`, naming `what`. */
async function until(predicate: () => boolean, ms: number, what: string): Promise<void> {
  for (const deadline = Date.now() + ms; !predicate(); await new Promise((r) => setTimeout(r, 200))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
  }
}
/** The `aws` stand-in's settings (test/harness/aws): the secret is the file /root/secret.json. */
const awsEnv = () => [
  'FAKE_AWS_SECRET_FILE=/root/secret.json',
  `FAKE_AWS_SECRET_ID=${SECRET_ID}`,
  'FAKE_AWS_REGION=eu-west-1',
  'FAKE_AWS_LOG=/root/aws.log',
];

const ended = (p: ChildProcess) => p.exitCode !== null || p.signalCode !== null;

/** A bare Debian root filesystem in its own namespaces, with the stand-ins around it. */
class BareWorld {
  readonly dir = mkdtempSync(join(tmpdir(), 'ses-relay-bare-'));
  readonly root = join(this.dir, 'root');
  private readonly holder: ChildProcess;
  private readonly standins: Standin[] = [];
  /** systemd-nspawn running the booted system, and the system's init (pid 1 inside): see boot(). */
  private container?: ChildProcess;
  private init = 0;

  /**
   * `image`: a suite, or SUITE-systemd (one that boots, test/fixtures/bare-debian.sh); `aptConf`:
   * the image's own apt setting; `mirror`: another folder to serve instead of the packages.
   */
  constructor(image: string, aptConf = '', mirror = join(CACHE, image, 'mirror')) {
    const [suite, ...variant] = image.split('-');
    execFileSync('bash', [join(FIXTURES, 'bare-debian.sh'), suite, CACHE, ...variant], {
      stdio: 'pipe',
      timeout: 900000,
    });
    mkdirSync(join(this.dir, 'tls'));
    makeWorldTls(join(this.dir, 'tls'));
    mkdirSync(this.root);
    execFileSync('tar', ['-xf', join(CACHE, image, 'rootfs.tar'), '-C', this.root]);
    if (aptConf) writeFileSync(join(this.root, 'etc/apt/apt.conf.d/99image'), aptConf);
    this.holder = holdNamespaces(['--mount', '--net', '--uts', '--propagation', 'private']);
    const r = this.nsenter(
      ['bash', join(__dirname, 'bare-world-setup.sh'), this.dir, this.root, mirror, SES_HOST, HARNESS],
      {},
    );
    if (r.code !== 0) {
      this.end();
      throw new Error(`bare world setup failed: ${r.stderr}`);
    }
    writeFileSync(join(this.root, 'root', 'secret.json'), SECRET_JSON, { mode: 0o600 });
  }

  /** nsenter's arguments that join the world's namespaces. */
  private enter(): string[] {
    return ['-t', String(this.holder.pid), '-m', '-n', '-u', '--'];
  }

  private nsenter(cmd: string[], opts: { input?: string }, enter = this.enter()): RunResult {
    const r = spawnSync('nsenter', [...enter, ...cmd], {
      input: opts.input,
      encoding: 'utf8',
      timeout: 300000,
    });
    return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  /**
   * Runs a command as root in the bare system, with only the given environment: in its root
   * (chroot), or, once it booted, in the booted system (all of its namespaces and its root).
   */
  exec(cmd: string[], opts: { input?: string; env?: string[] } = {}): RunResult {
    const env = ['/usr/bin/env', '-i', ...BASE_ENV, ...(opts.env ?? []), ...cmd];
    if (!this.init) return this.nsenter(['chroot', this.root, ...env], opts);
    return this.nsenter(env, opts, ['-t', String(this.init), '-m', '-u', '-i', '-n', '-p', '-r', '-w', '--']);
  }

  /**
   * Boots the system (an image with systemd) as a machine would: systemd-nspawn runs its init in
   * the world's network namespace (the stand-ins' loopback), and exec runs in it from then on, until
   * crash(). A systemd service sees no test environment: the `aws` stand-in reads its settings from
   * /etc/fake-aws.env (as a real CLI would find the instance's role).
   */
  async boot(): Promise<void> {
    writeFileSync(join(this.root, 'etc', 'fake-aws.env'), `${awsEnv().join('\n')}\n`);
    const log = openSync(join(this.dir, 'boot.log'), 'a');
    const args = ['--boot', '--directory', this.root, '--register=no', '--keep-unit', '--console=pipe'];
    args.push('--resolv-conf=off', '--timezone=off', '--link-journal=no');
    args.push(`--network-namespace-path=/proc/${this.holder.pid}/ns/net`);
    const container = spawn('systemd-nspawn', args, { stdio: ['pipe', log, log] });
    closeSync(log);
    this.container = container;
    let failed: Error | undefined;
    container.once('error', (err) => (failed = err));
    const booted = () => `${failed ?? ''}${readFileSync(join(this.dir, 'boot.log'), 'utf8')}`;
    // Its init (systemd, systemd-nspawn's child), then its manager: up once it made
    // /run/systemd/system (before, systemctl fails or says "offline"); then the boot's end.
    const found = () => {
      this.init = this.initOf(container);
      return this.init !== 0 || ended(container) || !!failed;
    };
    await until(found, 60000, 'the init');
    const up = () => existsSync(`/proc/${this.init}/root/run/systemd/system`) || ended(container);
    await until(up, 60000, 'the service manager');
    if (ended(container) || failed) throw new Error(`the system did not boot: ${booted()}`);
    const state = this.exec(['timeout', '120', 'systemctl', 'is-system-running', '--wait']).stdout.trim();
    if (state !== 'running') {
      const units = this.exec(['systemctl', '--failed', '--no-pager']).stdout;
      throw new Error(`the system booted ${state || 'with no answer'}: ${units}`);
    }
  }

  /** The booted system's init: the process systemd whose parent is CONTAINER (0: none yet). */
  private initOf(container: ChildProcess): number {
    const child = (p: string) => {
      try {
        return (
          readFileSync(`/proc/${p}/stat`, 'utf8').match(/^\d+ \(systemd\) \S (\d+) /)?.[1] === String(container.pid)
        );
      } catch {
        return false; // gone meanwhile
      }
    };
    return Number(readdirSync('/proc').find((p) => /^\d+$/.test(p) && child(p)) ?? 0);
  }

  /**
   * Crashes the booted system: its init killed, and with it every process in it, at once (no
   * shutdown). What was written stays, as on a disk: the folder is the host's.
   */
  async crash(): Promise<void> {
    const container = this.container;
    if (!container) return;
    if (!ended(container)) {
      const gone = new Promise((r) => container.once('exit', r));
      try {
        // (Before boot() saw its init: looked for again, else systemd-nspawn itself.)
        const init = this.init || this.initOf(container);
        if (init) process.kill(init, 'SIGKILL');
        else container.kill('SIGKILL');
      } catch {
        // its init has just ended: systemd-nspawn follows
      }
      await gone;
    }
    this.init = 0;
    this.container = undefined;
  }

  /** Runs the rendered script as user data would be run, with the `aws` stand-in answering. */
  runScript(script: string): RunResult {
    writeFileSync(join(this.root, 'root', 'user-data.sh'), script, { mode: 0o700 });
    return this.exec(['bash', '/root/user-data.sh'], { env: awsEnv() });
  }

  read(path: string): string {
    return this.exec(['cat', path]).stdout;
  }

  /** What the mirror stand-in served (its request log). */
  mirrorLog(): string {
    return readFileSync(join(this.dir, 'mirror.log'), 'utf8');
  }

  /** Starts the SES stand-in (on the host's files, in the world's network) on port 587. */
  async startStandin(): Promise<Standin> {
    const tsx = [process.execPath, join(ROOT, 'node_modules/tsx/dist/cli.mjs'), join(HARNESS, 'ses-standin.ts')];
    const tls = (f: string) => join(this.dir, 'tls', f);
    const args = ['--port', '587', '--key', tls('ses.key'), '--cert', tls('ses.crt'), '--wrapper', 'no'];
    args.push('--mode', 'accept', '--name', SES_HOST, '--quota', '0');
    const proc = spawn('nsenter', [...this.enter(), ...tsx, ...args], {
      env: { ...process.env, STANDIN_USER: USERNAME, STANDIN_PASSWORD: PASSWORD },
      stdio: ['pipe', 'pipe', 'inherit'],
      detached: true,
    });
    const standin = new Standin(proc);
    this.standins.push(standin);
    await standin.waitFor(() => standin.count('listening') > 0, 20000, 'stand-in listening');
    return standin;
  }

  /** Ends every process of the world (Postfix, dnsmasq, the mirror, the stand-in), then its files. */
  async destroy(): Promise<void> {
    await this.crash();
    await Promise.all(this.standins.map((s) => s.stop()));
    this.end();
  }

  /** Kills what runs in the world's mount namespace and removes its folder. */
  private end(): void {
    const ns = readlinkSync(`/proc/${this.holder.pid}/ns/mnt`);
    for (const entry of readdirSync('/proc')) {
      if (!/^[0-9]+$/.test(entry)) continue;
      try {
        if (readlinkSync(`/proc/${entry}/ns/mnt`) === ns) process.kill(Number(entry), 'SIGKILL');
      } catch {
        // the process has already gone
      }
    }
    // The world's mounts (/proc, /dev in the root) live only in its namespace, gone with it: the
    // host's view of this folder never had them.
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const SUITES: [string, string, RegExp][] = [
  ['Debian 12 (bookworm)', 'bookworm', /^3\.7\./],
  ['Debian 13 (trixie)', 'trixie', /^3\.10\./],
];

describeBare.each(SUITES)('bare %s, the rendered script as user data', (_name, suite, postfixVersion) => {
  let world: BareWorld;
  let standin: Standin;
  let first: RunResult;
  let bareBefore: { postfix: number; python3: number; caBundle: number };
  const script = Bootstrap.render(options());

  beforeAll(async () => {
    world = new BareWorld(suite);
    bareBefore = {
      postfix: world.exec(['test', '-e', '/usr/sbin/postfix']).code,
      python3: world.exec(['test', '-e', '/usr/bin/python3']).code,
      caBundle: world.exec(['test', '-e', '/etc/ssl/certs/ca-certificates.crt']).code,
    };
    standin = await world.startStandin();
    first = world.runScript(script);
  });
  afterAll(() => world?.destroy());

  test('it starts bare: no Postfix, no python3, no CA bundle, no systemd', () => {
    expect(bareBefore).toEqual({ postfix: 1, python3: 1, caBundle: 1 });
    expect(existsSync(join(world.root, 'run/systemd/system'))).toBe(false);
  });

  // python3 (the pacer's) comes with Postfix: Debian's package recommends it, and apt installs
  // recommends by default, as on cloud images.
  test("the script's own apt-get installs Postfix, the SASL module, CA certificates and python3", () => {
    expect(first.stderr).toContain('ses-relay: installing postfix libsasl2-modules ca-certificates\n');
    expect(first.code).toBe(0);
    expect(world.exec(['test', '-x', '/usr/bin/python3']).code).toBe(0);
    const log = world.mirrorLog();
    for (const pkg of ['postfix', 'libsasl2-modules', 'ca-certificates', 'python3']) {
      expect(log).toMatch(new RegExp(`"GET /(\\./)?${pkg}_[^ ]+\\.deb HTTP/1\\.1" 200`));
    }
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format, not JavaScript's
    const versions = world.exec(['dpkg-query', '-W', '-f=${Package} ${Status}\n', 'postfix', 'libsasl2-modules']);
    expect(versions.stdout.split('\n').sort()).toEqual([
      '',
      'libsasl2-modules install ok installed',
      'postfix install ok installed',
    ]);
    expect(world.exec(['postconf', '-h', 'mail_version']).stdout.trim()).toMatch(postfixVersion);
  });

  test('Postfix runs without systemd, relaying through the SES endpoint', () => {
    expect(first.stderr).toContain('relays through [email-smtp.eu-west-1.amazonaws.com]:587 for this host only');
    expect(world.exec(['postfix', 'status']).code).toBe(0);
    expect(first.stderr + first.stdout).not.toContain(PASSWORD);
  });

  test('the procedure plain test mail arrives, authenticated over verified TLS', async () => {
    world.exec(['/usr/sbin/sendmail', '-f', 'sender@example.com', 'recipient@example.com'], { input: PLAIN_MAIL });
    await standin.waitFor(() => standin.messages().length > 0, 60000, 'the plain mail');
    const msg = standin.messages()[0];
    expect(msg.to).toEqual(['recipient@example.com']);
    const parsed = await simpleParser(msg.raw);
    expect(parsed.subject).toBe('Amazon SES Test');
    expect(parsed.text?.trim()).toBe('This message was sent using Amazon SES.');
    const auths = standin.events.filter((e) => e.event === 'auth');
    expect(auths.length).toBeGreaterThan(0);
    expect(auths.every((a) => a.ok === true && a.secure === true && a.user === USERNAME)).toBe(true);
    expect(world.read('/var/log/maillog')).toMatch(/Verified TLS connection established to email-smtp\.eu-west-1/);
  });

  test('the MIME multipart example arrives intact', async () => {
    const before = standin.messages().length;
    world.exec(['/usr/sbin/sendmail', '-f', 'sender@example.com', 'recipient@example.com'], { input: MIME_MAIL });
    await standin.waitFor(() => standin.messages().length > before, 60000, 'the MIME mail');
    const parsed = await simpleParser(standin.messages()[before].raw);
    expect(parsed.html).toContain('<h1>Amazon SES Test</h1>');
    expect(parsed.attachments).toHaveLength(1);
    expect(parsed.attachments[0].filename).toBe('customers.txt');
    expect(parsed.attachments[0].content.toString('utf8')).toContain('348,John,Stiles,Canada');
  });

  test('a second run installs nothing, changes no file and leaves Postfix running as it was', () => {
    const files = ['/etc/postfix/main.cf', '/etc/postfix/master.cf', '/etc/postfix/sasl_passwd'];
    const state = () =>
      files.map((f) => world.exec(['stat', '-c', '%Y %s %a', f]).stdout + world.exec(['sha256sum', f]).stdout);
    const before = state();
    const pid = world.read('/var/spool/postfix/pid/master.pid').trim();
    const mirrorBefore = world.mirrorLog().length;
    const second = world.runScript(script);
    expect(second.code).toBe(0);
    expect(second.stderr).not.toContain('installing');
    expect(state()).toEqual(before);
    expect(world.read('/var/spool/postfix/pid/master.pid').trim()).toBe(pid);
    expect(world.mirrorLog().slice(mirrorBefore)).not.toMatch(/\.deb/);
    expect(world.exec(['postfix', 'status']).code).toBe(0);
  });
});

// Minimal images turn apt's recommends off: then python3 does not come with Postfix, and the script
// installs it for the pacer itself.
describeBare('bare Debian 13 whose apt installs no recommends (as minimal images)', () => {
  let world: BareWorld;
  let standin: Standin;
  let first: RunResult;

  beforeAll(async () => {
    world = new BareWorld('trixie', 'APT::Install-Recommends "false";\n');
    standin = await world.startStandin();
    first = world.runScript(Bootstrap.render(options()));
  });
  afterAll(() => world?.destroy());

  test('the script installs python3 for the pacer itself, and mail flows', async () => {
    expect(first.stderr).toContain('ses-relay: installing postfix libsasl2-modules ca-certificates\n');
    expect(first.stderr).toContain('ses-relay: installing python3 for the pacer\n');
    expect(first.code).toBe(0);
    expect(world.mirrorLog()).toMatch(/"GET \/(\.\/)?python3_[^ ]+\.deb HTTP\/1\.1" 200/);
    world.exec(['/usr/sbin/sendmail', '-f', 'sender@example.com', 'recipient@example.com'], { input: PLAIN_MAIL });
    await standin.waitFor(() => standin.messages().length > 0, 60000, 'the plain mail');
    expect(standin.messages()[0].to).toEqual(['recipient@example.com']);
  });
});

describeBare('bare Debian 12 whose mirror lacks the packages', () => {
  let world: BareWorld;
  let run: RunResult;

  beforeAll(() => {
    const empty = mkdtempSync(join(tmpdir(), 'ses-relay-empty-mirror-'));
    writeFileSync(join(empty, 'Packages'), '');
    try {
      world = new BareWorld('bookworm', '', empty);
      run = world.runScript(Bootstrap.render(options()));
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
  afterAll(() => world?.destroy());

  test("the script stops, naming the packages and apt's own last error line", () => {
    expect(run.code).not.toBe(0);
    // apt's own words: "Unable to locate package X", or "Package 'X' has no installation candidate".
    expect(run.stderr).toMatch(
      /ses-relay: apt-get could not install postfix libsasl2-modules ca-certificates \(exit 100\): E: (Unable to locate package [a-z0-9-]+|Package '[a-z0-9-]+' has no installation candidate)\n/,
    );
    expect(run.stderr).toContain('ses-relay: error: could not install postfix libsasl2-modules ca-certificates\n');
    expect(world.exec(['test', '-e', '/usr/sbin/postfix']).code).toBe(1);
    expect(world.exec(['test', '-e', '/etc/ses-relay/settings']).code).toBe(0);
  });
});

// A system that boots (Debian 12 with systemd as its init, as cloud images are): the script starts
// Postfix and the refresh timer under systemd; the timer's own runs (the units as written, no test
// environment) take a rotated key; mail accepted while SES was away survives a crash.
describeBare('Debian 12 booted with systemd: the relay across a key rotation and a crash', () => {
  const NEW = ROTATED;
  let world: BareWorld;
  let standin: Standin;
  let first: RunResult;
  const systemctl = (...args: string[]) =>
    world
      .exec(['systemctl', ...args])
      .stdout.trim()
      .split('\n');
  const send = (subject: string) =>
    world.exec(['/usr/sbin/sendmail', '-f', 'sender@example.com', 'recipient@example.com'], {
      input: `From: sender@example.com\nSubject: ${subject}\n\n${subject}.\n`,
    });
  const arrived = (subject: string) => standin.messages().filter((m) => m.raw.includes(`\nSubject: ${subject}\r\n`));
  // Debian's postfix.service only starts its instances: Postfix itself runs as postfix@-.
  const running = () => [
    ...systemctl('is-active', 'postfix@-', 'ses-relay-refresh.timer'),
    world.exec(['postfix', 'status']).code,
  ];

  beforeAll(async () => {
    world = new BareWorld('bookworm-systemd');
    await world.boot();
    standin = await world.startStandin();
    first = world.runScript(Bootstrap.render(options()));
  });
  afterAll(() => world?.destroy());

  test('the script starts Postfix and the refresh timer with systemd, the timer enabled at every boot', async () => {
    expect(first.code).toBe(0);
    expect(first.stderr).not.toContain('no systemd');
    expect(running()).toEqual(['active', 'active', 0]);
    // (Postfix is enabled by Debian's package already; the script enables it where it is not.)
    expect(systemctl('is-enabled', 'postfix', 'ses-relay-refresh.timer')).toEqual(['enabled', 'enabled']);
    // systemd's own check of the units the script wrote: nothing to say about them.
    const verify = world.exec(['systemd-analyze', 'verify', 'ses-relay-refresh.timer', 'ses-relay-refresh.service']);
    expect(verify.code).toBe(0);
    expect(verify.stderr.split('\n').filter((l) => l.includes('ses-relay'))).toEqual([]);
    send('Under systemd');
    await standin.waitFor(() => arrived('Under systemd').length > 0, 60000, 'the mail');
    expect(arrived('Under systemd')[0].user).toBe(USERNAME);
  });

  test("the timer's own runs take a rotated key: Postfix authenticates with it, nothing refused", async () => {
    // Both keys valid, as between finishSecret and the deletion of the previous key.
    await standin.setCredentials([CREDS, NEW]);
    const secret = join(world.root, 'root', 'secret.json');
    writeFileSync(`${secret}.new`, secretJson(NEW));
    renameSync(`${secret}.new`, secret);
    // The last refresh long past: the timer's next run (every 30 s) refreshes.
    expect(world.exec(['touch', '-d', '@1', '/run/ses-relay/refreshed']).code).toBe(0);
    const journal = () =>
      world.exec(['journalctl', '-u', 'ses-relay-refresh.service', '--no-pager', '-o', 'cat']).stdout;
    const refreshed = `credentials refreshed: Postfix now authenticates as ${NEW.username} (was ${USERNAME})`;
    await until(() => journal().includes(refreshed), 90000, 'the timer to refresh');
    // The previous key deleted: only the new one works from now on (past the 5 s connection cache).
    await standin.setCredentials([NEW]);
    await new Promise((r) => setTimeout(r, 6000));
    send('After the rotation');
    await standin.waitFor(() => arrived('After the rotation').length > 0, 60000, 'the mail after the rotation');
    expect(arrived('After the rotation')[0].user).toBe(NEW.username);
    expect(standin.events.filter((e) => e.event === 'auth' && e.ok !== true)).toEqual([]);
    expect(journal()).not.toContain(NEW.password);
  });

  test('mail deferred while SES was away is delivered after a crash, by the next boot on its own', async () => {
    await standin.setMode('down');
    expect(send('Before the crash').code).toBe(0);
    // Tried and deferred (not only accepted): the crash comes between two attempts.
    const queued = () => world.exec(['postqueue', '-j']).stdout;
    await until(() => /"queue_name": ?"deferred"/.test(queued()), 60000, 'the mail deferred');
    await world.crash();
    await standin.setMode('accept');
    await world.boot();
    expect(running()).toEqual(['active', 'active', 0]);
    await standin.waitFor(() => arrived('Before the crash').length > 0, 90000, 'the mail after the boot');
    expect(arrived('Before the crash')).toHaveLength(1);
  });
});
