// The pacer (lib/bootstrap/instance/pacer.py), run by python3 as the boot script installs it: the socketmap
// protocol Postfix speaks to it, and the shared schedule, on a simulated clock (no wall-clock
// assertions). Real Postfix drives it in the end-to-end suite.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const PACER = join(ROOT, 'lib', 'bootstrap', 'instance', 'pacer.py');
// Ruff lints and formats the Python of the tree (ruff.toml), from the .venv that .ci/run makes.
const RUFF = join(ROOT, '.venv', 'bin', 'ruff');
if (!existsSync(RUFF) && process.env.CI) throw new Error(`${RUFF} is missing: .ci/run installs it into .venv`);

/** A query as Postfix's socketmap client sends it: a netstring "NAME KEY". */
const netstring = (s: string) => `${Buffer.byteLength(s)}:${s},`;
/** A recipient's outcome (smtp_delivery_status_filter). */
const query = (status: string) => netstring(`pace ${status} 250 Ok 0100019a-standin`);
/** Reply lines from SES (smtp_reply_filter). */
const replies = (...lines: string[]) => lines.map((l) => netstring(`reply ${l}`)).join('');
/** What one SMTP client process asks on a new connection, up to its first MAIL FROM. */
const NEW_CONNECTION = replies(
  '220 email-smtp.amazonaws.com ESMTP SimpleEmailService',
  '250-email-smtp.amazonaws.com',
  '250 STARTTLS',
  '220 Ready to start TLS',
  '250-email-smtp.amazonaws.com',
  '250 AUTH PLAIN LOGIN',
  '235 Authentication successful.',
);
/** The replies of one transaction after MAIL FROM (pipelined), then the recipient's outcome. */
const DELIVERY = replies('250 Ok', '250 Ok', '354 End data with <CR><LF>.<CR><LF>', '250 Ok 0100019a') + query('2.0.0');
/** The reply to the RSET Postfix sends to check a connection taken from the cache. */
const RSET = replies('250 Ok');
/** A turn at `rate` recipients per second (pacer.py's GUARD: 1 % longer than 1/rate). */
const turn = (rate: number) => 1.01 / rate;

/**
 * Runs pacer.serve on `input` at rate `rate`, with a clock standing still at `start` except for
 * the pacer's own sleeps; returns what it answered and each wait it slept.
 */
