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
const query = (status: string) => netstring(`pace ${status} 250 Ok 0100019a-standin`);

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
    for (const args of [['check'], ['format', '--check']]) {
      const r = spawnSync(RUFF, [...args, PACER], { cwd: ROOT, encoding: 'utf8' });
      expect([r.status, r.stdout.trim().split('\n').at(-1)]).toEqual([
        0,
        args[0] === 'check' ? 'All checks passed!' : '1 file already formatted',
      ]);
    }
  });

  test('answers every lookup "not found" (the delivery status stays as it is)', () => {
    const { replies } = serve(query('2.0.0').repeat(3) + query('5.1.1'), 50, stateFile());
    expect(replies).toBe('9:NOTFOUND ,'.repeat(4));
  });

  test('books each recipient a turn of 1/rate: at 50/s the SMTP client waits 20 ms after each delivery', () => {
    const { waits } = serve(query('2.0.0').repeat(5), 50, stateFile());
    expect(waits).toHaveLength(5);
    for (const w of waits) expect(w).toBeCloseTo(0.02, 9);
  });

  test('mail that never reached SES (4.4.x) takes no turn; throttled (4.x) and rejected (5.x) mail does', () => {
    const { waits, replies } = serve(
      query('4.4.1') + query('2.0.0') + query('4.4.2') + query('4.7.0') + query('5.0.0'),
      1,
      stateFile(),
    );
    expect(replies).toBe('9:NOTFOUND ,'.repeat(5));
    expect(waits).toEqual([1, 1, 1]);
  });

  test('all pacer processes share one schedule', () => {
    const state = stateFile();
    serve(query('2.0.0').repeat(3), 10, state, 1000); // turns from 1000.0, 1000.1 and 1000.2
    // Another SMTP client's pacer, while the last of those turns lasts: it gets the next one.
    const { waits } = serve(query('2.0.0'), 10, state, 1000.25);
    expect(waits).toHaveLength(1);
    expect(waits[0]).toBeCloseTo(0.15, 6);
    expect(Number(readFileSync(state, 'utf8'))).toBeCloseTo(1000.4, 6);
  });

  test('time left idle is not saved up for a burst: the schedule restarts from now', () => {
    const state = stateFile();
    serve(query('2.0.0'), 10, state, 1000);
    const { waits } = serve(query('2.0.0').repeat(3), 10, state, 5000);
    expect(waits.map((w) => Number(w.toFixed(6)))).toEqual([0.1, 0.1, 0.1]);
  });

  test('a schedule over a minute ahead is a clock that went back: it starts again from now', () => {
    const state = stateFile();
    writeFileSync(state, '999999999999.000000');
    expect(serve(query('2.0.0'), 10, state, 1000).waits.map((w) => Number(w.toFixed(6)))).toEqual([0.1]);
  });

  test('ends quietly when Postfix closes the connection', () => {
    const r = spawnSync('python3', [PACER, '5', stateFile()], { input: query('2.0.0'), encoding: 'utf8' });
    expect([r.status, r.stdout, r.stderr]).toEqual([0, '9:NOTFOUND ,', '']);
  });

  test.each([
    ['x1:pace,', 'pacer: bad netstring'],
    ['40:pace 2.0.0,', 'pacer: truncated netstring'],
  ])('malformed input %j: exit 1 and a message (Postfix then keeps the status, unpaced)', (input, message) => {
    const r = spawnSync('python3', [PACER, '5', stateFile()], { input, encoding: 'utf8' });
    expect([r.status, r.stderr.trim()]).toEqual([1, message]);
  });

  test.each([[['0', '/tmp/x']], [['-1', '/tmp/x']], [['fast', '/tmp/x']], [['5']]])(
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
