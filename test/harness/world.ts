// The end-to-end test world: real Postfix from Debian's package, run in its own mount, network
// and UTS namespaces with private copies of its state, so the rendered script runs unmodified as
// root without touching the host. DNS, CA trust and the `aws` CLI are the only stand-ins.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';
import { selfSignedCertificate, signedCertificate } from './tls';

const ROOT = join(__dirname, '..', '..');
// The stand-ins this world runs (the SES and metadata stand-ins, the delay proxy, `aws`) live beside it.
const HARNESS = __dirname;
export const SES_HOST = 'email-smtp.eu-west-1.amazonaws.com';

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** True when this machine can build the world (root, unshare, Postfix installed). */
export function worldAvailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'the end-to-end world needs root';
  for (const tool of ['/usr/sbin/postfix', '/usr/sbin/dnsmasq', '/usr/bin/unshare', '/usr/bin/openssl']) {
    if (spawnSync('test', ['-x', tool]).status !== 0) return `${tool} is missing (run .ci/run to install it)`;
  }
  return undefined;
}

/** A CA, a certificate for the SES host signed by it, one for another name, and a self-signed one. */
export function makeWorldTls(dir: string): void {
  selfSignedCertificate(dir, 'ca', 'ses-relay test CA');
  signedCertificate(dir, 'ses', SES_HOST);
  signedCertificate(dir, 'impostor', 'other.example.net');
  selfSignedCertificate(dir, 'selfsigned', SES_HOST, ['-addext', `subjectAltName=DNS:${SES_HOST}`]);
}

/** Starts `unshare ... sleep infinity` and waits until it is in its own network namespace. */
function namespaceHolder(flags: string[]): ChildProcess {
  const holder = spawn('unshare', [...flags, 'sleep', 'infinity'], { stdio: 'ignore' });
  const self = readlinkSync('/proc/self/ns/net');
  const inOwn = () => {
    try {
      return readlinkSync(`/proc/${holder.pid}/ns/net`) !== self;
    } catch {
      return false;
    }
  };
  // unshare execs sleep in place once the namespaces exist.
  for (let i = 0; i < 500 && !inOwn(); i++) spawnSync('sleep', ['0.01']);
  if (!inOwn()) throw new Error(`unshare ${flags.join(' ')} did not create its namespaces`);
  return holder;
}

/** The local SES stand-in, a child process inside the world. */
export class Standin {
  readonly events: Record<string, unknown>[] = [];
  private readonly waiters: (() => void)[] = [];

  private readonly control: Writable;

  constructor(private readonly proc: ChildProcess) {
    if (!proc.stdout || !proc.stdin) throw new Error('the stand-in needs piped stdin and stdout');
    this.control = proc.stdin;
    createInterface({ input: proc.stdout }).on('line', (line) => {
      // `at`: when the event reached the test (ms), to order it against other records.
      this.events.push({ ...JSON.parse(line), at: Date.now() });
      for (const w of this.waiters.splice(0)) w();
    });
  }

  messages(): { from: string; to: string[]; raw: string; user: string }[] {
    return this.received(0).map((e) => ({
      ...(e as { from: string; to: string[]; user: string }),
      raw: Buffer.from(e.raw as string, 'base64').toString('utf8'),
    }));
  }

  count(event: string): number {
    return this.events.filter((e) => e.event === event).length;
  }

  /**
   * When the stand-in counted each recipient (its message's DATA command, its own clock), in the
   * messages from the `from`-th on, in order.
   */
  arrivals(from = 0): number[] {
    return this.received(from)
      .flatMap((e) => Array((e.to as string[]).length).fill(e.countedAt as number))
      .sort((x, y) => x - y);
  }

  /** The stand-in's message events, from the `from`-th on. */
  private received(from: number) {
    return this.events.filter((e) => e.event === 'message').slice(from);
  }

  /**
   * The most recipients accepted within any sliding second, by the stand-in's own clock at their
   * DATA command (`countedAt`; `at` is when the event reached this process), among the messages
   * received from the `from`-th on.
   */
  busiestSecond(from = 0): number {
    const times = this.arrivals(from);
    let most = 0;
    for (let i = 0, j = 0; i < times.length; i++) {
      while (times[i] - times[j] >= 1000) j++;
      most = Math.max(most, i - j + 1);
    }
    return most;
  }

