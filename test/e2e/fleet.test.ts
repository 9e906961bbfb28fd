// End-to-end, day 2 of a relay fleet: what a relay of an Auto Scaling group does after boot, on
// real Postfix in the test world (world.ts). The instance metadata service is a stand-in on
// 169.254.169.254 inside the world; a second world, joined by a veth pair, runs the peer relay
// with its own Postfix and its own SES stand-in; the AWS CLI stand-in records the calls to the
// group and CloudFormation.
import { Bootstrap } from '../../lib/bootstrap/bootstrap';
import { type Standin, World } from '../harness/world';
import { CREDS, describeWorld, options, ROTATED, SECRET_ID, SECRET_JSON, secretJson } from './suite';

jest.setTimeout(240000);

const USERNAME = CREDS.username;
const PASSWORD = CREDS.password;
const HOOK = 'ses-relay-drain';
const SIGNAL = 'SesRelay/HubAutoScalingGroup2D3E45F6';
// The relays' own network (the veth between the two worlds): each takes the other's queue on the
// hand-over port; port 25 relays for the clients' network only.
const OPTIONS = options({
  relayNetworks: ['198.51.100.0/24'],
  peerNetworks: ['10.99.0.0/24'],
  lifecycleHook: HOOK,
  signalResource: SIGNAL,
});

function metadata(instanceId: string, state = 'InService'): Record<string, string> {
  return {
    'instance-id': instanceId,
    'placement/region': 'eu-west-1',
    'autoscaling/target-lifecycle-state': state,
  };
}

interface Relay {
  world: World;
  standin: Standin;
  setMetadata: (items: Record<string, string>) => void;
  env: NodeJS.ProcessEnv;
}

/** A world with its SES stand-in and metadata, the script run in it (quota 50/s read from SES). */
async function relay(instanceId: string, extra: NodeJS.ProcessEnv = {}, secret = SECRET_JSON): Promise<Relay> {
  const world = World.create();
  try {
    const standin = await world.startStandin(CREDS);
    const setMetadata = await world.startImds(metadata(instanceId));
    const env = { ...world.awsEnv(SECRET_ID, secret), FAKE_AWS_MAX_SEND_RATE: '50', ...extra };
    return { world, standin, setMetadata, env };
  } catch (err) {
    world.destroy();
    throw err;
  }
}

function boot(r: Relay) {
  const run = r.world.runScript(Bootstrap.render(OPTIONS), r.env);
  if (run.code !== 0) throw new Error(`the script failed: ${run.stderr}`);
  return run;
}

