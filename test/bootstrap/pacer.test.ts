// The pacer (lib/bootstrap/instance/pacer.py), run by python3 as the boot script installs it: the socketmap
// protocol Postfix speaks to it, and the shared schedule, on a simulated clock (no wall-clock
// assertions). Real Postfix drives it in the end-to-end suite.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const PACER = join(ROOT, 'lib', 'bootstrap', 'instance', 'pacer.py');
// Ruff lints and formats the Python of the tree (ruff.toml), from the .venv that .ci/run makes.
const RUFF = join(ROOT, '.venv', 'bin', 'ruff');
if (!existsSync(RUFF) && process.env.CI)
  throw new Error(`${RUFF} is missing: npm test's set-up installs it into .venv`);
if (!existsSync(RUFF))
  console.warn(`skipping the Ruff check of the pacer: ${RUFF} is missing (npm test's set-up installs it)`);

/** A query as Postfix's socketmap client sends it: a netstring "NAME KEY". */
const netstring = (s: string) => `${Buffer.byteLength(s)}:${s},`;
/** A recipient's outcome (smtp_delivery_status_filter). */
const query = (status: string) => netstring(`pace ${status} 250 Ok 0100019a-standin`);
/** A recipient's refusal as Postfix reports it (smtp_delivery_status_filter), in reply to `command`. */
const refused = (command: string) =>
  netstring(
    `pace 5.1.1 host email-smtp.eu-west-1.amazonaws.com[127.0.0.1] said: 554 Message rejected: Email address is not verified. (in reply to ${command})`,
  );
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
/** The replies of one transaction after its booking (MAIL FROM, RCPT TO, DATA, the message), then the recipient's outcome. */
const delivery = (mail = '250 Ok', rcpt = '250 Ok', data = '354 End data with <CR><LF>.<CR><LF>') =>
  replies(mail, rcpt, data, '250 Ok 0100019a') + query('2.0.0');
const DELIVERY = delivery();
/** The reply to the RSET Postfix sends to check a connection taken from the cache. */
const RSET = replies('250 Ok');
/** The window at `rate` recipients per second: 1 s, or 1/rate below 1/s, 0.5 % longer (pacer.py's GUARD). */
const span = (rate: number) => Number((Math.max(1, Math.max(1, Math.floor(rate)) / rate) * 1.005).toFixed(6));
/** A transaction on a new connection: up to its booking, then its delivery (MAIL FROM's reply first). */
const FIRST = NEW_CONNECTION + DELIVERY;
/** The pacer's answer when a turn is more than 8 s off: a 454 in place of SES's reply before MAIL FROM. */
const DEFERRED = netstring("OK 454 4.7.0 ses-relay pacer: no turn within 8 s at this relay's share of the send rate");
/** Seconds rounded to the microsecond. */
const us = (waits: number[]) => waits.map((w) => Number(w.toFixed(6)));

/**
 * Runs a Python snippet with pacer.py importable and a Schedule `s` at `rate` on a fresh state
 * file; returns what it prints as JSON.
 */
