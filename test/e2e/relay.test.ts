// End-to-end: the rendered boot script, run unmodified as root against real Postfix (Debian's
// package) in an isolated world, relaying to a local SES stand-in. See world.ts for the world.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { Bootstrap } from '../../lib/bootstrap/bootstrap';
import { SES_HOST, type Standin, World } from '../harness/world';
import { installerOf } from '../helpers/rendered';
import { CREDS, describeWorld, options, SECRET_ID, SECRET_JSON } from './suite';

jest.setTimeout(180000);

const USERNAME = CREDS.username;
const PASSWORD = CREDS.password;

const PLAIN_MAIL =
  'From: Sender Name <sender@example.com>\nSubject: Amazon SES Test\nThis message was sent using Amazon SES.\n';
const MIME_MAIL = readFileSync(join(__dirname, '..', 'fixtures', 'mime-email.txt'), 'utf8');

/** Sends a message and waits until the stand-in has one more. */
async function deliver(world: World, standin: Standin, message: string, to = ['recipient@example.com']) {
  const before = standin.messages().length;
  world.sendmail('sender@example.com', to, message);
  await standin.waitFor(() => standin.messages().length > before, 30000, 'delivery');
  return standin.messages()[before];
}

/** Waits until Postfix has tried (and deferred) the queued mail: the queue holds it with a reason. */
async function waitDeferred(world: World, what: string): Promise<string> {
  for (let i = 0; i < 300; i++) {
    const out = world.exec(['postqueue', '-j']).stdout.trim();
    const reasons = out
      .split('\n')
      .filter((l) => l !== '')
      .flatMap((l) => (JSON.parse(l) as { recipients: { delay_reason?: string }[] }).recipients)
      .map((r) => r.delay_reason ?? '')
      .filter((r) => r !== '');
    if (reasons.length > 0) return reasons.join('\n');
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`mail was never deferred (${what})`);
}

