// Benchmark: real Postfix configured by our rendered script and by the procedure's literal
// configuration, side by side in one run, against the SES stand-in enforcing a send-rate quota
// (recipients per second) behind a proxy that adds network latency, by each of the stand-in's rate
// models: a token bucket and a strict sliding second. Debian, as root (it builds the e2e world).
// Usage: tsx bench/relay.ts [--quota 50] [--rtt 20] [--burst 6*quota] [--burst-timeout 60]
//          [--sustained-rate 1.5*quota] [--sustained-seconds 20] [--only ses-relay|procedure]
//          [--rate-model bucket|window] (both unless given) [--recipients 1] [--smtp-port 587]
//          [--system namespaces|booted] [--burst-from smtp|queue]
// Counts are recipients (what SES's quota counts): --recipients N sends each message to N.
// --smtp-port: the SES port ses-relay is rendered with (465, 2465: TLS from the first byte; the
// stand-in then speaks so); the procedure's is 587. --system booted: ses-relay on Debian 12 booted
// with systemd (systemd-nspawn, test/harness/bare-world.ts), as on an instance; by default, the
// host's Postfix in the e2e world's namespaces (no systemd: each SMTP client spawns its pacer).
// --burst-from queue: the burst is submitted on hold and released at once, its clock started at the
// release: the delivery side alone, without the submission (smtp-source, smtpd, cleanup and its
// fsync) in the same seconds.
import { Bootstrap } from '../lib/bootstrap/bootstrap';
import { SmtpTlsMode, tlsModeOf } from '../lib/smtp/endpoints';
import { SmtpPassword } from '../lib/smtp/smtp-password';
import { BareWorld } from '../test/harness/bare-world';
import {
  type RunResult,
  SES_HOST,
  type Standin,
  type StandinOptions,
  World,
  type WorldCredentials,
  worldAvailable,
} from '../test/harness/world';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i].replace(/^--/, ''), process.argv[i + 1]);
const num = (k: string, d: number) => Number(args.get(k) ?? d);
const QUOTA = num('quota', 50);
const RTT = num('rtt', 20);
const RECIPIENTS = num('recipients', 1);
// Whole messages: the counts below are what is sent.
const SENT = (recipients: number) => Math.ceil(recipients / RECIPIENTS) * RECIPIENTS;
const BURST = SENT(num('burst', Math.ceil(6 * QUOTA)));
const BURST_TIMEOUT = num('burst-timeout', 60);
const SUSTAINED_RATE = num('sustained-rate', 1.5 * QUOTA);
const SUSTAINED_SECONDS = num('sustained-seconds', 20);
const ONLY = args.get('only');
const MODELS = (args.get('rate-model') ?? 'bucket,window').split(',') as ('bucket' | 'window')[];
const SMTP_PORT = num('smtp-port', 587);
const BOOTED = args.get('system') === 'booted';
if (!['namespaces', 'booted'].includes(args.get('system') ?? 'namespaces'))
  throw new Error('--system: namespaces or booted');
const QUEUED = args.get('burst-from') === 'queue';
if (!['smtp', 'queue'].includes(args.get('burst-from') ?? 'smtp')) throw new Error('--burst-from: smtp or queue');
tlsModeOf(SMTP_PORT); // an SES port, or the error that names them