function schedule(rate: number, code: string): unknown {
  const driver = `
import json, os, sys, tempfile
sys.path.insert(0, sys.argv[1])
import pacer
s = pacer.Schedule(os.open(sys.argv[3], os.O_RDWR | os.O_CREAT, 0o600), float(sys.argv[2]))
def take(now, group=None, new=1):
    """Takes places for NEW more recipients of GROUP from NOW as the pacer does (pacer.take_start,
    on a clock that moves with its sleeps): (seconds waited in all, the group)."""
    clock = [now]
    def sleep(wait):
        clock[0] += wait
    placed = pacer.take_start(s, lambda: clock[0], sleep, group, new, 0, now)
    return clock[0] - now, placed
${code}`;
  const r = spawnSync('python3', ['-c', driver, join(PACER, '..'), String(rate), stateFile()], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}

/**
 * Runs pacer.serve on `input` at rate `rate`, with a clock standing still at `start` except for the
 * pacer's sleeps and `tick` seconds before each query (each comes that long after the pacer's answer
 * to the one before; by query: the seconds of the first key the query holds, "" for any); returns
 * what it answered and the wait of each lookup. When it is about to read
 * byte `beside.mark` of its input, another SMTP client's Schedule (`other`, on the same state file)
 * runs `beside.code`.
 */
function serve(
  input: string,
  rate: number,
  state: string,
  start = 1000,
  beside = { mark: -1, code: 'pass' },
  tick: number | Record<string, number> = 0,
): { replies: string; waits: number[] } {
  const driver = `
import io, json, os, sys
sys.path.insert(0, sys.argv[1])
import pacer
other = pacer.Schedule(os.open(sys.argv[3], os.O_RDWR | os.O_CREAT, 0o600), float(sys.argv[2]))
now, mark, tick = [float(sys.argv[4])], int(sys.argv[5]), json.loads(sys.argv[6])
tick = tick if isinstance(tick, dict) else {"": tick}
waits, asked = [], [-1]
class Source(io.BytesIO):
    def read(self, n=-1):
        if self.tell() == mark:
            ${beside.code}
        at, data = self.tell(), self.getvalue()
        if at < len(data) and (at == 0 or data[at - 1 : at] == b","):
            size, _, rest = data[at:].partition(b":")
            now[0] += next(t for k, t in tick.items() if k.encode() in rest[: int(size)])
        return super().read(n)
source = Source(sys.stdin.buffer.read())
def sleep(s):
    # One wait a lookup: the pacer's sleeps while it answers one (it looks again now and then).
    if asked[0] == source.tell():
        waits[-1] += s
    else:
        waits.append(s)
    asked[0] = source.tell()
    now[0] += s
out = io.BytesIO()
pacer.serve(source, out, float(sys.argv[2]), sys.argv[3], clock=lambda: now[0], sleep=sleep)
print(json.dumps({"replies": out.getvalue().decode(), "waits": waits}))
`;
  const r = spawnSync(
    'python3',
    ['-c', driver, join(PACER, '..'), String(rate), state, String(start), String(beside.mark), JSON.stringify(tick)],
    { input, encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}

/**
 * Runs pacer.serve on queries that each arrive at a time of their own ([seconds, query] pairs; the
 * clock also moves with the pacer's sleeps), at `rate` on a fresh schedule; returns each wait it slept.
 */
function serveTimed(steps: [number, string][], rate = 1, state = stateFile()): number[] {
  const driver = `
import io, json, sys
sys.path.insert(0, sys.argv[1])
import pacer
steps = json.loads(sys.stdin.read())
now = [steps[0][0]]
waits, asked = [], [-1]
def sleep(s):
    # One wait a lookup: the pacer's sleeps while it answers one (it looks again now and then).
    if asked[0] == timed.pos:
        waits[-1] += s
    else:
        waits.append(s)
    asked[0] = timed.pos
    now[0] += s
class Timed:
    def __init__(self):
        self.data, self.marks = b"", []
        for at, q in steps:
            self.marks.append((len(self.data), at))
            self.data += q.encode()
        self.pos = 0
    def read(self, n):
        for start, at in self.marks:
            if start == self.pos:
                now[0] = max(now[0], at)
        out = self.data[self.pos:self.pos + n]
        self.pos += len(out)
        return out
timed = Timed()
pacer.serve(timed, io.BytesIO(), float(sys.argv[2]), sys.argv[3], clock=lambda: now[0], sleep=sleep)
print(json.dumps(waits))
`;
  const r = spawnSync('python3', ['-c', driver, join(PACER, '..'), String(rate), state], {
    input: JSON.stringify(steps),
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}

/**
 * Starts pacer.py as systemd starts it for ses-relay-pace.socket (fd 3 a listening socket,
 * LISTEN_PID and LISTEN_FDS set) at `rate`, then runs `code` (Python) with `connect()` (a new
 * client), `ask(client, queries)` (sends them, returns the answers), `pacer` (the process) and
 * `schedule` (a Schedule on its state file); returns what `code` prints as JSON.
 */
function listening(rate: number, state: string, code: string): unknown {
  const driver = `
import json, os, signal, socket, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.dirname(sys.argv[1]))
import pacer as module
path = os.path.join(tempfile.mkdtemp(), "ses-pace")
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(path)
server.listen(16)
start = "import os, sys; os.dup2(int(sys.argv[1]), 3); os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='1'); os.execv(sys.executable, [sys.executable, '-I', '-S'] + sys.argv[2:])"
pacer = subprocess.Popen([sys.executable, "-c", start, str(server.fileno()), sys.argv[1], sys.argv[2], sys.argv[3]],
    pass_fds=(server.fileno(),), stderr=subprocess.PIPE)
server.close()
schedule = module.Schedule(os.open(sys.argv[3], os.O_RDWR | os.O_CREAT, 0o600), float(sys.argv[2]))
def connect():
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(path)
    c.settimeout(30)
    return c
def ask(c, queries):
    c.sendall(queries.encode())
    out = b""
    while out.count(b",") < queries.count(","):
        chunk = c.recv(4096)
        if not chunk:
            break
        out += chunk
    return out.decode()
try:
${code.replace(/^/gm, '    ')}
finally:
    if pacer.poll() is None:
        pacer.kill()
`;
  const r = spawnSync('python3', ['-c', driver, PACER, String(rate), state], { encoding: 'utf8', timeout: 60000 });
  if (r.status !== 0) throw new Error(r.stderr || String(r.error));
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

  test('each transaction books its place right before MAIL FROM: at the AUTH reply of a new connection, at the RSET check of a cached one', () => {
    // One process at 1/s: a new connection and three deliveries; the first waits for nothing, each
    // next one a window. MAIL FROM's own 250 is not taken for an RSET check: one booking each.
    const { waits } = serve(FIRST + RSET + DELIVERY + RSET + DELIVERY, 1, stateFile());
    expect(us(waits)).toEqual([0, 1.005, 1.005]);
  });

  test('at most the rate starts in a window: at 10/s ten transactions start at once, the eleventh a window after the first', () => {
    const { waits } = serve(FIRST + (RSET + DELIVERY).repeat(10), 10, stateFile());
    expect(us(waits)).toEqual([...Array(10).fill(0), span(10)]);
  });

  test("every connection's first delivery is paced too: of connections opened at once, those past the rate wait a window", () => {
    const state = stateFile();
    const waits = [0, 1, 2, 3].map(() => serve(FIRST, 2, state).waits[0]);
    expect(us(waits)).toEqual([0, 0, span(2), span(2)]);
  });

  test("a message's recipients each take a place at their reply, before DATA goes out, while the window has room for them all", () => {
    // At 5/s: a message to three recipients, each given a place at its reply (the window holds
    // five), then three deliveries: four bookings sleep 0, the third delivery's recipient (the
    // window's sixth) waits at its reply until a window after the message's places.
    const three = replies('250 Ok', '250 Ok', '250 Ok', '250 Ok', '354 Go', '250 Ok') + query('2.0.0').repeat(3);
    const input = NEW_CONNECTION + three + (RSET + DELIVERY).repeat(3);
    expect(us(serve(input, 5, stateFile()).waits)).toEqual([0, 0, 0, 0, span(5)]);
  });

  test("a further recipient without room in the window waits, with the message's others, until the window has room for them all", () => {
    // At 5/s: four deliveries, then a message to three recipients: the first takes the window's
    // fifth place; the second finds no room for two and waits a window (meanwhile the message
    // holds none: SES counts nothing before DATA); the third finds room for three; the delivery
    // after them is booked and placed at once (the four have left the window).
    const three = replies('250 Ok', '250 Ok', '250 Ok', '250 Ok', '354 Go', '250 Ok') + query('2.0.0').repeat(3);
    const input = FIRST + (RSET + DELIVERY).repeat(3) + RSET + three + RSET + DELIVERY;
    expect(us(serve(input, 5, stateFile()).waits)).toEqual([0, 0, 0, 0, 0, span(5), 0]);
  });

  test('a message to more recipients than the window holds (Postfix sends no more than K): the first K take places at their replies, the others theirs when their status comes; the next transaction waits for them all', () => {
    // At 2/s: the first two recipients take the window's two places at their replies, the third
    // is counted with its status; the next delivery, booked at once, waits a window at its
    // recipient (two would go at once).
    const three = replies('250 Ok', '250 Ok', '250 Ok', '250 Ok', '354 Go', '250 Ok') + query('2.0.0').repeat(3);
    const { waits } = serve(NEW_CONNECTION + three + RSET + DELIVERY, 2, stateFile());
    expect(us(waits)).toEqual([0, 0, span(2)]);
  });

  test('mail that never reached SES (4.4.x) books nothing; after a failed delivery the next two 250s each book, never one too few', () => {
    const state = stateFile();
    // A connection refused, then a cached connection whose MAIL FROM was refused (454, after its
    // booking) and whose transaction Postfix aborted with RSET: that RSET and the next check each
    // book.
    const throttled = replies('454 Throttling failure') + query('4.7.0');
    const { waits } = serve(query('4.4.1') + RSET + throttled + RSET + RSET + DELIVERY, 1, state);
    expect(us(waits)).toEqual([0, 1.005, 1.005]);
  });

  test('a start counts from when it really began: one woken late holds back the start a window after it, not those between', () => {
    // At 2/s: two booked at 1000, the second woken 0.3 s late; at 1001.005 the third may start
    // (a window after the first), the fourth waits until a window after the late one.
    const out = schedule(
      2,
      `
out = [s.book(1000)]
wait, a = s.start(1000)
out += [wait, s.book(1000)]
wait, b = s.start(1000.3)
out.append(wait)
s.replied(1000, a)
s.replied(1000.3, b)
out += [s.start(1001.005)[0], take(1001.005)[0]]
print(json.dumps(out))`,
    ) as number[];
    expect(us(out)).toEqual([0, 0, 0, 0, 0, 0.3]);
  });

  test("a start counts from when SES may have counted it: before 20 replies (a burst's first, under the load of its handshakes), from its reply", () => {
    // At 1/s: the first DATA command's reply came after 20 ms; the next start waits a window after it.
    const out = schedule(
      1,
      `
s.replied(1000.02, s.start(1000)[1])
print(json.dumps([s.start(1001.005)[0], s.start(1001.025)[0]]))`,
    ) as number[];
    expect(us(out)).toEqual([0.02, 0]);
  });

  test('...then from its start, later by as much as its round trip (turn to DATA reply) took longer than the least', () => {
    // At 1/s: 20 round trips of 20 ms (the least), then one of 50 ms: that DATA command may have
    // reached SES 30 ms later than the least allows, so the next start waits a window and 30 ms after it.
    const out = schedule(
      1,
      `
t = 1000.0
for _ in range(20):
    s.replied(t + 0.02, s.start(t)[1])
    t += 1.025
s.replied(t + 0.05, s.start(t)[1])
print(json.dumps([s.start(t + 1.005)[0], s.start(t + 1.035)[0]]))`,
    ) as number[];
    expect(us(out)).toEqual([0.03, 0]);
  });

  test("the least round trip is learned from a transaction's commands, not only DATA's: at 1/s it counts from the seventh delivery on", () => {
    // One connection at 1/s. Each reply comes a while after the pacer answered the one before: the
    // first delivery's 30 ms, then MAIL FROM's 10 ms (after its booking's wait), RCPT TO's and
    // DATA's 30 ms, any other 10 ms. Until 20 round trips of MAIL FROM, RCPT TO and DATA have come
    // in (3 a delivery), a place counts from its DATA reply: each recipient waits 30 ms longer than
    // the last (a window after that reply). From the seventh DATA reply on (21), it counts from
    // 10 ms before it (MAIL FROM's, timed from its booking's end): 20 ms longer each. Each booking
    // waits a window after the one before, less the time since.
    const later = delivery('250 mail', '250 rcpt', '354 go');
    const first = delivery('250 first', '250 first', '354 first');
    const ticks = { first: 0.03, rcpt: 0.03, '354': 0.03, '': 0.01 };
    const { waits } = serve(NEW_CONNECTION + first + (RSET + later).repeat(8), 1, stateFile(), 1000, undefined, ticks);
    expect(us(waits)).toEqual([
      0, 0.885, 0.05, 0.855, 0.08, 0.825, 0.11, 0.795, 0.14, 0.765, 0.17, 0.735, 0.2, 0.705, 0.22, 0.685, 0.24,
    ]);
  });

  test("...a minute's at most: an SMTP client's round trips kept since its last DATA reply and older are dropped", () => {
    // At 1/s, one SMTP client: ten transactions SES refuses at MAIL FROM (20 round trips: each
    // MAIL FROM's, and the RSET after the abort's, each 10 ms), none told to the schedule (no DATA
    // reply), then a delivery two minutes later: its DATA reply brings 3 round trips, not 23, and
    // the next recipient waits a window after that reply (0.955 s), not after 10 ms before it.
    const refused = replies('454 Throttling failure') + query('4.7.0') + RSET + RSET;
    const idle = delivery('250 idle', '250 rcpt', '354 go');
    const later = delivery('250 mail', '250 rcpt', '354 go');
    const input = NEW_CONNECTION + refused.repeat(10) + idle + RSET + later;
    const { waits } = serve(input, 1, stateFile(), 1000, undefined, { idle: 120, '': 0.01 });
    expect(us(waits).at(-1)).toBe(0.955);
  });

  test('...once a window of DATA replies and 20 round trips at least have come in (this minute and the last)', () => {
    // A DATA reply 20 ms after its start, with the round trips the SMTP client timed since its last
    // (20 in all, the least 10 ms): at 1/s it counts from 10 ms before its reply; with 19 in all, or
    // at 2/s (one DATA reply, not a window's two), or two minutes later, from its reply.
    const out = schedule(
      1,
      `
s.replied(1000.02, s.start(1000)[1], (19, 0.01))
out = [s.start(1001.005)[0]]
s.replied(1001.045, s.start(1001.025)[1], (1, 0.01))
out.append(s.start(1002.03)[0])
p = pacer.Schedule(os.open(sys.argv[3] + "-2", os.O_RDWR | os.O_CREAT, 0o600), 2.0)
p.replied(1000.02, p.start(1000)[1], (20, 0.01))
p.start(1000)
out.append(p.start(1001.005)[0])
# At 1/s, 20 round trips in the minute from 960 s: in the next minute they still count, not two later.
for t in (1070, 1200):
    q = pacer.Schedule(os.open(sys.argv[3] + "-%d" % t, os.O_RDWR | os.O_CREAT, 0o600), 1.0)
    q.replied(1000.02, q.start(1000)[1], (20, 0.01))
    q.replied(t + 0.02, q.start(t)[1], (1, 0.01))
    out.append(q.start(t + 1.005)[0])
print(json.dumps(out))`,
    ) as number[];
    expect(us(out)).toEqual([0.02, 0.01, 0.02, 0.01, 0.02]);
  });

  test("a place counts from its DATA command's reply (where SES counts a message), not from MAIL FROM's or its recipient's", () => {
    // At 1/s, one connection: MAIL FROM answered 20 ms after the booking, the recipient too (its
    // place), but DATA only 260 ms after that (SES slow): the next transaction, at 1000.4, books a
    // window after the first, and its recipient (at 1001.1) waits until a window after that reply.
    const waits = serveTimed([
      [1000, NEW_CONNECTION],
      [1000.02, replies('250 Ok')],
      [1000.04, replies('250 Ok')],
      [1000.3, replies('354 End data with <CR><LF>.<CR><LF>')],
      [1000.32, replies('250 Ok 0100019a') + query('2.0.0')],
      [1000.4, RSET],
      [1001.08, replies('250 Ok')],
      [1001.1, replies('250 Ok')],
    ]);
    expect(us(waits)).toEqual([0, 0.605, 0.205]);
  });

  test('a transaction SES refuses at MAIL FROM takes no place: only its bookings space what follows', () => {
    // At 1/s: a MAIL FROM refused 20 ms after its booking, then the RSET aborting it and the check
    // of the connection (each a booking): each waits a window after the one before, no longer, and
    // the recipient after them finds its place free.
    const waits = serveTimed([
      [1000, NEW_CONNECTION],
      [1000.02, replies('454 Throttling failure') + query('4.7.0')],
      [1000.04, RSET],
      [1000.06, RSET + DELIVERY],
    ]);
    expect(us(waits)).toEqual([0, 0.965, 1.005]);
  });

  test('a recipient refused within a transaction that goes on to DATA: no booking at the reply ending the message', () => {
    // At 1/s, one connection: B accepted, A refused (its status comes at once), the message sent to
    // B; then the next transaction. One booking each: the 250 ending the first message is not taken
    // for an RSET check (at 0.001/s the pacer would answer it with its 454, and Postfix would send
    // B's message again).
    const refusedOne =
      replies('250 Ok', '250 Ok', '554 Message rejected: Email address is not verified.') +
      refused('RCPT TO command') +
      replies('354 End data with <CR><LF>.<CR><LF>', '250 Ok 0100019a') +
      query('2.0.0');
    const { waits } = serve(NEW_CONNECTION + refusedOne + RSET + DELIVERY, 1, stateFile());
    expect(us(waits)).toEqual([0, span(1)]);
    const slow = serve(NEW_CONNECTION + refusedOne, 0.001, stateFile());
    expect(slow.replies).not.toContain('454');
  });

  test("a recipient refused after another was taken: no booking at the next recipient's 250 (the transaction goes on to DATA)", () => {
    // At 1/s: R1 taken, R2 refused, R3 taken; the message goes to R1 and R3. R1's place, and R3's
    // with its status (the window holds one), so the next transaction waits a window after them;
    // a booking at R3's 250 would make it two (and at 0.001/s the pacer's 454 in place of that 250
    // would defer a recipient SES had taken).
    const mixed =
      replies('250 Ok', '250 Ok', '554 Message rejected: Email address is not verified.') +
      refused('RCPT TO command') +
      replies('250 Ok', '354 End data with <CR><LF>.<CR><LF>', '250 Ok 0100019a') +
      query('2.0.0').repeat(2);
    expect(us(serve(NEW_CONNECTION + mixed + RSET + DELIVERY, 1, stateFile()).waits)).toEqual([0, span(1)]);
    expect(serve(NEW_CONNECTION + mixed, 0.001, stateFile()).replies).not.toContain('454');
  });

  test.each([0.001, 1, 3])(
    "the first recipient refused, later ones taken, at %s/s: their 250s (the first maybe the abort RSET's) take places, none is replaced by the pacer's 454",
    (rate) => {
      // A 250 after the refusal may be Postfix's abort RSET (a booking would be due) or a recipient
      // SES took (the message goes on): it is taken for a recipient, and answered unchanged.
      const laterTaken =
        replies('250 Ok', '554 Message rejected: Email address is not verified.') +
        refused('RCPT TO command') +
        replies('250 Ok', '250 Ok', '250 Ok', '354 End data with <CR><LF>.<CR><LF>', '250 Ok 0100019a') +
        query('2.0.0').repeat(3);
      const { replies: out } = serve(NEW_CONNECTION + laterTaken, rate, stateFile(), 1e9);
      expect(out).toBe('9:NOTFOUND ,'.repeat(18));
      // At 3/s the three take the window's three places before DATA: the next delivery (booked at
      // once, the window holding three bookings) waits a window at its recipient's reply.
      if (rate === 3)
        expect(us(serve(NEW_CONNECTION + laterTaken + RSET + DELIVERY, 3, stateFile()).waits)).toEqual([0, 0, span(3)]);
    },
  );

  test("a recipient counted with its status (one past the window's K) holds the window a window from then", () => {
    // At 2/s: X counted at 1000.02 (its DATA reply), a recipient without a place counted with its
    // status at 1000.5. Y may start a window after X (1001.025); Z, once Y has started, only a
    // window after that recipient (1001.505).
    const out = schedule(
      2,
      `
s.replied(1000.02, s.start(1000)[1])
s.counted(1000.5)
print(json.dumps([take(1001.0)[0], take(1001.4)[0]]))`,
    ) as number[];
    expect(us(out)).toEqual([0.025, 0.105]);
  });

  test("a message's places begin again at each of its replies until DATA: a long list of recipients does not let them leave the window early", () => {
    // At 2/s: a message to 30 recipients, 60 ms a reply; the first two take the window's places,
    // which begin again at every later recipient's reply, so they count from the DATA reply at
    // 1001.92. Another connection's recipient at 1002.2 waits until a window after that.
    const rcpts = Array.from({ length: 30 }, (_, i): [number, string] => [1000.12 + 0.06 * i, replies('250 Ok')]);
    const waits = serveTimed(
      [
        [1000, NEW_CONNECTION],
        [1000.06, replies('250 Ok')],
        ...rcpts,
        [1001.92, replies('354 End data with <CR><LF>.<CR><LF>')],
        [1002.2, NEW_CONNECTION + replies('250 Ok', '250 Ok')],
      ],
      2,
    );
    expect(us(waits)).toEqual([0, 0, 0.725]);
  });

  test('a place SES refused at DATA, ended by the abort RSET, holds the window from its start only', () => {
    const out = schedule(
      1,
      `
s.ended(1000.1, s.start(1000)[1])
print(json.dumps([s.start(1001.005)[0]]))`,
    ) as number[];
    expect(us(out)).toEqual([0]);
    expect(us(schedule(1, 'print(json.dumps([take(1000)[0], take(1001.005)[0]]))') as number[])).toEqual([0, 1]);
  });

  test('DATA refused after a recipient was taken: the abort RSET and the RSET check each book, none goes unpaced', () => {
    // At 1/s: R1 taken, DATA refused; Postfix aborts (RSET), then checks the connection (RSET) and
    // delivers. A booking at each RSET (the first ends R1's place), so the delivery waits two windows.
    const dataRefused =
      replies('250 Ok', '250 Ok', '554 Transaction failed') + refused('DATA command').replace('5.1.1', '5.3.0');
    const { waits } = serve(NEW_CONNECTION + dataRefused + RSET + RSET + DELIVERY, 1, stateFile());
    expect(us(waits)).toEqual([0, span(1), span(1)]);
    // SES did not count R1: the abort RSET ends its place, which then holds the window a window
    // from its start only. At 0.2/s that is the booking's own 5.025 s; counted as lost (a window
    // later) it would be 10 s off, and the pacer would defer the next delivery with its 454.
    const slow = serve(NEW_CONNECTION + dataRefused + RSET, 0.2, stateFile());
    expect([us(slow.waits), slow.replies.includes('454')]).toEqual([[0, span(0.2)], false]);
  });

  test('a message SES refuses after DATA (its throttling): the next transaction books once, at its RSET check only', () => {
    const throttled = replies('250 Ok', '250 Ok', '354 End data with <CR><LF>.<CR><LF>', '454 Throttling failure');
    const { waits } = serve(NEW_CONNECTION + throttled + query('4.7.0') + RSET + DELIVERY, 1, stateFile());
    expect(us(waits)).toEqual([0, span(1)]);
  });

  test("another of SES's addresses tried in the same delivery (no status between) keeps the first start counting a window late", () => {
    // At 1/s: the first connection got as far as its recipient's place (1000.04), then Postfix
    // tried another address: its booking waits a window after the first, and its recipient until
    // a window after that place and a window more.
    const waits = serveTimed([
      [1000, NEW_CONNECTION],
      [1000.02, replies('250 Ok')],
      [1000.04, replies('250 Ok')],
      [1000.05, NEW_CONNECTION + DELIVERY],
    ]);
    expect(us(waits)).toEqual([0, 0.955, 1.04]);
  });

  test.each([
    ['a new connection', NEW_CONNECTION],
    ['a cached one', RSET],
  ])(
    'a transaction whose connection is lost before its DATA reply counts as SES counting it a window after its start (next on %s)',
    (_, next) => {
      // At 1/s: MAIL FROM and the recipient answered (its place), then the connection lost (4.4.2);
      // the next transaction, at 1000.1, books a window after the first, and its recipient waits
      // until a window after that place and a window more (its DATA may have gone out).
      const waits = serveTimed([
        [1000, NEW_CONNECTION],
        [1000.02, replies('250 Ok')],
        [1000.04, replies('250 Ok') + query('4.4.2')],
        [1000.1, next + DELIVERY],
      ]);
      expect(us(waits)).toEqual([0, 0.905, 1.04]);
    },
  );

  test('a transaction whose DATA reply never came (a connection lost) counts as SES counting it a window after its start', () => {
    const out = schedule(1, 'print(json.dumps([take(1000)[0], take(1001.005)[0]]))') as number[];
    expect(us(out)).toEqual([0, 1]);
  });

  test('time left idle is not saved up for a burst: after an idle hour, no more than the rate start in a window', () => {
    const state = stateFile();
    serve(FIRST, 2, state, 1000);
    const { waits } = serve(FIRST + RSET + DELIVERY + RSET + DELIVERY, 2, state, 5000);
    expect(us(waits)).toEqual([0, 0, span(2)]);
  });

  // What went out in the window before a schedule it cannot read is not known: as much as the
  // window holds (the last release's pacer, stopped a moment ago, may have filled it).
  test('a schedule over a minute and 1000 windows ahead is a clock that went back: it starts again from now, a window on', () => {
    const state = stateFile();
    serve(FIRST + RSET + DELIVERY, 1, state, 1e9);
    // The first transaction a window after the new start, the next a window after it.
    expect(us(serve(FIRST + RSET + DELIVERY, 1, state, 1000).waits)).toEqual([span(1), span(1)]);
  });

  test("an earlier release's schedule (text, or another magic) is replaced, not misread: no transaction begins for a window", () => {
    const state = stateFile();
    writeFileSync(state, '999999999999.000000 999999999999.000000');
    expect(us(serve(FIRST, 10, state).waits)).toEqual([span(10)]);
    // None of the window's 10 bookings, not the first only; a new schedule holds none back.
    const ten = 'print(json.dumps([s.book(1000) for _ in range(10)]))';
    const earlier = 'os.pwrite(s.fd, b"999999999999.000000 999999999999.000000", 0)\n';
    expect(us(schedule(10, earlier + ten) as number[])).toEqual(Array(10).fill(span(10)));
    // The file of a release whose format had another magic (its header as this one's, full size).
    const binary = 'os.pwrite(s.fd, pacer.HEAD.pack(b"sespace5", 10, 9, 9, 0, 0, 0, 0, 0, 1, 0, 0), 0)\n';
    expect(us(schedule(10, binary + ten) as number[])).toEqual(Array(10).fill(span(10)));
    expect(schedule(10, ten)).toEqual(Array(10).fill(0));
  });

  test("another rate's schedule (the rate changed) is carried over: at 0.001/s, a start a moment ago at 2/s holds the next back", () => {
    const state = stateFile();
    serve(FIRST + RSET + DELIVERY, 2, state, 1000);
    // Its turn is 1005 s off: deferred now (below); 5 s before it comes, booked at once (bookings
    // are not carried over: the places are), its recipient waits the 5 s.
    expect(serve(NEW_CONNECTION + query('4.7.0'), 0.001, state, 1000).replies).toContain(DEFERRED);
    expect(us(serve(FIRST, 0.001, state, 1000 + span(0.001) - 5).waits)).toEqual([0, 5]);
  });

  test('two messages that each hold a place and want another never wait for each other: the one begun first goes, then the other', () => {
    // At 2/s: A's first recipient at 1000, B's at 1000.01 (the window full); at 1000.02 each wants
    // a second place. Neither holds its place while it waits (SES counts none before DATA), and B
    // leaves room for A, whose message began first: A takes two at its next look (1000.04), and
    // once its DATA reply came (1000.06), B a window after it.
    const out = schedule(
      2,
      `
clients = {1: (1000, s.start(1000, None, 1, 1, since=1000)[1]), 2: (1000.01, s.start(1000.01, None, 1, 2, since=1000.01)[1])}
looks, placed, replied = [(1000.02, 1), (1000.02, 2)], {}, False
while looks:
    looks.sort()
    t, c = looks.pop(0)
    if 1 in placed and t >= 1000.06 and not replied:  # A's DATA reply
        s.replied(1000.06, placed[1][1])
        replied = True
    since, group = clients[c]
    wait, g = s.start(t, group, 1, c, since=since)
    if wait:
        looks.append((t + wait, c))
    else:
        placed[c] = (t, g)
print(json.dumps([placed[1][0], placed[1][1][2], placed[2][0], placed[2][1][2]]))`,
    ) as number[];
    expect(us(out)).toEqual([1000.04, 2, 1001.065, 2]);
  });

  test('at 1/s and below (one recipient a transaction) a recipient whose place is more than 8 s off is answered with the 454: SES never counts it', () => {
    // At 0.1/s: booked at 1000 with the place free; then another SMTP client's recipient takes the
    // place (1000.01), so at the recipient's reply the next is 20 s off. Without it, the reply goes.
    const before = NEW_CONNECTION + replies('250 Ok');
    const input = before + replies('250 Ok');
    const beside = { mark: Buffer.byteLength(before), code: 'other.start(1000.01)' };
    expect(serve(input, 0.1, stateFile(), 1000.02, beside).replies).toBe('9:NOTFOUND ,'.repeat(8) + DEFERRED);
    expect(serve(input, 0.1, stateFile(), 1000.02).replies).toBe('9:NOTFOUND ,'.repeat(9));
  });

  test('a client behind the waiting one looks again once it has woken, not sooner; one that never came back is passed a second later', () => {
    // At 2/s: X's recipient (no DATA reply yet); A (since 1000) wants two and waits, looking
    // again at 1000.02; B (since 1000.01) leaves room for A: it looks again 20 ms on, also at
    // 1000.5 (A overdue), and at 1001.5 (A gone) takes its place.
    const out = schedule(
      2,
      `
s.start(1000)
out = [s.start(1000.005, None, 2, 1, since=1000)[0]]
out += [s.start(t, None, 1, 2, since=1000.01)[0] for t in (1000.01, 1000.5, 1001.5)]
print(json.dumps(out))`,
    ) as number[];
    expect(us(out)).toEqual([0.02, 0.02, 0.02, 0]);
  });

  test('clients waiting for one full window each wake in turn, once: none wakes for a place another took', () => {
    // At 10/s: ten recipients fill the window (1000 to 1000.09, each counted from its DATA reply
    // 20 ms on). Five clients ask from 1000.1 on: each leaves room for those that waited before it,
    // so each wakes when one more place leaves the window (1001.025, 1001.035, ...), and takes it.
    const out = schedule(
      10,
      `
for i in range(10):
    s.replied(1000 + i / 100 + 0.02, s.start(1000 + i / 100)[1])
looks, woke = [], {}
for c in range(1, 6):
    t = 1000.1 + c / 1000
    looks.append((t + s.start(t, None, 1, c, since=t)[0], c, t))
asked = {c: 1 for c in range(1, 6)}
while looks:
    looks.sort()
    t, c, since = looks.pop(0)
    asked[c] += 1
    wait = s.start(t, None, 1, c, since=since)[0]
    if wait:
        looks.append((t + wait, c, since))
    else:
        woke[c] = t
print(json.dumps([[woke[c] for c in range(1, 6)], [asked[c] for c in range(1, 6)]]))`,
    ) as [number[], number[]];
    expect(us(out[0])).toEqual([1001.025, 1001.035, 1001.045, 1001.055, 1001.065]);
    expect(out[1]).toEqual([2, 2, 2, 2, 2]);
  });

  test('more clients waiting than the table of waiters holds (128): the others wait unentered, after all of those entered', () => {
    // At 200/s: the window full (1000 to 1000.995, counted from 20 ms on); 130 clients ask in turn.
    // The 128 entered wake 5 ms apart as places leave; the two left out both wake after the last.
    const out = schedule(
      200,
      `
for i in range(200):
    s.replied(1000 + i / 200 + 0.02, s.start(1000 + i / 200)[1])
print(json.dumps([1001 + c / 10000 + s.start(1001 + c / 10000, None, 1, c, since=1001 + c / 10000)[0] for c in range(1, 131)]))`,
    ) as number[];
    const wakes = us(out);
    expect(wakes.slice(0, 128)).toEqual(Array.from({ length: 128 }, (_, i) => Number((1001.025 + i / 200).toFixed(6))));
    expect(wakes.slice(128)).toEqual([1001.665, 1001.665]);
  });

  test('a client that read the clock long before it got the lock (stalled 2 s) hides no group before it', () => {
    // At 2/s: B's recipient begins at 1001.9; A read the clock at 1000 and stalled until 1001.95,
    // when it takes the window's other place: its group begins then (the clock read again under
    // the lock), after B's, so the ledger stays in order. At 1003.5 both still count (no DATA
    // reply: until 1002.9 and 1002.95), so C waits until 1003.905.
    const out = schedule(
      2,
      `
s.start(1001.9)
a = pacer.Schedule(os.open(sys.argv[3], os.O_RDWR), 2, clock=lambda: 1001.95)
print(json.dumps([a.start(1000)[0], take(1003.5)[0]]))`,
    ) as number[];
    expect(us(out)).toEqual([0, 0.405]);
  });

  test('a rate raised while a place of the longer window still counts: the place keeps counting', () => {
    // At 0.5/s (a window of 2 s): a recipient at 1000, its DATA reply at 1001.9 (counted from
    // then). At 2/s from 1002.1: the first takes the window's other place, the second waits until
    // that place has left a window after 1001.9 (1002.905).
    const out = schedule(
      0.5,
      `
s.replied(1001.9, s.start(1000)[1])
f = pacer.Schedule(os.open(sys.argv[3], os.O_RDWR), 2)
print(json.dumps([f.start(1002.1)[0], f.start(1002.1)[0]]))`,
    ) as number[];
    expect(us(out)).toEqual([0, 0.805]);
    // With no DATA reply yet, it counts as if SES counted it a window of 2 s after it began: the
    // second at 2/s from 1001.5 waits until 1003.005.
    const unreplied = schedule(
      0.5,
      `
s.start(1000)
f = pacer.Schedule(os.open(sys.argv[3], os.O_RDWR), 2)
s = f
print(json.dumps([f.start(1001.5)[0], take(1001.5)[0]]))`,
    ) as number[];
    expect(us(unreplied)).toEqual([0, 1.505]);
  });

  test('a free place is taken even by a client that overslept its limit', () => {
    expect(schedule(0.125, 'print(json.dumps(s.start(1000, None, 1, 0, -0.5)[0]))')).toBe(0);
  });

  test("no room for 100 s (Postfix's socketmap limit): the pacer gives up with an error (Postfix defers; no DATA went out)", () => {
    // At 0.005/s: a message's place at 1000, another recipient counted with its status at 1000.1:
    // the message's place again is 201 s off.
    const out = schedule(
      0.005,
      `
g = s.start(1000)[1]
s.counted(1000.1)
now = [1000.2]
def sleep(w):
    now[0] += w
try:
    pacer.take_start(s, lambda: now[0], sleep, g, 0, 1, 1000)
    print(json.dumps("no error"))
except TimeoutError as err:
    print(json.dumps(str(err)))`,
    );
    expect(out).toBe('no room in the window for 100 s');
  });

  // The wait holds a connection SES is reported to close after about 10 s idle (and Postfix's
  // socketmap client gives up after 100 s): a place booked for nothing, again at every retry.
  test('a turn more than 8 s off is not waited for: the reply is a 454 (Postfix defers the mail) and no place is booked', () => {
    const state = stateFile();
    // At 0.001/s (1/s over 1,000 relays) the first transaction goes at once; on the cached
    // connection the next one's turn is 1005 s off.
    const first = serve(FIRST + RSET, 0.001, state, 1e9);
    expect(first.waits).toEqual([0]);
    expect(first.replies).toBe(`${'9:NOTFOUND ,'.repeat(12)}${DEFERRED}`);
    // Every retry before the turn is deferred at once, booking nothing that would push it back...
    for (const at of [1e9 + 10, 1e9 + 300, 1e9 + 900]) {
      const retry = serve(NEW_CONNECTION + query('4.7.0'), 0.001, state, at);
      expect([retry.waits, retry.replies.endsWith(`${DEFERRED}9:NOTFOUND ,`)]).toEqual([[], true]);
    }
    // ...so the one within 8 s of the turn waits for it, and takes it.
    const taken = serve(FIRST, 0.001, state, 1e9 + span(0.001) - 6);
    expect([us(taken.waits), taken.replies.includes('454')]).toEqual([[6], false]);
  });

  test('a turn refused at an RSET check: the next cached connection Postfix tries is checked and booked again', () => {
    // At 0.001/s, after a delivery: the RSET check of a cached connection draws the pacer's 454;
    // Postfix may try another cached connection in the same delivery, whose RSET draws it too.
    const { replies: out } = serve(FIRST + RSET + RSET, 0.001, stateFile(), 1e9);
    expect(out).toBe(`${'9:NOTFOUND ,'.repeat(12)}${DEFERRED}${DEFERRED}`);
  });

  test.each([0.001, 0.005, 1 / 90, 0.02, 0.125, 0.2, 0.5, 1])('no wait at %s recipients/s reaches 8 s', (rate) => {
    // Two transactions a connection, a connection every 7 s: the second waits its window where
    // that is 8 s or less, and is deferred (the 454) where it is more.
    const state = stateFile();
    let now = 1000;
    const waits: number[] = [];
    let answered = '';
    for (let i = 0; i < 6; i++) {
      const r = serve(FIRST + RSET + DELIVERY, rate, state, now);
      waits.push(...r.waits);
      answered += r.replies;
      now += 7;
    }
    expect(waits.every((w) => w <= 8)).toBe(true);
    if (span(rate) <= 8) expect(Math.max(...waits)).toBeGreaterThan(0);
    else expect(answered).toContain(DEFERRED);
  });

  // Many SMTP client processes on a simulated clock, each delivering a message at a time, all
  // through pacer.py's Schedule on one state file, as serve() does: a booking at the RSET check,
  // then MAIL FROM's round trip, then each recipient's (1 to `most` of them, at most Postfix's
  // limit, K), whose reply waits until the window has room for the message's recipients so far
  // (looking again as the pacer does); the DATA command reaches SES (which counts all of them
  // there) half a round trip after the last plus up to `jitter` (the path's variations, which the
  // pacer does not know), and its reply as late again; the message and the next RSET check take
  // two round trips more (a delivery to one recipient: five). No sliding second of SES's ever
  // holds more recipients than the rate, the rate is used, and every message goes in time.
  test.each([
    [50, 13, 0.06, 0, 1, 0.98],
    [50, 13, 0.06, 0.01, 1, 0.98],
    [50, 13, 0.002, 0.02, 1, 0.98],
    [14, 7, 0.1, 0.01, 1, 0.98],
    [1, 1, 0.05, 0.005, 1, 0.98],
    [200, 50, 0.06, 0.03, 1, 0.98],
    [0.5, 1, 0.1, 0, 1, 0.98],
    [4.66667, 2, 0.1, 0.01, 1, 0.98],
    [100000, 50, 0.0004, 0, 1, 0.98],
    [50, 25, 0.06, 0.01, 5, 0.85],
    [5, 3, 0.1, 0.01, 5, 0.75],
    [14, 7, 0.1, 0.01, 14, 0.5],
    [200, 50, 0.06, 0.03, 50, 0.6],
  ])(
    'at %s/s over %s connections (%s s a delivery, paths varying by %s s, 1 to %s recipients a message) no second of SES holds more than the rate, and at least %s of it is used',
    (rate, conns, duration, jitter, most, floor) => {
      const driver = `
import heapq, json, os, random, sys
sys.path.insert(0, sys.argv[1])
import pacer
rate, conns, duration, jitter, most = float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
s = pacer.Schedule(os.open(sys.argv[7], os.O_RDWR | os.O_CREAT, 0o600), rate)
rtt = duration / 5
rnd = random.Random(7)
events = [(1000 + i * 1e-6, i, "hook", None) for i in range(conns)]
counted, took, looks = [], [], 0
while len(counted) < min(2000, max(20, 30 * rate)):
    t, i, phase, message = heapq.heappop(events)
    if phase == "hook":
        wait = s.book(t, i + 1)
        assert wait is not None
        began = t + wait + 2 * rtt
        heapq.heappush(events, (began, i, "rcpt", (rnd.randint(1, most), None, began)))
    elif phase == "rcpt":
        left, group, began = message
        looks += 1
        wait, placed = s.start(t, group, 1, i + 1, since=began)
        if wait:
            heapq.heappush(events, (t + wait, i, "rcpt", message))
        elif left > 1:
            heapq.heappush(events, (t + rtt, i, "rcpt", (left - 1, placed, began)))
        else:
            there = t + rtt / 2 + rnd.random() * jitter
            counted += [there] * placed[2]
            took.append(there - began)
            heapq.heappush(events, (there + rtt / 2 + rnd.random() * jitter, i, "reply", placed))
    else:
        s.replied(t, message)
        heapq.heappush(events, (t + 2 * rtt, i, "hook", None))
print(json.dumps([sorted(counted), max(took), looks / len(took)]))
`;
      const r = spawnSync(
        'python3',
        ['-c', driver, join(PACER, '..'), ...[rate, conns, duration, jitter, most].map(String), stateFile()],
        { encoding: 'utf8' },
      );
      expect(r.stderr).toBe('');
      const [counted, longest, looks]: [number[], number, number] = JSON.parse(r.stdout);
      let busiest = 0;
      for (let i = 0, j = 0; i < counted.length; i++) {
        while (counted[i] - counted[j] >= 1) j++;
        busiest = Math.max(busiest, i - j + 1);
      }
      expect(busiest).toBeLessThanOrEqual(Math.max(1, Math.floor(rate)));
      // ...and the rate is used: over whole windows of the run, within 2 % of it (or of the
      // connections' own limit). At a fractional rate above 1/s, a second holds its whole part.
      // Messages to several recipients fill seconds less (one to 9 does not go where 6 are; the
      // more so the nearer their size to the rate's), and none waits 30 s.
      const window = span(rate);
      const first = counted[0];
      const whole = Math.floor((counted[counted.length - 1] - first) / window) * window;
      const achieved =
        whole > 0
          ? counted.filter((t) => t < first + whole).length / whole
          : (counted.length - 1) / (counted[counted.length - 1] - first);
      const limit = Math.min(rate >= 1 ? Math.floor(rate) : rate, conns / duration);
      expect(achieved).toBeGreaterThan(limit * floor);
      expect(longest).toBeLessThan(30);
      // Waiting clients wake in turn: a message to one recipient looks for its place about twice
      // on average (a look at its reply, a second when it had to wait; under 2.5, counting the
      // looks of messages still under way at the end), not again and again.
      if (most === 1) expect(looks).toBeLessThan(2.5);
    },
  );

  test.each(['0.001', '4.66667', '0.0015', '100000'])(
    'takes any rate above 0 (%s: relay shares, the largest quota)',
    (rate) => {
      const r = spawnSync('python3', [PACER, rate, stateFile()], { input: query('2.0.0'), encoding: 'utf8' });
      expect([r.status, r.stdout, r.stderr]).toEqual([0, '9:NOTFOUND ,', '']);
    },
  );

  // Under systemd (ses-relay-pace.socket): one long-running pacer for all SMTP clients.
  test('on the socket systemd passes, one process serves every SMTP client, all in one schedule', () => {
    const out = listening(
      2,
      stateFile(),
      `a, b = connect(), connect()
answers = [ask(a, ${JSON.stringify(NEW_CONNECTION)}), ask(b, ${JSON.stringify(NEW_CONNECTION)})]
# Only the pacer holds the socket (the driver closed its own): its threads, one a client.
threads = len(os.listdir(f"/proc/{pacer.pid}/task"))
# The bookings the shared schedule holds (its header's third field): one each (their AUTH replies).
booked = module.HEAD.unpack(os.pread(schedule.fd, module.HEAD.size, 0))[2]
running = pacer.poll()
a.close()
b.close()
print(json.dumps({"answers": answers, "threads": threads, "booked": booked, "running": running}))`,
    ) as { answers: string[]; threads: number; booked: number; running: number | null };
    expect(out.answers).toEqual(['9:NOTFOUND ,'.repeat(7), '9:NOTFOUND ,'.repeat(7)]);
    expect(out.threads).toBe(3);
    expect(out.booked).toBe(2);
    expect(out.running).toBeNull();
  });

  test('on the socket, each SMTP client waits as a client of its own (its owner: the pacer pid, then its number)', () => {
    // At 3/s: A's transaction takes the window's three places (no DATA reply yet); B's and C's
    // recipients then wait, each entered in the waiters' table under its own owner (one owner for
    // all would share one entry, and none would leave room for another's older message).
    const out = listening(
      3,
      stateFile(),
      `a, b, c = connect(), connect(), connect()
ask(a, ${JSON.stringify(NEW_CONNECTION + replies('250 Ok', '250 Ok', '250 Ok', '250 Ok'))})
for client in (b, c):
    ask(client, ${JSON.stringify(NEW_CONNECTION + replies('250 Ok'))})
    client.sendall(${JSON.stringify(replies('250 Ok'))}.encode())
time.sleep(0.3)
raw = os.pread(schedule.fd, module.WAITER.size * module.WAITERS, module.HEAD.size)
owners = [w[1] for w in module.WAITER.iter_unpack(raw) if w[1]]
print(json.dumps({"pacers": [o >> 32 for o in owners], "distinct": len(set(owners)), "pid": pacer.pid}))
for client in (a, b, c):
    client.close()`,
    ) as { pacers: number[]; distinct: number; pid: number };
    expect(out.pacers).toEqual([out.pid, out.pid]);
    expect(out.distinct).toBe(2);
  });

  test("stopped (SIGTERM: a new rate or program), it serves its clients' transactions to their end, then exits 0", () => {
    const out = listening(
      50,
      stateFile(),
      `a = connect()
before = ask(a, ${JSON.stringify(NEW_CONNECTION)})
pacer.send_signal(signal.SIGTERM)
time.sleep(0.5)
alive = pacer.poll()
rest = ask(a, ${JSON.stringify(DELIVERY)})
a.close()
code = pacer.wait(timeout=30)
print(json.dumps({"answers": before + rest, "alive": alive, "code": code, "stderr": pacer.stderr.read().decode()}))`,
    ) as { answers: string; alive: number | null; code: number; stderr: string };
    expect(out.alive).toBeNull();
    expect(out.answers).toBe('9:NOTFOUND ,'.repeat(12));
    expect([out.code, out.stderr]).toEqual([0, '']);
  });

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