  /** Resolves once `predicate` holds over the events, or rejects after `ms`. */
  waitFor(predicate: () => boolean, ms = 30000, what = 'condition'): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(`timed out waiting for ${what}; events: ${JSON.stringify(this.events.map((e) => e.event))}`),
          ),
        ms,
      );
      const check = () => {
        if (predicate()) {
          clearTimeout(timer);
          resolve();
        } else this.waiters.push(check);
      };
      check();
    });
  }

  async setMode(mode: 'accept' | '454' | '535' | 'down'): Promise<void> {
    const before = this.count('mode');
    this.control.write(`${JSON.stringify({ mode })}\n`);
    await this.waitFor(() => this.count('mode') > before, 5000, `mode ${mode}`);
  }

  /** Replaces the set of credentials the stand-in accepts at AUTH (from its next AUTH on). */
  async setCredentials(credentials: readonly WorldCredentials[]): Promise<void> {
    const before = this.count('credentials');
    this.control.write(`${JSON.stringify({ credentials })}\n`);
    await this.waitFor(() => this.count('credentials') > before, 5000, 'credentials');
  }

  /** Ends the stand-in and its children (tsx runs the script in a child node process). */
  stop(): Promise<void> {
    const pid = this.proc.pid;
    const exited = new Promise<void>((resolve) => {
      if (!pid || this.proc.exitCode !== null || this.proc.signalCode !== null) resolve();
      else this.proc.once('exit', () => resolve());
    });
    try {
      // Its process group; never -0 (a stand-in that never started has no pid): that is ours.
      if (pid) process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
    return exited;
  }
}

export interface WorldCredentials {
  readonly username: string;
  readonly password: string;
}

/** How the SES stand-in runs: see World.startStandin. */
export interface StandinOptions {
  readonly port?: number;
  readonly cert?: string;
  readonly wrapper?: boolean;
  readonly mode?: string;
  readonly quota?: number;
  readonly rateModel?: 'bucket' | 'window';
}

/** Runs a TypeScript fixture of the harness in the namespaces of process `pid`; its JSON-line events are collected. */
export function startFixture(pid: number, fixture: string, args: string[], env: NodeJS.ProcessEnv = {}): Standin {
  const tsx = [process.execPath, join(ROOT, 'node_modules/tsx/dist/cli.mjs'), join(HARNESS, fixture)];
  const proc = spawn('nsenter', ['-t', String(pid), '-m', '-n', '-u', '--', ...tsx, ...args], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
    detached: true,
  });
  return new Standin(proc);
}

/** Starts the SES stand-in in the namespaces of process `pid`, its certificates from `tls`. */
export async function startStandinIn(
  pid: number,
  tls: string,
  creds: WorldCredentials,
  opts: StandinOptions = {},
): Promise<Standin> {
  const cert = opts.cert ?? 'ses';
  const mode = opts.mode ?? 'accept';
  const args = [
    '--port',
    String(opts.port ?? 587),
    '--key',
    join(tls, `${cert}.key`),
    '--cert',
    join(tls, `${cert}.crt`),
  ];
  args.push('--wrapper', opts.wrapper ? 'yes' : 'no', '--mode', mode, '--name', SES_HOST);
  args.push('--quota', String(opts.quota ?? 0), '--rate-model', opts.rateModel ?? 'bucket');
  const standin = startFixture(pid, 'ses-standin.ts', args, {
    STANDIN_USER: creds.username,
    STANDIN_PASSWORD: creds.password,
  });
  if (mode !== 'down') await standin.waitFor(() => standin.count('listening') > 0, 20000, 'stand-in listening');
  return standin;
}

/** A proxy in the namespaces of process `pid` on `listen`, forwarding to `target` with `delayMs` each way. */
export async function startDelayProxyIn(
  pid: number,
  listen: number,
  target: number,
  delayMs: number,
): Promise<Standin> {
  const args = ['--listen', String(listen), '--target', String(target), '--delay', String(delayMs)];
  const proxy = startFixture(pid, 'delay-proxy.ts', args);
  await proxy.waitFor(() => proxy.count('listening') > 0, 20000, 'delay proxy listening');
  return proxy;
}