/** Waits until Postfix holds `count` messages, all tried and deferred. */
async function waitQueued(world: World, count: number): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const lines = world
      .exec(['postqueue', '-j'])
      .stdout.split('\n')
      .filter((l) => l !== '');
    const deferred = lines.filter((l) => (JSON.parse(l) as { queue_name: string }).queue_name === 'deferred');
    if (deferred.length === count) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the queue never held ${count} deferred messages`);
}

function messageIds(standin: Standin): string[] {
  return standin.messages().map((m) => /^Message-ID:\s*(\S+)/im.exec(m.raw)?.[1] ?? 'none');
}

function subjects(standin: Standin): string[] {
  return standin.messages().map((m) => /^Subject: (.*)$/m.exec(m.raw)?.[1] ?? '');
}

const range = (n: number) => Array.from({ length: n }, (_, i) => `m${i + 1}`);

const DRAIN_LOG = '/var/log/ses-relay-drain.log';

/**
 * Marks the instance terminating (as the group's lifecycle hook does) and runs the periodic job;
 * what it logs also goes to DRAIN_LOG while it runs, for a test to follow.
 */
function terminate(r: Relay, instanceId: string, env: NodeJS.ProcessEnv) {
  r.setMetadata(metadata(instanceId, 'Terminated'));
  return r.world.execAsync(['bash', '-c', `bash /usr/local/lib/ses-relay/refresh.sh 2> >(tee ${DRAIN_LOG} >&2)`], {
    ...r.env,
    ...env,
  });
}

/** Waits until the running drain has logged a line matching `line` (a machine under load is slow). */
async function drainLogged(r: Relay, line: RegExp): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    if (line.test(r.world.exec(['cat', DRAIN_LOG]).stdout)) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`the drain never logged ${line}`);
}

const completeCall = `autoscaling complete-lifecycle-action --lifecycle-hook-name ${HOOK} --auto-scaling-group-name ses-relay-group --lifecycle-action-result CONTINUE --instance-id i-0relay --region eu-west-1`;

describeWorld('a relay of a group, its boot signal and its health', () => {
  let r: Relay;
  let run: ReturnType<World['runScript']>;
  beforeAll(async () => {
    r = await relay('i-0relay');
    run = boot(r);
  });
  afterAll(() => r?.world.destroy());

  test('a new relay signals SUCCESS to CloudFormation once an AUTH over verified TLS succeeded', async () => {
    expect(run.stderr).toContain(`signalled SUCCESS to ${SIGNAL}: authenticated as ${USERNAME} over verified TLS`);
    await r.standin.waitFor(() => r.standin.count('auth') > 0, 5000, 'the probe');
    expect(r.standin.events.filter((e) => e.event === 'auth')).toContainEqual(
      expect.objectContaining({ ok: true, secure: true, user: USERNAME }),
    );
    expect(r.standin.messages()).toEqual([]); // the probe sends no mail
    expect(r.world.awsCalls().map((c) => c.call)).toContain(
      `cloudformation signal-resource --stack-name SesRelay --logical-resource-id HubAutoScalingGroup2D3E45F6 --unique-id i-0relay --status SUCCESS --region eu-west-1`,
    );
    expect(run.stderr).not.toContain(PASSWORD);
  });

  test("SES unreachable is not the relay's fault: it keeps accepting, the mail waits", async () => {
    await r.standin.setMode('down');
    const h = r.world.exec(['bash', '/usr/local/lib/ses-relay/health.sh'], { env: r.env });
    expect(h.code).toBe(2);
    expect(h.stderr).toMatch(/SES not reachable now, mail waits in the queue: .*not reachable/);
    expect(r.world.exec(['ss', '-Hltn']).stdout).toMatch(/0\.0\.0\.0:25\b/);
    await r.standin.setMode('accept');
  });

  test('a relay whose AUTH is refused three probes in a row stops accepting and reports itself unhealthy, unless no other relay could take over', async () => {
    await r.standin.setMode('535');
    const health = (env: NodeJS.ProcessEnv = {}) =>
      r.world.exec(['bash', '/usr/local/lib/ses-relay/health.sh'], { env: { ...r.env, ...env } });
    const first = health();
    expect(first.code).toBe(1);
    expect(first.stderr).toMatch(/cannot deliver \(1 of 3\): AUTH refused as AKIAIOSFODNN7EXAMPLE: 535/);
    expect(health().stderr).toContain('cannot deliver (2 of 3)');
    // No other healthy relay in the group: replacing this one would not help; it stays, mail deferred.
    const alone = health();
    expect(alone.stderr).toContain(
      'ERROR: cannot deliver, and no other healthy relay could take over: staying in service',
    );
    expect(r.world.exec(['ss', '-Hltn']).stdout).toMatch(/0\.0\.0\.0:25\b/);
    expect(
      r.world
        .awsCalls()
        .map((c) => c.call)
        .join('\n'),
    ).not.toContain('set-instance-health');
    // With a healthy peer: out of service and replaced.
    const third = health({ FAKE_AWS_PEER_IDS: 'i-0relay\ti-0peer', FAKE_AWS_PEER_IPS: '10.99.0.2' });
    expect(third.stderr).toContain('UNHEALTHY: out of service and marked Unhealthy for replacement');
    expect(r.world.awsCalls().map((c) => c.call)).toContain(
      'autoscaling set-instance-health --instance-id i-0relay --health-status Unhealthy --region eu-west-1',
    );
    // Out of the load balancer: nothing listens on the SMTP ports any more; local mail still queues.
    expect(r.world.exec(['ss', '-Hltn']).stdout).not.toMatch(/:25\b|:2525\b/);
    for (const text of [first.stderr, third.stderr]) expect(text).not.toContain(PASSWORD);
  });
});

describeWorld('a relay leaving its group while SES is down, SES coming back', () => {
  let r: Relay;
  beforeAll(async () => {
    r = await relay('i-0relay');
    boot(r);
  });
  afterAll(() => r?.world.destroy());

  test('50 queued messages all reach SES before the lifecycle action completes', async () => {
    await r.standin.setMode('down');
    await r.world.submitMany(50);
    await waitQueued(r.world, 50);
    const drain = terminate(r, 'i-0relay', { SES_RELAY_STALL_SECONDS: '60' });
    // SES stays down until the drain has counted the queue (not a fixed wait: under load the job
    // may take seconds to get there, and SES back sooner would empty the queue before it).
    await drainLogged(r, /terminating: draining \d+ queued/);
    // The user data run again meanwhile (a tool re-applying it), or the boot by hand, changes
    // nothing: no new settings or program under the drain, and the relay does not listen again and
    // take mail the instance would take with it.
    const settings = r.world.read('/etc/ses-relay/settings');
    const userData = r.world.runScript(Bootstrap.render({ ...OPTIONS, relayCount: 3 }), r.env, 'again.sh');
    const boot = await r.world.execAsync(['bash', '/usr/local/lib/ses-relay/boot.sh'], r.env);
    for (const again of [userData, boot]) {
      expect(again.stderr).toContain('this relay is draining (its group is terminating it): left out of service');
      expect(again.code).toBe(0);
    }
    expect(r.world.read('/etc/ses-relay/settings')).toBe(settings);
    expect(r.world.exec(['ss', '-Hltn']).stdout).not.toMatch(/:25\b/);
    await r.standin.setMode('accept');
    const result = await drain;
    expect(result.stderr).toContain('terminating: draining 50 queued message(s) to SES');
    expect(result.stderr).toContain('drained: the queue is empty');
    expect(result.code).toBe(0);
    expect(subjects(r.standin).sort()).toEqual(range(50).sort());
    expect(new Set(messageIds(r.standin)).size).toBe(50);
    const complete = r.world.awsCalls().filter((c) => c.call === completeCall);
    expect(complete).toHaveLength(1);
    const lastDelivery = Math.max(...r.standin.events.filter((e) => e.event === 'message').map((e) => Number(e.at)));
    expect(complete[0].at).toBeGreaterThan(lastDelivery);
    expect(r.world.queue()).toEqual([]);
    // It stopped accepting new mail first.
    expect(r.world.exec(['ss', '-Hltn']).stdout).not.toMatch(/:25\b/);
  });
});

describeWorld('a relay leaving its group while SES stays down, with a peer relay', () => {
  let r: Relay;
  let peer: Relay;
  beforeAll(async () => {
    r = await relay('i-0relay', { FAKE_AWS_PEER_IDS: 'i-0relay\ti-0peer', FAKE_AWS_PEER_IPS: '10.99.0.2' });
    peer = await relay('i-0peer');
    peer.world.exec(['hostname', 'peer.e2e.test'], { check: true }); // two hosts, two names
    r.world.link(peer.world, 'pr', '10.99.0.1', '10.99.0.2');
    boot(r);
    boot(peer);
  });
  afterAll(() => {
    r?.world.destroy();
    peer?.world.destroy();
  });

  test("a peer may not relay through port 25: the relays' network is trusted on the hand-over port only", () => {
    const swaks = peer.world.exec([
      'swaks',
      '--server',
      '10.99.0.1',
      '--port',
      '25',
      '--from',
      'peer@example.com',
      '--to',
      'victim@example.net',
      '--timeout',
      '20',
    ]);
    expect(swaks.stdout).toMatch(/-> RCPT TO:.*\n<\*\* 554 5\.7\.1/);
    expect(r.world.exec(['postconf', '-h', 'mynetworks']).stdout.trim()).toBe('127.0.0.0/8 198.51.100.0/24');
    expect(r.world.exec(['postconf', '-M', '2525/inet']).stdout).toContain(
      'smtpd -o syslog_name=postfix/peer-in -o mynetworks=127.0.0.0/8,10.99.0.0/24',
    );
  });

  test('all 50 reach the peer, then SES from there: none lost, none duplicated', async () => {
    await r.standin.setMode('down');
    await r.world.submitMany(50);
    await waitQueued(r.world, 50);
    const result = await terminate(r, 'i-0relay', { SES_RELAY_STALL_SECONDS: '5' });
    expect(result.stderr).toContain('SES is not taking the queue (50 left): handing it to peer relay 10.99.0.2');
    expect(result.stderr).toContain('drained: the queue is empty (the rest handed to 10.99.0.2)');
    expect(result.code).toBe(0);
    await peer.standin.waitFor(() => peer.standin.messages().length >= 50, 60000, 'the peer delivering');
    expect(r.standin.messages()).toEqual([]);
    expect(subjects(peer.standin).sort()).toEqual(range(50).sort());
    expect(new Set(messageIds(peer.standin)).size).toBe(50);
    // The peer authenticated to its SES itself; ours never sent our credentials to the peer.
    expect(peer.standin.messages().every((m) => m.from === 'sender@example.com')).toBe(true);
    expect(r.world.awsCalls().filter((c) => c.call === completeCall)).toHaveLength(1);
    expect(await peer.world.waitForEmptyQueue()).toEqual([]);
    expect(r.world.read('/var/log/maillog')).not.toMatch(/status=bounced/);
    expect(peer.world.read('/var/log/maillog')).not.toMatch(/status=bounced/);
  });
});

describeWorld('a relay leaving its group with no peer and SES down', () => {
  let r: Relay;
  beforeAll(async () => {
    r = await relay('i-0relay');
    boot(r);
  });
  afterAll(() => r?.world.destroy());

  test('keeps trying SES and looking for peers up to the limit, then says loudly and exactly what is left', async () => {
    await r.standin.setMode('down');
    await r.world.submitMany(3);
    await waitQueued(r.world, 3);
    const ids = r.world.queue().sort();
    const result = await terminate(r, 'i-0relay', { SES_RELAY_STALL_SECONDS: '3', SES_RELAY_GIVE_UP_AFTER: '8' });
    expect(result.stderr).toContain(
      'WARNING: no peer relay took the queue (3 left); trying SES again and looking for peers',
    );
    expect(result.stderr).toContain('ERROR: terminating with 3 message(s) undelivered');
    const left = [
      ...result.stderr.matchAll(/LEFT IN QUEUE: (\S+) from=<sender@example\.com> to=<(user\d@example\.com)>/g),
    ];
    expect(left.map((m) => m[1]).sort()).toEqual(ids);
    expect(left.map((m) => m[2]).sort()).toEqual(['user1@example.com', 'user2@example.com', 'user3@example.com']);
    expect(r.world.awsCalls().filter((c) => c.call === completeCall)).toHaveLength(1);
  });
});

describeWorld('a relay booting before its secret holds credentials', () => {
  let r: Relay;
  beforeAll(async () => {
    // What a Secrets Manager secret holds before the custom resource writes it: a generated string.
    r = await relay('i-0relay', { SES_RELAY_CREDENTIALS_WAIT: '60' }, 'k3V8pq2LmZ7xR4tY9wB1nC6dF0gH5jJs');
  });
  afterAll(() => r?.world.destroy());

  test('waits, then converges when the real credentials appear', async () => {
    const secretFile = String(r.env.FAKE_AWS_SECRET_FILE);
    r.world.exec([
      'bash',
      '-c',
      `(sleep 5; printf '%s' '${SECRET_JSON}' > ${secretFile}.new; mv ${secretFile}.new ${secretFile}) >/dev/null 2>&1 &`,
    ]);
    const run = boot(r);
    expect(run.stderr).toContain(
      `secret ${SECRET_ID} has no valid "username" (the SMTP user name, an access key id) yet; retrying in 2s`,
    );
    expect(run.stderr).toContain(`signalled SUCCESS to ${SIGNAL}`);
    r.world.sendmail('sender@example.com', ['recipient@example.com'], 'Subject: after the wait\n\nhello\n');
    await r.standin.waitFor(() => r.standin.messages().length === 1, 30000, 'delivery');
    expect(r.standin.messages()[0].user).toBe(USERNAME);
  });
});

describeWorld('a rotated key reaching a running relay while mail flows', () => {
  const NEW = ROTATED;
  let r: Relay;
  beforeAll(async () => {
    r = await relay('i-0relay');
    boot(r);
  });
  afterAll(() => r?.world.destroy());

  test('the refresh switches Postfix to the new key; nothing is lost, bounced or refused', async () => {
    // Both keys valid, as between finishSecret and the deletion of the previous key.
    await r.standin.setCredentials([CREDS, NEW]);
    const flow = r.world.submitMany(60, 1, 10);
    await new Promise((res) => setTimeout(res, 2000));
    r.world.exec(['bash', '-c', `cat > ${r.env.FAKE_AWS_SECRET_FILE}`], {
      input: secretJson(NEW),
      check: true,
    });
    // The periodic job as the timer runs it (its lock, its subshell), not only the credentials job.
    const refresh = await r.world.execAsync(['bash', '/usr/local/lib/ses-relay/refresh.sh'], r.env);
    expect(refresh.stderr).toContain(
      `credentials refreshed: Postfix now authenticates as ${NEW.username} (was ${USERNAME})`,
    );
    expect(refresh.code).toBe(0);
    await flow;
    await r.standin.waitFor(() => r.standin.messages().length >= 60, 60000, 'the flow');
    // The previous key is deleted: only the new one works from now on.
    await r.standin.setCredentials([NEW]);
    await new Promise((res) => setTimeout(res, 6000)); // past the connection cache: new sessions
    await r.world.submitMany(20, 61);
    await r.standin.waitFor(() => r.standin.messages().length >= 80, 60000, 'after the deletion');
    expect(subjects(r.standin).sort()).toEqual(range(80).sort());
    expect(new Set(messageIds(r.standin)).size).toBe(80);
    expect(
      r.standin
        .messages()
        .slice(60)
        .every((m) => m.user === NEW.username),
    ).toBe(true);
    expect(r.standin.events.filter((e) => e.event === 'auth' && e.ok !== true)).toEqual([]);
    const log = r.world.read('/var/log/maillog');
    // A refused AUTH is logged as "SASL authentication failed; server ... said: 535 ..."; a bare /535/
    // would also match queue ids (hexadecimal, e.g. 105352C8686).
    expect(log).not.toMatch(/status=(bounced|deferred)|SASL authentication failed|said: 535/);
    expect(refresh.stderr + log).not.toContain(NEW.password);
    expect(await r.world.waitForEmptyQueue()).toEqual([]);
  });
});