function serve(input: string, rate: number, state: string, start = 1000): { replies: string; waits: number[] } {
  const driver = `
import io, json, sys
sys.path.insert(0, sys.argv[1])
import pacer
now = [float(sys.argv[4])]
waits = []
def sleep(s):
    waits.append(s)
    now[0] += s
out = io.BytesIO()
pacer.serve(io.BytesIO(sys.stdin.buffer.read()), out, float(sys.argv[2]), sys.argv[3], clock=lambda: now[0], sleep=sleep)
print(json.dumps({"replies": out.getvalue().decode(), "waits": waits}))
`;
  const r = spawnSync('python3', ['-c', driver, join(PACER, '..'), String(rate), state, String(start)], {
    input,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}

function stateFile(): string {
  return join(mkdtempSync(join(tmpdir(), 'ses-relay-pacer-')), 'schedule');
}

describe('pacer', () => {
  (existsSync(RUFF) ? test : test.skip)('passes ruff check and ruff format', () => {
    for (const file of [PACER, join(PACER, '..', 'configuration_set.py')]) {
      for (const args of [['check'], ['format', '--check']]) {
        const r = spawnSync(RUFF, [...args, file], { cwd: ROOT, encoding: 'utf8' });
        expect([r.status, r.stdout.trim().split('\n').at(-1)]).toEqual([
          0,
          args[0] === 'check' ? 'All checks passed!' : '1 file already formatted',
        ]);
      }
    }
  });

  test('answers every lookup "not found" (no reply and no delivery status changes)', () => {
    const input = NEW_CONNECTION + DELIVERY + RSET + DELIVERY + query('5.1.1');
    const { replies: out } = serve(input, 50, stateFile());
    expect(out).toBe('9:NOTFOUND ,'.repeat(input.split(':').length - 1));
  });

  test('each transaction waits right before MAIL FROM: at the AUTH reply of a new connection, at the RSET check of a cached one', () => {
    const state = stateFile();
    // One process: a new connection and three deliveries; the first waits for nothing.
    const { waits } = serve(NEW_CONNECTION + DELIVERY + RSET + DELIVERY + RSET + DELIVERY, 10, state);
    expect(waits.map((w) => Number(w.toFixed(6)))).toEqual([0, 0.101, 0.101]);
    // MAIL FROM's own 250 is not taken for an RSET check: one turn per transaction, no more.
    expect(Number(readFileSync(state, 'utf8').split(' ')[0])).toBeCloseTo(1000 + 3 * turn(10), 6);
  });

  test("every connection's first delivery takes its turn too: connections opened at once start a turn apart", () => {
    const state = stateFile();
    const waits = [0, 1, 2, 3].map(() => serve(NEW_CONNECTION, 50, state).waits[0]);
    for (const [i, w] of waits.entries()) expect(w).toBeCloseTo(i * turn(50), 9);
  });

  test("a message's further recipients take a turn each when they are known; the next transaction waits for them", () => {
    const state = stateFile();
    const three = replies('250 Ok', '250 Ok', '250 Ok', '250 Ok', '354 Go', '250 Ok') + query('2.0.0').repeat(3);
    const { waits } = serve(NEW_CONNECTION + three + RSET + DELIVERY, 10, state);
    expect(waits.map((w) => Number(w.toFixed(6)))).toEqual([0, 0.302]);
  });

  test('mail that never reached SES (4.4.x) takes no turn; after a failed delivery a spare turn is taken, never one too few', () => {
    const state = stateFile();
    // A connection refused, then a cached connection whose MAIL FROM was refused (454, after its
    // turn) and whose transaction Postfix aborted with RSET: that RSET and the next check each
    // take a turn.
    const throttled = replies('454 Throttling failure', '503 Bad sequence', '503 Bad sequence') + query('4.7.0');
    const { waits } = serve(query('4.4.1') + RSET + throttled + RSET + RSET + DELIVERY, 1, state);
    expect(waits.map((w) => Number(w.toFixed(6)))).toEqual([0, 1.01, 1.01]);
  });

  test('a process woken late does not start right behind the next transaction: it waits a turn after the last start', () => {
    const state = stateFile();
    writeFileSync(state, '1000.000000 999.995000'); // a transaction started 5 ms ago
    expect(serve(RSET, 50, state).waits.map((w) => Number(w.toFixed(6)))).toEqual([0, 0.0151]);
  });

  test('time left idle is not saved up for a burst: the schedule restarts from now', () => {
    const state = stateFile();
    serve(NEW_CONNECTION, 10, state, 1000);
    const { waits } = serve(NEW_CONNECTION + DELIVERY + RSET + DELIVERY, 10, state, 5000);
    expect(waits.map((w) => Number(w.toFixed(6)))).toEqual([0, Number(turn(10).toFixed(6))]);
  });

  test('a schedule over a minute and 1000 turns ahead is a clock that went back: it starts again from now', () => {
    const state = stateFile();
    writeFileSync(state, '999999999999.000000 999999999999.000000');
    expect(serve(NEW_CONNECTION, 10, state, 1000).waits).toEqual([0]);
  });

  test('at 0.001/s (1/s over 1,000 relays) the next transaction waits its turn, 1010 s', () => {
    const { waits } = serve(NEW_CONNECTION + DELIVERY + RSET, 0.001, stateFile(), 1e9);
    expect(waits.map((w) => Number(w.toFixed(3)))).toEqual([0, 1010]);
  });

  // Many SMTP client processes on a simulated clock, each delivering one recipient at a time
  // (taking `duration` after its turn, then asking for the next), all through pacer.py's functions
  // on one schedule: no sliding second ever holds more transaction starts than the rate.
  test.each([
    [50, 13, 0.06],
    [50, 13, 0.002],
    [14, 4, 0.02],
    [1, 1, 0.02],
    [200, 50, 0.06],
    [0.5, 1, 0.02],
    [100000, 50, 0.0004],
  ])('at %s/s over %s connections (%s s a delivery) no second holds more than the rate', (rate, conns, duration) => {
    const driver = `
import heapq, json, os, sys
sys.path.insert(0, sys.argv[1])
import pacer
rate, conns, duration = float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
fd = os.open(sys.argv[5], os.O_RDWR | os.O_CREAT, 0o600)
events = [(1000 + i * 1e-6, i, "hook") for i in range(conns)]
starts = []
while len(starts) < min(2000, max(20, 30 * rate)):
    t, i, phase = heapq.heappop(events)
    wait = pacer.book_turn(fd, rate, t) if phase == "hook" else pacer.start_at(fd, rate, t)
    if phase == "hook" or wait:
        heapq.heappush(events, (t + wait, i, "start"))
    else:
        starts.append(t)
        heapq.heappush(events, (t + duration, i, "hook"))
print(json.dumps(starts))
`;
    const r = spawnSync(
      'python3',
      ['-c', driver, join(PACER, '..'), ...[rate, conns, duration].map(String), stateFile()],
      {
        encoding: 'utf8',
      },
    );
    expect(r.stderr).toBe('');
    const starts: number[] = JSON.parse(r.stdout);
    let most = 0;
    for (let i = 0, j = 0; i < starts.length; i++) {
      while (starts[i] - starts[j] >= 1) j++;
      most = Math.max(most, i - j + 1);
    }
    expect(most).toBeLessThanOrEqual(Math.max(1, Math.floor(rate)));
    // ...and the rate is used: over the run, within 2 % of it (or the connections' own limit).
    const achieved = (starts.length - 1) / (starts[starts.length - 1] - starts[0]);
    expect(achieved).toBeGreaterThan(Math.min(rate, conns / duration) * 0.98);
  });

  test.each(['0.001', '4.66667', '0.0015', '100000'])(
    'takes any rate above 0 (%s: relay shares, the largest quota)',
    (rate) => {
      const r = spawnSync('python3', [PACER, rate, stateFile()], { input: query('2.0.0'), encoding: 'utf8' });
      expect([r.status, r.stdout, r.stderr]).toEqual([0, '9:NOTFOUND ,', '']);
    },
  );

  test('ends quietly when Postfix closes the connection', () => {
    const r = spawnSync('python3', [PACER, '5', stateFile()], { input: query('2.0.0'), encoding: 'utf8' });
    expect([r.status, r.stdout, r.stderr]).toEqual([0, '9:NOTFOUND ,', '']);
  });

  test.each([
    ['x1:pace,', 'pacer: bad netstring'],
    ['40:pace 2.0.0,', 'pacer: truncated netstring'],
  ])('malformed input %j: exit 1 and a message (Postfix then defers the delivery)', (input, message) => {
    const r = spawnSync('python3', [PACER, '5', stateFile()], { input, encoding: 'utf8' });
    expect([r.status, r.stderr.trim()]).toEqual([1, message]);
  });

  test.each([[['0', '/tmp/x']], [['-1', '/tmp/x']], [['fast', '/tmp/x']], [['inf', '/tmp/x']], [['5']]])(
    'bad arguments %j: usage, exit 2',
    (args) => {
      const r = spawnSync('python3', [PACER, ...args], { input: '', encoding: 'utf8' });
      expect([r.status, r.stderr.trim()]).toEqual([
        2,
        'usage: pacer.py RATE STATE_FILE (RATE: recipients per second, more than 0)',
      ]);
    },
  );
});
