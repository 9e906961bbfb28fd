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
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { Bootstrap } from '../../lib/bootstrap/bootstrap';
import { BareWorld, until } from '../harness/bare-world';
import type { RunResult, Standin } from '../harness/world';
import { CREDS, options, ROTATED, SECRET_ID, SECRET_JSON, secretJson } from './suite';

const ROOT = join(__dirname, '..', '..');
const FIXTURES = join(ROOT, 'test', 'fixtures');

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
const SECRET = { id: SECRET_ID, json: SECRET_JSON };
const PLAIN_MAIL =
  'From: Sender Name <sender@example.com>\nSubject: Amazon SES Test\nThis message was sent using Amazon SES.\n';
const MIME_MAIL = readFileSync(join(FIXTURES, 'mime-email.txt'), 'utf8');
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
    world = new BareWorld(suite, SECRET);
    bareBefore = {
      postfix: world.exec(['test', '-e', '/usr/sbin/postfix']).code,
      python3: world.exec(['test', '-e', '/usr/bin/python3']).code,
      caBundle: world.exec(['test', '-e', '/etc/ssl/certs/ca-certificates.crt']).code,
    };
    standin = await world.startStandin(CREDS);
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
    world = new BareWorld('trixie', SECRET, 'APT::Install-Recommends "false";\n');
    standin = await world.startStandin(CREDS);
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
      world = new BareWorld('bookworm', SECRET, '', empty);
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
    ...systemctl('is-active', 'postfix@-', 'ses-relay-refresh.timer', 'ses-relay-pace.socket'),
    world.exec(['postfix', 'status']).code,
  ];
  /** The pacer's service process: its pid (0: none), user and command line. */
  const pacer = () => {
    const pid = Number(systemctl('show', '-P', 'MainPID', 'ses-relay-pace.service')[0]);
    if (!pid) return { pid, user: '', args: '' };
    const user = world.exec(['stat', '-c', '%U', `/proc/${pid}`]).stdout.trim();
    return { pid, user, args: world.read(`/proc/${pid}/cmdline`).split('\0').join(' ').trim() };
  };

  beforeAll(async () => {
    world = new BareWorld('bookworm-systemd', SECRET);
    await world.boot();
    standin = await world.startStandin(CREDS);
    first = world.runScript(Bootstrap.render(options()));
  });
  afterAll(() => world?.destroy());

  test("the script starts Postfix, the refresh timer and the pacer's socket with systemd, each enabled at every boot", async () => {
    expect(first.code).toBe(0);
    expect(first.stderr).not.toContain('no systemd');
    expect(running()).toEqual(['active', 'active', 'active', 0]);
    // (Postfix is enabled by Debian's package already; the script enables it where it is not.)
    expect(systemctl('is-enabled', 'postfix', 'ses-relay-refresh.timer', 'ses-relay-pace.socket')).toEqual([
      'enabled',
      'enabled',
      'enabled',
    ]);
    // systemd's own check of the units the script wrote: nothing to say about them.
    const units = ['ses-relay-refresh.timer', 'ses-relay-refresh.service', 'ses-relay-pace.socket'];
    const verify = world.exec(['systemd-analyze', 'verify', ...units, 'ses-relay-pace.service']);
    expect(verify.code).toBe(0);
    expect(verify.stderr.split('\n').filter((l) => l.includes('ses-relay'))).toEqual([]);
    // The pacer is systemd's, not a Postfix service: no process started per SMTP client.
    expect(world.exec(['postconf', '-M', 'ses-pace/unix']).stdout).toBe('');
    send('Under systemd');
    await standin.waitFor(() => arrived('Under systemd').length > 0, 60000, 'the mail');
    expect(arrived('Under systemd')[0].user).toBe(USERNAME);
    expect(pacer()).toMatchObject({
      user: 'ses-relay',
      args: expect.stringMatching(/pacer\.py \S+ \/var\/lib\/ses-relay\/schedule$/),
    });
  });

  test('one pacer serves every SMTP client; a new rate restarts it, mail keeps to the rate', async () => {
    const before = pacer().pid;
    const second = world.runScript(Bootstrap.render(options({ maxSendRate: 4 })));
    expect(second.code).toBe(0);
    expect(second.stderr).toContain('at most 4 recipients/s, each delivery paced, over up to 2 connection(s)');
    await until(() => pacer().args.endsWith(' 4 /var/lib/ses-relay/schedule'), 30000, 'the pacer at the new rate');
    expect(pacer().pid).not.toBe(before);
    const from = standin.messages().length;
    const connections = standin.count('secure');
    for (let i = 0; i < 16; i++) send(`Burst ${i}`);
    await standin.waitFor(() => standin.messages().length >= from + 16, 60000, 'the burst');
    // Over two connections (two SMTP clients), one pacer: at most 4 in any second.
    expect(standin.count('secure') - connections).toBe(2);
    const pacers = world.exec(['bash', '-c', 'grep -l pacer[.]py /proc/[0-9]*/cmdline']).stdout;
    expect(pacers.trim().split('\n')).toEqual([`/proc/${pacer().pid}/cmdline`]);
    expect(standin.busiestSecond(from)).toBe(4);
  });

  test('a relay set up by an earlier release (a pacer spawned by Postfix per client) moves to the socket', async () => {
    // As the earlier release left it: the pacer in master.cf, no units. (Killed, not stopped: a
    // stopped pacer first serves its SMTP clients to their end, which Postfix keeps for 100 s.)
    const spawned = `ses-pace  unix  -       n       n       -       -       spawn user=ses-relay argv=/usr/bin/python3 -I -S /usr/local/libexec/ses-relay/pacer.py 4 /var/lib/ses-relay/schedule`;
    const earlier = [
      'systemctl disable --quiet ses-relay-pace.socket',
      'systemctl kill --signal=KILL ses-relay-pace.service',
      'systemctl stop ses-relay-pace.socket ses-relay-pace.service',
      'rm /etc/systemd/system/ses-relay-pace.socket /etc/systemd/system/ses-relay-pace.service',
      'systemctl daemon-reload',
      `echo '${spawned}' >>/etc/postfix/master.cf`,
      'postfix reload',
    ];
    expect(world.exec(['bash', '-ec', earlier.join('\n')]).code).toBe(0);
    send('Spawned');
    await standin.waitFor(() => arrived('Spawned').length > 0, 60000, 'the mail of the earlier release');
    const again = world.runScript(Bootstrap.render(options({ maxSendRate: 4 })));
    expect(again.code).toBe(0);
    expect(world.exec(['postconf', '-M', 'ses-pace/unix']).stdout).toBe('');
    expect(systemctl('is-active', 'ses-relay-pace.socket')).toEqual(['active']);
    send('Moved');
    await standin.waitFor(() => arrived('Moved').length > 0, 60000, 'the mail after the move');
    expect(pacer().user).toBe('ses-relay');
    expect(world.read('/var/log/maillog')).not.toMatch(/ses-pace.*(lookup error|No such file|Connection refused)/);
    // Run again as it is: the same pacer goes on serving.
    const serving = pacer().pid;
    expect(world.runScript(Bootstrap.render(options({ maxSendRate: 4 }))).code).toBe(0);
    expect(pacer().pid).toBe(serving);
  });

  test('a run that stopped before restarting a changed pacer leaves it marked: the next run restarts it, Postfix reloaded', async () => {
    // As a run leaves it that wrote the changed pacer's units, then stopped (set -e) before
    // restarting it and reloading Postfix. The old pacer ends once its SMTP clients close their
    // socketmap connections: Postfix, reloaded, ends them with their delivery (else an idle one
    // holds it 10 s, a busy one up to 100 s, new clients queued meanwhile).
    send('Before the restart');
    await standin.waitFor(() => arrived('Before the restart').length > 0, 60000, 'the mail before');
    const before = pacer().pid;
    const reloads = () => world.read('/var/log/maillog').match(/postfix\/master\[\d+\]: reload /g)?.length ?? 0;
    const reloaded = reloads();
    expect(world.exec(['touch', '/var/lib/ses-relay/restart']).code).toBe(0);
    expect(world.runScript(Bootstrap.render(options({ maxSendRate: 4 }))).code).toBe(0);
    // (Postfix's master logs the reload on its own time, through postlogd.)
    await until(() => reloads() > reloaded, 30000, 'Postfix reloaded');
    expect(reloads()).toBe(reloaded + 1);
    await until(() => ![0, before].includes(pacer().pid), 120000, 'the pacer restarted');
    expect(world.exec(['test', '-e', '/var/lib/ses-relay/restart']).code).toBe(1);
    send('After the restart');
    await standin.waitFor(() => arrived('After the restart').length > 0, 30000, 'the mail after');
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
    expect(running()).toEqual(['active', 'active', 'active', 0]);
    await standin.waitFor(() => arrived('Before the crash').length > 0, 90000, 'the mail after the boot');
    expect(arrived('Before the crash')).toHaveLength(1);
  });
});