const USERNAME = 'AKIAIOSFODNN7EXAMPLE';
const PASSWORD = SmtpPassword.derive('wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'eu-west-1');
const SECRET_ID = 'ses-relay/smtp';
const STANDIN_PORT = 10587;

interface Figures {
  delivered: number;
  seconds: number;
  perS: number;
  tlsHandshakes: number;
  throttled: number;
  /** The most recipients the stand-in accepted in any one second (by the time of their DATA command). */
  busiestSecond: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Where a configuration runs: the e2e world (World) or a booted bare system (BareWorld). */
interface Host {
  startStandin(creds: WorldCredentials, opts: StandinOptions): Promise<Standin>;
  startDelayProxy(listen: number, target: number, delayMs: number): Promise<Standin>;
  exec(cmd: string[], opts?: { check?: boolean }): RunResult;
  execAsync(cmd: string[]): Promise<RunResult>;
  destroy(): void | Promise<void>;
}

/**
 * Runs `script` in the world between two readings of the clock it shares with the stand-in:
 * when it began and when it ended (ms), not counting this process's start of it or its wait for
 * the end. (Kept in a file: a process's output may still be on its way when its exit is seen.)
 */
async function timed(world: Host, what: string, script: string): Promise<[number, number]> {
  const file = `/tmp/ses-relay-bench.${process.pid}.times`;
  const clock = `date +%s%3N >>${file}`;
  const r = await world.execAsync(['bash', '-c', `rm -f ${file}; ${clock}; ${script}\ns=$?; ${clock}; exit $s`]);
  const times = world.exec(['cat', file]).stdout.trim().split('\n').map(Number);
  world.exec(['rm', '-f', file]);
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.stderr}`);
  if (times.length !== 2 || !times.every((t) => t > 1e12)) throw new Error(`no clock readings around ${what}`);
  return [times[0], times[1]];
}

/**
 * Submits messages to `count` recipients in all (RECIPIENTS each) over SMTP with Postfix's
 * smtp-source (one fork per tenth of a second, not one per message: a loaded machine keeps up
 * with the offer), all at once over 20 sessions, or to `perSecond` recipients a second at most.
 * Returns when the submission began and ended (timed).
 */
async function submit(world: Host, recipients: number, perRecipientSecond = 0): Promise<[number, number]> {
  const count = Math.ceil(recipients / RECIPIENTS);
  const perSecond = perRecipientSecond / RECIPIENTS;
  const source = `smtp-source -N -f sender@example.com -t user@example.com -r ${RECIPIENTS}`;
  if (perSecond <= 0) return timed(world, 'the submission', `${source} -s 20 -m ${count} 127.0.0.1:25`);
  // Each smtp-source waited for on its own (a bare wait says 0 whatever they did), and all of the
  // offer made.
  const loop = `sent=0; i=0; pids=()
while [ "$sent" -lt ${count} ]; do
  i=$((i + 1)); due=$(awk -v i="$i" 'BEGIN { n = int(${perSecond} * i / 10); print (n > ${count} ? ${count} : n) }')
  if [ "$due" -gt "$sent" ]; then ${source} -s 1 -m $((due - sent)) 127.0.0.1:25 & pids+=($!); fi
  sent=$due; sleep 0.1
done; ok=0; for p in "\${pids[@]}"; do wait "$p" || ok=1; done; [ "$sent" -eq ${count} ] && (exit $ok)`;
  return timed(world, 'the paced submission', loop);
}

/**
 * The burst (`--burst-from queue`): submitted on hold (all of it, checked), Postfix's setting put
 * back, then released at once; returns when the release began and ended (timed).
 */
async function submitHeld(world: Host, recipients: number): Promise<[number, number]> {
  const name = 'smtpd_data_restrictions';
  const own = world.exec(['postconf', '-n', name], { check: true }).stdout.trim();
  world.exec(['postconf', '-e', `${name} = check_client_access static:HOLD`], { check: true });
  world.exec(['postfix', 'reload'], { check: true });
  await sleep(1000);
  await submit(world, recipients);
  const held = Number(
    world.exec(['bash', '-c', 'find /var/spool/postfix/hold -type f | wc -l'], { check: true }).stdout,
  );
  if (held !== Math.ceil(recipients / RECIPIENTS)) throw new Error(`${held} messages held, not all of the burst`);
  world.exec(own ? ['postconf', '-e', own] : ['postconf', '-X', name], { check: true });
  world.exec(['postfix', 'reload'], { check: true });
  await sleep(3000);
  return timed(world, 'the release', 'postsuper -H ALL && postqueue -f');
}

/** Configures Postfix exactly as the AWS procedure does, by hand, with the same credentials. */
function procedure(world: World): void {
  const host = `[${SES_HOST}]:587`;
  const steps = [
    ['bash', '-c', ': > /etc/postfix/main.cf'],
    [
      'postconf',
      '-e',
      `relayhost = ${host}`,
      'smtp_sasl_auth_enable = yes',
      'smtp_sasl_security_options = noanonymous',
      'smtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd',
      'smtp_use_tls = yes',
      'smtp_tls_security_level = encrypt',
      'smtp_tls_note_starttls_offer = yes',
      'smtp_tls_CAfile = /etc/ssl/certs/ca-certificates.crt',
      'maillog_file = /var/log/maillog',
      // Not the procedure's: Debian's default main.cf has it, and smtpd (the benchmark submits
      // over SMTP) refuses to start without it.
      'smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination',
    ],
    ['bash', '-c', `printf '%s %s:%s\\n' '${host}' "$U" "$P" > /etc/postfix/sasl_passwd`],
    ['postmap', 'hash:/etc/postfix/sasl_passwd'],
    ['chmod', '0600', '/etc/postfix/sasl_passwd', '/etc/postfix/sasl_passwd.db'],
    ['/usr/lib/postfix/configure-instance.sh', '-'],
    ['postfix', 'start'],
  ];
  for (const step of steps) world.exec(step, { env: { U: USERNAME, P: PASSWORD }, check: true });
}

/** Runs our rendered script, as user data would, in the host the scenario made. */
function ours(host: Host): void {
  const secret = JSON.stringify({ username: USERNAME, password: PASSWORD });
  const script = Bootstrap.render({ smtpRegion: 'eu-west-1', secretId: SECRET_ID, smtpPort: SMTP_PORT });
  // As on EC2, the script reads the account's maximum send rate from SES at boot.
  const r =
    host instanceof BareWorld
      ? host.runScript(script, [`FAKE_AWS_MAX_SEND_RATE=${QUOTA}`])
      : (host as World).runScript(script, {
          ...(host as World).awsEnv(SECRET_ID, secret),
          FAKE_AWS_MAX_SEND_RATE: String(QUOTA),
        });
  if (r.code !== 0) throw new Error(`the rendered script failed: ${r.stderr}`);
  console.log(r.stderr.trim().split('\n').at(-1));
}

/** Recipients the stand-in accepted, in the messages from the `from`-th on. */
const recipients = (standin: Standin, from = 0) => standin.arrivals(from).length;

function snapshot(standin: Standin, start: number, end: number, delivered: number): Figures {
  const seconds = (end - start) / 1000;
  return {
    delivered,
    seconds: Number(seconds.toFixed(1)),
    perS: Number((delivered / seconds).toFixed(1)),
    tlsHandshakes: standin.count('secure'),
    throttled: standin.count('throttled'),
    busiestSecond: standin.busiestSecond(),
  };
}

async function scenario(name: string, configure: (w: Host) => void, rateModel: 'bucket' | 'window') {
  const port = name === 'ses-relay' ? SMTP_PORT : 587;
  let world: Host;
  if (name === 'ses-relay' && BOOTED) {
    const bare = new BareWorld('bookworm-systemd', {
      id: SECRET_ID,
      json: JSON.stringify({ username: USERNAME, password: PASSWORD }),
    });
    world = bare;
    await bare.boot();
  } else world = World.create();
  try {
    const standin = await world.startStandin(
      { username: USERNAME, password: PASSWORD },
      { port: STANDIN_PORT, quota: QUOTA, rateModel, wrapper: tlsModeOf(port) === SmtpTlsMode.WRAPPER },
    );
    await world.startDelayProxy(port, STANDIN_PORT, RTT / 2);
    configure(world);
    await sleep(1000);

    // Burst: everything submitted at once; seconds until the last message arrived (or the timeout).
    const [start] = await (QUEUED ? submitHeld : submit)(world, BURST);
    const deadline = start + BURST_TIMEOUT * 1000;
    while (recipients(standin) < BURST && Date.now() < deadline) await sleep(50);
    // The end: the last arrival, by the stand-in's clock (not when this loop looked).
    const end = recipients(standin) < BURST ? Date.now() : Math.max(...standin.arrivals());
    const burst = {
      ...snapshot(standin, start, end, recipients(standin)),
      // Recipients the stand-in counted in each second from the start (the ramp-up).
      perSecond: standin.arrivals().reduce<number[]>((counts, t) => {
        const second = Math.max(0, Math.floor((t - start) / 1000));
        while (counts.length <= second) counts.push(0);
        counts[second]++;
        return counts;
      }, []),
    };

    // Sustained load above the quota: delivered rate while submitting at SUSTAINED_RATE, from a
    // quiet start (two windows after the burst: its last second is not charged to this phase).
    world.exec(['postsuper', '-d', 'ALL']);
    await sleep(2000 * Math.max(1, 1 / QUOTA));
    const before = standin.messages().length;
    const events0 = { secure: standin.count('secure'), throttled: standin.count('throttled') };
    const [s0, s1] = await submit(world, SENT(SUSTAINED_RATE * SUSTAINED_SECONDS), SUSTAINED_RATE);
    // The rate in steady state, as a sliding window sees it: the quota's number (K) of recipients
    // over the mean time from each recipient counted during the offer to the K-th before it (1 s
    // when the relay keeps to a quota of 1/s or more). Recipients over the offer's time,
    // also given, credit the window the pause left empty and charge the offer's first moments.
    const times = standin.arrivals(before).filter((t) => t <= s1);
    const delivered = times.length;
    const k = Math.max(1, Math.floor(QUOTA));
    const gaps = times.slice(k).map((t, i) => t - times[i]);
    const deliveredPerS = (k * gaps.length) / (gaps.reduce((a, b) => a + b, 0) / 1000);
    const sustained = {
      offeredPerS: Number((SENT(SUSTAINED_RATE * SUSTAINED_SECONDS) / ((s1 - s0) / 1000)).toFixed(1)),
      deliveredPerS: Number(deliveredPerS.toFixed(2)),
      percentOfQuota: Number(((100 * deliveredPerS) / QUOTA).toFixed(1)),
      overTheOffer: Number(((100 * delivered) / ((s1 - s0) / 1000) / QUOTA).toFixed(1)),
      throttled: standin.count('throttled') - events0.throttled,
      tlsHandshakes: standin.count('secure') - events0.secure,
      delivered,
      busiestSecond: standin.busiestSecond(before),
    };

    // Under the quota: one message at a time, the latency from submission to arrival.
    world.exec(['postsuper', '-d', 'ALL']);
    await sleep(2000);
    const latencies: number[] = [];
    for (let i = 0; i < 10; i++) {
      const n = standin.messages().length;
      const t = Date.now();
      await world.execAsync([
        'bash',
        '-c',
        `printf 'Subject: m${i}\\n\\nbody\\n' | sendmail -f sender@example.com user${i}@example.com`,
      ]);
      await standin.waitFor(() => standin.messages().length > n, 30000, 'single delivery');
      latencies.push(Date.now() - t);
      await sleep(500);
    }
    latencies.sort((a, b) => a - b);
    return { name, rateModel, burst, sustained, latencyMs: { median: latencies[5], max: latencies[9] } };
  } finally {
    await world.destroy();
  }
}

async function main() {
  const unavailable = worldAvailable();
  if (unavailable) {
    console.error(`bench/relay: ${unavailable}`);
    process.exitCode = 1;
    return;
  }
  console.log(
    `quota ${QUOTA}/s, RTT ${RTT} ms, ses-relay on port ${SMTP_PORT} ${BOOTED ? 'booted (systemd)' : 'in namespaces'}, burst ${BURST}${QUEUED ? ' held, then released at once' : ''} (timeout ${BURST_TIMEOUT} s), sustained ${SUSTAINED_RATE}/s for ${SUSTAINED_SECONDS} s (recipients; ${RECIPIENTS} a message)`,
  );
  for (const rateModel of MODELS) {
    for (const [name, configure] of [
      ['ses-relay', ours],
      ['procedure', (w: Host) => procedure(w as World)],
    ] as const) {
      if (ONLY !== undefined && ONLY !== name) continue;
      const r = await scenario(name, configure, rateModel);
      console.log(JSON.stringify(r));
      const b = r.burst;
      const s = r.sustained;
      console.log(
        `${rateModel.padEnd(6)} ${name.padEnd(10)} burst: ${b.delivered}/${BURST} delivered in ${b.seconds} s, ${b.tlsHandshakes} TLS handshakes, ${b.throttled} x 454, busiest second ${b.busiestSecond} | ` +
          `sustained: ${s.percentOfQuota} % of the quota in steady state (${s.deliveredPerS} of ${s.offeredPerS} recipients/s offered; ${s.overTheOffer} % over the offer's time), ${s.throttled} x 454, ${s.tlsHandshakes} TLS handshakes, busiest second ${s.busiestSecond} | ` +
          `single message: median ${r.latencyMs.median} ms, max ${r.latencyMs.max} ms`,
      );
    }
  }
}

main();
