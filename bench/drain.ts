// Benchmark: a relay leaving its Auto Scaling group with a queue. Real Postfix configured by the
// rendered script, in the e2e test world, against the SES stand-in enforcing the send quota (a
// token bucket) behind a proxy adding the round trip; the instance metadata stand-in says
// "Terminated", and the relay's own refresh job drains. Two cases: SES takes the queue (it was
// down while the mail queued, and is back), and SES stays down so a peer relay (a second world)
// takes it and delivers it to its own SES. Debian, as root.
// Usage: tsx bench/drain.ts [--messages 1000] [--quota 50] [--rtt 20]
import { Bootstrap } from '../lib/bootstrap/bootstrap';
import { SmtpPassword } from '../lib/smtp/smtp-password';
import { type Standin, World, worldAvailable } from '../test/harness/world';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i].replace(/^--/, ''), process.argv[i + 1]);
const MESSAGES = Number(args.get('messages') ?? 1000);
const QUOTA = Number(args.get('quota') ?? 50);
const RTT = Number(args.get('rtt') ?? 20);

const USERNAME = 'AKIAIOSFODNN7EXAMPLE';
const PASSWORD = SmtpPassword.derive('wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'eu-west-1');
const SECRET_ID = 'ses-relay/smtp';
const OPTIONS = {
  smtpRegion: 'eu-west-1',
  secretId: SECRET_ID,
  relayNetworks: ['10.99.0.0/24'],
  lifecycleHook: 'ses-relay-drain',
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Node {
  world: World;
  standin: Standin;
  env: NodeJS.ProcessEnv;
  setState: (state: string) => void;
}

async function node(id: string, hostname: string, extra: NodeJS.ProcessEnv = {}): Promise<Node> {
  const world = World.create();
  world.exec(['hostname', hostname], { check: true });
  const standin = await world.startStandin({ username: USERNAME, password: PASSWORD }, { port: 10587, quota: QUOTA });
  await world.startDelayProxy(587, 10587, RTT / 2);
  const meta = (state: string) => ({
    'instance-id': id,
    'placement/region': 'eu-west-1',
    'autoscaling/target-lifecycle-state': state,
  });
  const write = await world.startImds(meta('InService'));
  const secret = JSON.stringify({ username: USERNAME, password: PASSWORD });
  const env = { ...world.awsEnv(SECRET_ID, secret), FAKE_AWS_MAX_SEND_RATE: String(QUOTA), ...extra };
  const run = world.runScript(Bootstrap.render(OPTIONS), env);
  if (run.code !== 0) throw new Error(`the rendered script failed: ${run.stderr}`);
  return { world, standin, env, setState: (state) => write(meta(state)) };
}

/** Queues MESSAGES messages while SES is down (in batches of 100 submissions). */
async function fill(n: Node): Promise<void> {
  await n.standin.setMode('down');
  for (let first = 1; first <= MESSAGES; first += 100)
    await n.world.submitMany(Math.min(100, MESSAGES - first + 1), first);
  for (let i = 0; i < 1200 && n.world.queue().length < MESSAGES; i++) await sleep(100);
}

const subjects = (s: Standin) => new Set(s.messages().map((m) => /^Subject: (.*)$/m.exec(m.raw)?.[1]));

async function toSes() {
  const n = await node('i-0relay', 'relay.e2e.test');
  try {
    await fill(n);
    await n.standin.setMode('accept');
    const start = Date.now();
    n.setState('Terminated');
    const r = await n.world.execAsync(['bash', '/usr/local/lib/ses-relay/refresh.sh'], n.env);
    const seconds = (Date.now() - start) / 1000;
    const delivered = subjects(n.standin).size;
    return {
      case: 'to SES',
      seconds: Number(seconds.toFixed(1)),
      delivered,
      lost: MESSAGES - delivered,
      throttled: n.standin.count('throttled'),
      completed: r.stderr.includes('lifecycle action completed'),
    };
  } finally {
    n.world.destroy();
  }
}

async function toPeer() {
  const relay = await node('i-0relay', 'relay.e2e.test', {
    FAKE_AWS_PEER_IDS: 'i-0peer',
    FAKE_AWS_PEER_IPS: '10.99.0.2',
    SES_RELAY_STALL_SECONDS: '10',
  });
  const peer = await node('i-0peer', 'peer.e2e.test');
  try {
    relay.world.link(peer.world, 'bp', '10.99.0.1', '10.99.0.2');
    await fill(relay);
    const start = Date.now();
    relay.setState('Terminated');
    const r = await relay.world.execAsync(['bash', '/usr/local/lib/ses-relay/refresh.sh'], relay.env);
    const handedOver = (Date.now() - start) / 1000;
    await peer.standin.waitFor(() => subjects(peer.standin).size >= MESSAGES, 600000, 'the peer delivering');
    const seconds = (Date.now() - start) / 1000;
    const delivered = subjects(peer.standin).size;
    return {
      case: 'to a peer, SES down',
      seconds: Number(seconds.toFixed(1)),
      handedOverAfter: Number(handedOver.toFixed(1)),
      delivered,
      duplicates: peer.standin.messages().length - delivered,
      lost: MESSAGES - delivered,
      throttled: peer.standin.count('throttled'),
      completed: r.stderr.includes('lifecycle action completed'),
    };
  } finally {
    relay.world.destroy();
    peer.world.destroy();
  }
}

async function main() {
  const unavailable = worldAvailable();
  if (unavailable) {
    console.error(`bench/drain: ${unavailable}`);
    process.exitCode = 1;
    return;
  }
  console.log(`drain: ${MESSAGES} queued messages, quota ${QUOTA}/s (token bucket), RTT ${RTT} ms`);
  for (const run of [toSes, toPeer]) console.log(JSON.stringify(await run()));
}

main();