function headerValues(raw: string, name: string): string[] {
  const head = raw.split(/\r?\n\r?\n/)[0];
  return head
    .split(/\r?\n/)
    .filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`))
    .map((l) => l.slice(name.length + 1).trim());
}

describeWorld('null client with a configuration set (port 587, STARTTLS)', () => {
  let world: World;
  let standin: Standin;
  let first: ReturnType<World['runScript']>;
  const script = Bootstrap.render(options({ configurationSetName: 'relay-set' }));

  beforeAll(async () => {
    world = World.create();
    standin = await world.startStandin(CREDS);
    first = world.runScript(script, world.awsEnv(SECRET_ID, SECRET_JSON));
  });
  afterAll(() => world?.destroy());

  test('the script succeeds and leaves Postfix running', () => {
    expect(first.stderr).toContain('relays through [email-smtp.eu-west-1.amazonaws.com]:587 for this host only');
    expect(first.stderr).toContain('cannot read the SES send quota (ses:GetAccount); keeping to 1 message/s');
    expect(first.code).toBe(0);
    expect(world.exec(['postfix', 'status']).code).toBe(0);
  });

  test('the procedure plain test mail arrives, authenticated over verified TLS', async () => {
    const msg = await deliver(world, standin, PLAIN_MAIL);
    expect(msg.from).toBe('sender@example.com');
    expect(msg.to).toEqual(['recipient@example.com']);
    const parsed = await simpleParser(msg.raw);
    expect(parsed.subject).toBe('Amazon SES Test');
    expect(parsed.text?.trim()).toBe('This message was sent using Amazon SES.');
    expect(headerValues(msg.raw, 'X-SES-CONFIGURATION-SET')).toEqual(['relay-set']);
    const auths = standin.events.filter((e) => e.event === 'auth');
    expect(auths.length).toBeGreaterThan(0);
    expect(auths.every((a) => a.ok === true && a.secure === true && a.user === USERNAME)).toBe(true);
    expect(world.read('/var/log/maillog')).toMatch(/Verified TLS connection established to email-smtp\.eu-west-1/);
    // Verified against Debian's hashed CA directory (the test CA is there, and in the bundle the
    // probe reads), by tlsproxy outside the chroot, where it can read that directory.
    expect(world.exec(['postconf', '-h', 'smtp_tls_CApath', 'smtp_tls_CAfile']).stdout).toBe('/etc/ssl/certs\n\n');
    expect(world.exec(['postconf', '-M', 'tlsproxy/unix']).stdout).toMatch(
      /^tlsproxy\s+unix\s+-\s+-\s+n\s+-\s+0\s+tlsproxy$/m,
    );
  });

  test('the MIME multipart example arrives intact and keeps its own configuration set', async () => {
    const msg = await deliver(world, standin, MIME_MAIL);
    const parsed = await simpleParser(msg.raw);
    expect(headerValues(msg.raw, 'X-SES-CONFIGURATION-SET')).toEqual(['ConfigSet']);
    expect(parsed.html).toContain('<h1>Amazon SES Test</h1>');
    expect(parsed.html).toContain('ses:tags="samplekey0:samplevalue0;samplekey1:samplevalue1;"');
    expect(parsed.text).toContain('This message was sent from Amazon SES using the SMTP interface.');
    expect(parsed.attachments).toHaveLength(1);
    expect(parsed.attachments[0].filename).toBe('customers.txt');
    expect(parsed.attachments[0].content.toString('utf8')).toBe(
      'ID,FirstName,LastName,Country\n348,John,Stiles,Canada\n92389,Jie,Liu,China\n734,Shirley,Rodriguez,United States\n2893,Anaya,Iyengar,India',
    );
  });

  test('sasl_passwd is root-only from the moment it exists, and written by rename', () => {
    for (const f of ['/etc/postfix/sasl_passwd', '/etc/postfix/sasl_passwd.db']) {
      expect(world.exec(['stat', '-c', '%a %U', f]).stdout.trim()).toBe('600 root');
    }
    const lines = first.trace.split('\n');
    // mktemp creates the text file exclusively with mode 0600 under its temporary name...
    expect(
      lines.some((l) =>
        /openat\(.*"\/etc\/postfix\/\.sasl_passwd\.[A-Za-z0-9]{6}", O_RDWR\|O_CREAT\|O_EXCL, 0600\)/.test(l),
      ),
    ).toBe(true);
    // ...the final name is never created by an open, only by the atomic rename.
    expect(lines.filter((l) => /"\/etc\/postfix\/sasl_passwd", [^)]*O_CREAT/.test(l))).toEqual([]);
    expect(first.trace).toMatch(
      /rename(at2?)?\(.*"\/etc\/postfix\/\.sasl_passwd\.[A-Za-z0-9]{6}", .*"\/etc\/postfix\/sasl_passwd"/,
    );
  });

  test('the password appears in no output, log, command line, environment or the script', () => {
    expect(world.read('/etc/postfix/sasl_passwd')).toContain(PASSWORD);
    expect(first.trace).toContain('execve('); // the trace did record the commands run
    for (const text of [first.stdout, first.stderr, first.trace, world.read('/var/log/maillog'), script]) {
      expect(text).not.toContain(PASSWORD);
    }
  });

  test('it listens on loopback only', () => {
    const listening = world.exec(['ss', '-Hltn']).stdout;
    expect(listening).toMatch(/127\.0\.0\.1:25\b/);
    expect(listening).not.toMatch(/(0\.0\.0\.0|\*|\[::\]):25\b/);
  });

  test('a second run succeeds and changes nothing', () => {
    const files = [
      '/etc/postfix/main.cf',
      '/etc/postfix/master.cf',
      '/etc/postfix/sasl_passwd',
      '/etc/postfix/sasl_passwd.db',
    ];
    const before = files.map(
      (f) => world.exec(['stat', '-c', '%Y %s %a', f]).stdout + world.exec(['sha256sum', f]).stdout,
    );
    const pid = world.read('/var/spool/postfix/pid/master.pid').trim();
    const logBefore = world.read('/var/log/maillog');
    const second = world.runScript(script, world.awsEnv(SECRET_ID, SECRET_JSON), 'second.sh');
    expect(second.code).toBe(0);
    expect(
      files.map((f) => world.exec(['stat', '-c', '%Y %s %a', f]).stdout + world.exec(['sha256sum', f]).stdout),
    ).toEqual(before);
    expect(world.read('/var/spool/postfix/pid/master.pid').trim()).toBe(pid);
    expect(world.read('/var/log/maillog').slice(logBefore.length)).not.toMatch(/reload|starting the Postfix/);
  });

  test('SES down: mail stays queued, and is delivered when SES returns', async () => {
    // The mail of the tests before has gone (the pacer may hold its last delivery up to a turn).
    expect(await world.waitForEmptyQueue()).toEqual([]);
    await standin.setMode('down');
    const before = standin.messages().length;
    world.sendmail('sender@example.com', ['recipient@example.com'], PLAIN_MAIL);
    expect(await waitDeferred(world, 'down')).toMatch(/connect to .*Connection refused/);
    expect(world.queue()).toHaveLength(1);
    await standin.setMode('accept');
    world.flush();
    await standin.waitFor(() => standin.messages().length > before, 30000, 'redelivery');
    expect(await world.waitForEmptyQueue()).toEqual([]);
  });

  test.each([
    ['454', /454 Throttling failure/],
    ['535', /535 Authentication Credentials Invalid/],
  ] as const)('a %s reply defers (never bounces), then the mail is delivered', async (mode, reason) => {
    await standin.setMode(mode);
    const before = standin.messages().length;
    world.sendmail('sender@example.com', ['recipient@example.com'], PLAIN_MAIL);
    expect(await waitDeferred(world, mode)).toMatch(reason);
    await standin.setMode('accept');
    world.flush();
    await standin.waitFor(() => standin.messages().length > before, 30000, 'redelivery');
    expect(await world.waitForEmptyQueue()).toEqual([]);
    const log = world.read('/var/log/maillog');
    expect(log).not.toMatch(/status=bounced/);
    // No non-delivery report was generated: the stand-in received exactly the one message.
    expect(
      standin
        .messages()
        .slice(before)
        .map((m) => m.from),
    ).toEqual(['sender@example.com']);
  });

  test.each([
    ['a certificate for another name from a trusted CA', 'impostor'],
    ['a self-signed certificate for the right name', 'selfsigned'],
  ])('an impostor with %s never receives AUTH; the mail stays queued', async (_what, cert) => {
    await standin.setMode('down');
    const impostor = await world.startStandin(CREDS, { cert });
    try {
      world.sendmail('sender@example.com', ['recipient@example.com'], PLAIN_MAIL);
      expect(await waitDeferred(world, cert)).toMatch(
        /certificate verification failed|Server certificate not verified/,
      );
      // The impostor was reached (its event may arrive just after Postfix logged the deferral).
      await impostor.waitFor(() => impostor.count('connect') > 0, 5000, 'connection to the impostor');
      expect(impostor.count('auth')).toBe(0);
      expect(impostor.messages()).toHaveLength(0);
      expect(world.queue()).toHaveLength(1);
    } finally {
      await impostor.stop();
    }
    // The real endpoint is back: the held mail goes out.
    const before = standin.messages().length;
    await standin.setMode('accept');
    world.flush();
    await standin.waitFor(() => standin.messages().length > before, 30000, 'delivery after impostor');
    expect(await world.waitForEmptyQueue()).toEqual([]);
  });

  test('switching to relay-hub mode restarts Postfix on all interfaces (run last)', () => {
    const pid = world.read('/var/spool/postfix/pid/master.pid').trim();
    const hub = world.runScript(
      Bootstrap.render(options({ configurationSetName: 'relay-set', relayNetworks: ['198.51.100.0/24'] })),
      world.awsEnv(SECRET_ID, SECRET_JSON),
      'hub.sh',
    );
    expect(hub.code).toBe(0);
    expect(world.read('/var/spool/postfix/pid/master.pid').trim()).not.toBe(pid);
    expect(world.exec(['ss', '-Hltn']).stdout).toMatch(/0\.0\.0\.0:25\b/);
    expect(world.exec(['postconf', '-h', 'mynetworks']).stdout.trim()).toBe('127.0.0.0/8 198.51.100.0/24');
  });
});

describeWorld('relay hub for 198.51.100.0/24 (port 465, TLS wrapper)', () => {
  let world: World;
  let standin: Standin;
  let inside: (cmd: string[]) => { code: number; stdout: string; stderr: string };
  let outside: typeof inside;
  let run: ReturnType<World['runScript']>;

  beforeAll(async () => {
    world = World.create();
    standin = await world.startStandin(CREDS, { port: 465, wrapper: true });
    inside = world.addHost('in', '198.51.100.1', '198.51.100.10', 24);
    outside = world.addHost('out', '203.0.113.1', '203.0.113.10', 24);
    run = world.runScript(
      Bootstrap.render(options({ smtpPort: 465, relayNetworks: ['198.51.100.0/24'] })),
      world.awsEnv(SECRET_ID, SECRET_JSON),
    );
  });
  afterAll(() => world?.destroy());

  const swaks = (host: typeof inside, to: string) =>
    host([
      'swaks',
      '--server',
      '198.51.100.1',
      '--port',
      '25',
      '--helo',
      'client.example',
      '--from',
      'app@example.com',
      '--to',
      to,
      '--timeout',
      '20',
      '--body',
      'hub test',
    ]);

  test('the script succeeds in relay-hub mode', () => {
    expect(run.stderr).toContain('for loopback and 198.51.100.0/24');
    expect(run.code).toBe(0);
    expect(world.exec(['postconf', '-h', 'smtp_tls_wrappermode']).stdout.trim()).toBe('yes');
  });

  test('a host in an allowed network relays through SES', async () => {
    const r = swaks(inside, 'recipient@example.com');
    expect(r.stdout).toMatch(/<- {2}250 .*queued as/);
    await standin.waitFor(() => standin.messages().length === 1, 30000, 'hub delivery');
    expect(standin.messages()[0].to).toEqual(['recipient@example.com']);
    expect(standin.events.find((e) => e.event === 'auth')).toMatchObject({ ok: true, secure: true });
  });

  test('a run without configuration set keeps the header checks the host already had', () => {
    world.exec(['postconf', '-e', 'header_checks = regexp:/etc/postfix/site_header_checks'], { check: true });
    const again = world.runScript(
      Bootstrap.render(options({ smtpPort: 465, relayNetworks: ['198.51.100.0/24'] })),
      world.awsEnv(SECRET_ID, SECRET_JSON),
      'again.sh',
    );
    expect(again.code).toBe(0);
    expect(world.exec(['postconf', '-h', 'header_checks']).stdout.trim()).toBe(
      'regexp:/etc/postfix/site_header_checks',
    );
    world.exec(['postconf', '-e', 'header_checks ='], { check: true });
  });

  test.each([
    ['a plain recipient', 'victim@example.net'],
    ['a %-hack recipient', 'victim%example.net@relay.e2e.test'],
    ['a source-routed recipient', '@relay.e2e.test:victim@example.net'],
  ])('an outsider is refused at RCPT for %s, and nothing is queued', (_what, to) => {
    const before = standin.messages().length;
    const r = swaks(outside, to);
    expect(r.stdout).toMatch(/-> RCPT TO:.*\n<\*\* 554 5\.7\.1/);
    expect(r.code).not.toBe(0);
    expect(world.queue()).toHaveLength(0);
    expect(standin.messages()).toHaveLength(before);
  });
});

describeWorld('credentials unavailable: the script fails closed', () => {
  let world: World;
  beforeAll(() => {
    world = World.create();
  });
  afterAll(() => world?.destroy());

  function assertNotRelaying() {
    expect(world.exec(['test', '-e', '/etc/postfix/sasl_passwd']).code).not.toBe(0);
    expect(world.exec(['postfix', 'status']).code).not.toBe(0);
    expect(world.exec(['test', '-e', '/etc/postfix/main.cf']).code).not.toBe(0);
  }

  test('access denied fails at once with the reason', () => {
    const r = world.runScript(Bootstrap.render(options()), world.awsEnv(SECRET_ID, SECRET_JSON, 'denied'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/error: Secrets Manager refused to return ses-relay\/smtp: .*AccessDeniedException/);
    expect(r.stderr).not.toMatch(/retrying/);
    assertNotRelaying();
  });

  test('no instance credentials: retries, then gives up', () => {
    const env = { ...world.awsEnv(SECRET_ID, SECRET_JSON, 'nocreds'), SES_RELAY_CREDENTIALS_WAIT: '3' };
    const r = world.runScript(Bootstrap.render(options()), env);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/credentials not available yet \(Unable to locate credentials/);
    expect(r.stderr).toMatch(/error: could not fetch valid credentials from ses-relay\/smtp in time/);
    assertNotRelaying();
  });

  test('an unsupported distribution is refused by name, before anything is installed or fetched', () => {
    const fake = join(world.dir, 'os-release');
    writeFileSync(fake, 'ID=alpine\nVERSION_ID=3.20.0\n');
    world.exec(['mount', '--bind', fake, '/etc/os-release'], { check: true });
    try {
      const r = world.runScript(Bootstrap.render(options()), world.awsEnv(SECRET_ID, SECRET_JSON), 'alpine.sh');
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(
        "error: unsupported distribution 'alpine 3.20.0'; supported: Debian 12 and 13, Ubuntu 22.04, 24.04 and 26.04",
      );
      expect(r.trace).not.toMatch(/execve\("[^"]*\/(aws|apt-get|dnf|yum)"/);
    } finally {
      world.exec(['umount', '/etc/os-release'], { check: true });
    }
    assertNotRelaying();
  });

  test('a secret without a valid password (not written yet) is waited for, then refused', () => {
    const env = {
      ...world.awsEnv(SECRET_ID, JSON.stringify({ username: USERNAME })),
      SES_RELAY_CREDENTIALS_WAIT: '3',
    };
    const r = world.runScript(Bootstrap.render(options()), env);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('has no valid "password" (the SES SMTP password) yet; retrying in 2s');
    expect(r.stderr).toMatch(/error: could not fetch valid credentials from ses-relay\/smtp in time/);
    assertNotRelaying();
  });
});

test('the world is checked against the real SES host name', () => {
  expect(SES_HOST).toBe(installerOf(Bootstrap.render(options())).match(/^SES_HOST='([^']+)'$/m)?.[1]);
});