/** RESULT of CMD, or, when it failed, the error that says what it said (exec's `check`). */
export function checked(cmd: string[], result: RunResult): RunResult {
  if (result.code !== 0) throw new Error(`${cmd.join(' ')} failed (${result.code}): ${result.stderr}${result.stdout}`);
  return result;
}

/** Runs `nsenter ENTER CMD` and waits for it (at most `timeout` ms). */
export function nsenterSync(
  enter: string[],
  cmd: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string; timeout: number },
): RunResult {
  const r = spawnSync('nsenter', [...enter, ...cmd], {
    env: { ...process.env, ...opts.env },
    input: opts.input,
    encoding: 'utf8',
    timeout: opts.timeout,
  });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Runs `nsenter ENTER CMD` without blocking the event loop (fixture events keep flowing). */
export function nsenterAsync(enter: string[], cmd: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const p = spawn('nsenter', [...enter, ...cmd], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => {
      stdout += d;
    });
    p.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    p.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

export class World {
  readonly dir: string;
  readonly tls: string;
  private readonly holder: ChildProcess;
  private readonly standins: Standin[] = [];
  private readonly extraHolders: ChildProcess[] = [];

  private constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'ses-relay-e2e-'));
    this.tls = join(this.dir, 'tls');
    execFileSync('mkdir', ['-p', this.tls]);
    makeWorldTls(this.tls);
    // The holder keeps the namespaces alive; everything else joins them with nsenter.
    this.holder = namespaceHolder(['--mount', '--net', '--uts', '--propagation', 'private']);
  }

  static create(): World {
    const world = new World();
    world.exec(['bash', join(__dirname, 'world-setup.sh'), world.dir, SES_HOST], { check: true });
    return world;
  }

  get pid(): number {
    if (this.holder.pid === undefined) throw new Error('unshare did not start');
    return this.holder.pid;
  }

  /** Runs a command inside the world. */
  exec(cmd: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; check?: boolean } = {}): RunResult {
    const result = nsenterSync(['-t', String(this.pid), '-m', '-n', '-u', '--'], cmd, { ...opts, timeout: 120000 });
    return opts.check ? checked(cmd, result) : result;
  }

  /** Runs a TypeScript fixture inside the world; its JSON-line events are collected. */
  private startFixture(fixture: string, args: string[], env: NodeJS.ProcessEnv = {}): Standin {
    const handle = startFixture(this.pid, fixture, args, env);
    this.standins.push(handle);
    return handle;
  }

  /**
   * Starts the SES stand-in on a port, with a certificate set (ses, impostor, selfsigned) and,
   * optionally, a send-rate quota in recipients per second enforced by a rate model: `bucket` (a
   * token bucket, the default) or `window` (a strict sliding second); see ses-standin.ts.
   */
  async startStandin(creds: WorldCredentials, opts: StandinOptions = {}): Promise<Standin> {
    const standin = await startStandinIn(this.pid, this.tls, creds, opts);
    this.standins.push(standin);
    return standin;
  }

  /** A proxy on `listen` that forwards to `target` adding `delayMs` each way (RTT = 2 x delayMs). */
  async startDelayProxy(listen: number, target: number, delayMs: number): Promise<Standin> {
    const proxy = await startDelayProxyIn(this.pid, listen, target, delayMs);
    this.standins.push(proxy);
    return proxy;
  }

  /** Writes the secret the fake `aws` returns; returns the environment the script runs with. */
  awsEnv(secretId: string, secretJson: string, mode = 'ok', region = 'eu-west-1'): NodeJS.ProcessEnv {
    const secretFile = join(this.dir, 'secret.json');
    writeFileSync(secretFile, secretJson, { mode: 0o600 });
    return {
      PATH: `${HARNESS}:${process.env.PATH}`,
      FAKE_AWS_SECRET_FILE: secretFile,
      FAKE_AWS_SECRET_ID: secretId,
      FAKE_AWS_REGION: region,
      FAKE_AWS_MODE: mode,
      FAKE_AWS_LOG: join(this.dir, 'aws.log'),
    };
  }

  /** Runs a command inside the world without blocking the event loop (fixture events keep flowing). */
  execAsync(cmd: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
    return nsenterAsync(['-t', String(this.pid), '-m', '-n', '-u', '--'], cmd, env);
  }

  /**
   * Starts the instance metadata stand-in on 169.254.169.254 with these items (IMDSv2); returns a
   * function that replaces them (say, `autoscaling/target-lifecycle-state` becoming Terminated).
   */
  async startImds(items: Record<string, string>): Promise<(next: Record<string, string>) => void> {
    const file = join(this.dir, 'imds.json');
    const write = (next: Record<string, string>) => writeFileSync(file, JSON.stringify(next));
    write(items);
    this.exec(['ip', 'addr', 'add', '169.254.169.254/32', 'dev', 'lo'], { check: true });
    const imds = this.startFixture('imds-standin.ts', ['--items', file]);
    await imds.waitFor(() => imds.count('listening') > 0, 20000, 'metadata stand-in listening');
    return write;
  }

  /** Joins this world and another by a veth pair: this side gets `addr`, the other `otherAddr` (/24). */
  link(other: World, name: string, addr: string, otherAddr: string): void {
    execFileSync('ip', ['link', 'add', `a${name}`, 'type', 'veth', 'peer', 'name', `b${name}`]);
    execFileSync('ip', ['link', 'set', `a${name}`, 'netns', String(this.pid)]);
    execFileSync('ip', ['link', 'set', `b${name}`, 'netns', String(other.pid)]);
    for (const [world, dev, address] of [
      [this, `a${name}`, addr],
      [other, `b${name}`, otherAddr],
    ] as const) {
      world.exec(['ip', 'addr', 'add', `${address}/24`, 'dev', dev], { check: true });
      world.exec(['ip', 'link', 'set', dev, 'up'], { check: true });
    }
  }

  /** The AWS CLI stand-in's log: one call per line, each with the time it was made (ms). */
  awsCalls(): { at: number; call: string }[] {
    let text = '';
    try {
      text = readFileSync(join(this.dir, 'aws.log'), 'utf8');
    } catch {
      return [];
    }
    return text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => ({ at: Number(l.slice(0, l.indexOf(' '))), call: l.slice(l.indexOf(' ') + 1) }));
  }

  /** Runs a rendered script unmodified as root in the world, under strace to record every exec. */
  runScript(script: string, env: NodeJS.ProcessEnv, name = 'bootstrap.sh'): RunResult & { trace: string } {
    const path = join(this.dir, name);
    writeFileSync(path, script, { mode: 0o700 });
    const trace = join(this.dir, `${name}.trace`);
    // strace -f would wait for the Postfix daemons the script starts: once the script is done,
    // its wrapper ends strace, which detaches from them.
    // --norc: bash sources ~/.bashrc even when not interactive if it thinks sshd started it (stdin
    // a socket), and a host's .bashrc may put its own `aws` ahead of the stand-in on PATH.
    const wrapper = 'bash --norc "$0"; echo $? >"$0.rc"; kill -TERM $PPID';
    const r = this.exec(
      [
        'strace',
        '-I1',
        '-f',
        '-qq',
        '-v',
        '-s',
        '4096',
        '-e',
        'trace=execve,openat,rename,renameat,renameat2',
        '-o',
        trace,
        'bash',
        '--norc',
        '-c',
        wrapper,
        path,
      ],
      { env },
    );
    const code = Number(readFileSync(`${path}.rc`, 'utf8'));
    return { ...r, code, trace: readFileSync(trace, 'utf8') };
  }

  /**
   * Submits `count` messages ("Subject: m<i>", from sender@example.com to user<i>@example.com, i
   * from `first`) through the sendmail command, all at once or `perSecond` at most.
   */
  async submitMany(count: number, first = 1, perSecond = 0): Promise<number> {
    const pace = perSecond > 0 ? `sleep ${(1 / perSecond).toFixed(4)};` : '';
    const r = await this.execAsync([
      'bash',
      '-c',
      `for i in $(seq ${first} ${first + count - 1}); do printf 'Subject: m%s\\n\\nbody\\n' "$i" | /usr/sbin/sendmail -f sender@example.com "user$i@example.com" & ${pace} done; wait`,
    ]);
    return r.code;
  }

  sendmail(from: string, to: string[], message: string): RunResult {
    return this.exec(['/usr/sbin/sendmail', '-f', from, ...to], { input: message, check: true });
  }

  /** The queue IDs Postfix still holds. */
  queue(): string[] {
    const out = this.exec(['postqueue', '-j']).stdout.trim();
    return out === '' ? [] : out.split('\n').map((l) => (JSON.parse(l) as { queue_id: string }).queue_id);
  }

  /**
   * Waits until Postfix holds no mail: the stand-in sees a message before Postfix has read its
   * final reply and removed the queue file.
   */
  async waitForEmptyQueue(ms = 15000): Promise<string[]> {
    const deadline = Date.now() + ms;
    let ids = this.queue();
    while (ids.length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      ids = this.queue();
    }
    // What is left, for the failure to be read: the queue's own view, and each message's log lines.
    if (ids.length > 0) {
      const log = this.read('/var/log/maillog').split('\n');
      const lines = ids.flatMap((id) => log.filter((l) => l.includes(id)));
      console.warn(`mail left in the queue:\n${this.exec(['postqueue', '-j']).stdout}${lines.join('\n')}`);
    }
    return ids;
  }

  flush(): void {
    this.exec(['postqueue', '-f'], { check: true });
  }

  read(path: string): string {
    return this.exec(['cat', path]).stdout;
  }

  /**
   * A host in its own network namespace, joined to the world by a veth pair:
   * the world side gets `worldAddr/prefix`, the host `hostAddr/prefix`.
   */
  addHost(name: string, worldAddr: string, hostAddr: string, prefix: number): (cmd: string[]) => RunResult {
    const holder = namespaceHolder(['--net']);
    this.extraHolders.push(holder);
    const w = `w${name}`;
    const h = `h${name}`;
    execFileSync('ip', ['link', 'add', w, 'type', 'veth', 'peer', 'name', h]);
    execFileSync('ip', ['link', 'set', w, 'netns', String(this.pid)]);
    execFileSync('ip', ['link', 'set', h, 'netns', String(holder.pid)]);
    this.exec(['ip', 'addr', 'add', `${worldAddr}/${prefix}`, 'dev', w], { check: true });
    this.exec(['ip', 'link', 'set', w, 'up'], { check: true });
    const run = (cmd: string[]): RunResult =>
      nsenterSync(['-t', String(holder.pid), '-n', '--'], cmd, { timeout: 60000 });
    for (const c of [
      ['ip', 'link', 'set', 'lo', 'up'],
      ['ip', 'addr', 'add', `${hostAddr}/${prefix}`, 'dev', h],
      ['ip', 'link', 'set', h, 'up'],
      ['ip', 'route', 'add', 'default', 'via', worldAddr],
    ]) {
      const r = run(c);
      if (r.code !== 0) throw new Error(`${c.join(' ')}: ${r.stderr}`);
    }
    return run;
  }

  /** Ends every process of the world (Postfix, dnsmasq, the stand-in) and removes its files. */
  destroy(): void {
    for (const s of this.standins) s.stop();
    killMountNamespace(this.pid);
    for (const h of this.extraHolders) h.kill('SIGKILL');
    this.holder.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Kills every process in the mount namespace of process `pid` (a world's: its holder's). */
export function killMountNamespace(pid: number): void {
  const ns = readlinkSync(`/proc/${pid}/ns/mnt`);
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/ns/mnt`) === ns) process.kill(Number(entry), 'SIGKILL');
    } catch {
      // the process has already gone
    }
  }
}

/** Starts a process holding new namespaces (`unshare FLAGS`) for a world built elsewhere. */
export function holdNamespaces(flags: string[]): ChildProcess {
  return namespaceHolder(flags);
}
