// A bare-system world: a bare Debian root filesystem (debootstrap minbase, test/fixtures/bare-debian.sh)
// in its own mount, network and UTS namespaces, with a resolver, a package mirror stand-in, the
// test CA and the `aws` stand-in (bare-world-setup.sh); the SES stand-in and a delay proxy in its
// network. Commands run in its root (chroot), or, once an image with systemd booted
// (systemd-nspawn), in the booted system. Used by test/e2e/bare-system.test.ts and bench/relay.ts.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checked,
  holdNamespaces,
  killMountNamespace,
  makeWorldTls,
  nsenterAsync,
  nsenterSync,
  type RunResult,
  SES_HOST,
  type Standin,
  type StandinOptions,
  startDelayProxyIn,
  startStandinIn,
  type WorldCredentials,
} from './world';

const ROOT = join(__dirname, '..', '..');
const FIXTURES = join(ROOT, 'test', 'fixtures');
const HARNESS = __dirname;
/** Where the bare systems and their mirrors are kept between runs (ignored by git). */
const CACHE = join(ROOT, '.cache', 'bare-debian');
/** What cloud-init gives user data: root, a plain PATH, no locale. */
const BASE_ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root'];

/** Resolves once `predicate` holds (looked at every 200 ms), or rejects after `ms`, naming `what`. */
export async function until(predicate: () => boolean, ms: number, what: string): Promise<void> {
  for (const deadline = Date.now() + ms; !predicate(); await new Promise((r) => setTimeout(r, 200))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
  }
}
const ended = (p: ChildProcess) => p.exitCode !== null || p.signalCode !== null;

/** A bare Debian root filesystem in its own namespaces, with the stand-ins around it. */
export class BareWorld {
  readonly dir = mkdtempSync(join(tmpdir(), 'ses-relay-bare-'));
  readonly root = join(this.dir, 'root');
  private readonly holder: ChildProcess;
  private readonly standins: Standin[] = [];
  /** systemd-nspawn running the booted system, and the system's init (pid 1 inside): see boot(). */
  private container?: ChildProcess;
  private init = 0;

  private readonly secretId: string;

  /**
   * `image`: a suite, or SUITE-systemd (one that boots, test/fixtures/bare-debian.sh); `secret`: the
   * secret the `aws` stand-in returns (its id and JSON); `aptConf`: the image's own apt setting;
   * `mirror`: another folder to serve instead of the packages.
   */
  constructor(
    image: string,
    secret: { id: string; json: string },
    aptConf = '',
    mirror = join(CACHE, image, 'mirror'),
  ) {
    this.secretId = secret.id;
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
    writeFileSync(join(this.root, 'root', 'secret.json'), secret.json, { mode: 0o600 });
  }

  /** nsenter's arguments that join the world's namespaces. */
  private enter(): string[] {
    return ['-t', String(this.holder.pid), '-m', '-n', '-u', '--'];
  }

  private nsenter(cmd: string[], opts: { input?: string }, enter = this.enter()): RunResult {
    return nsenterSync(enter, cmd, { input: opts.input, timeout: 300000 });
  }

  /**
   * Runs a command as root in the bare system, with only the given environment: in its root
   * (chroot), or, once it booted, in the booted system (all of its namespaces and its root).
   */
  exec(cmd: string[], opts: { input?: string; env?: string[]; check?: boolean } = {}): RunResult {
    const [enter, run] = this.inSystem(cmd, opts.env);
    const result = this.nsenter(run, opts, enter);
    return opts.check ? checked(cmd, result) : result;
  }

  /** As exec, without blocking the event loop (the stand-ins' events keep flowing meanwhile). */
  execAsync(cmd: string[], env: string[] = []): Promise<RunResult> {
    return nsenterAsync(...this.inSystem(cmd, env));
  }

  /** nsenter's arguments, and the command, that run CMD in the bare system with only ENV. */
  private inSystem(cmd: string[], env: string[] = []): [string[], string[]] {
    const run = ['/usr/bin/env', '-i', ...BASE_ENV, ...env, ...cmd];
    if (!this.init) return [this.enter(), ['chroot', this.root, ...run]];
    return [['-t', String(this.init), '-m', '-u', '-i', '-n', '-p', '-r', '-w', '--'], run];
  }

  /** The `aws` stand-in's settings (test/harness/aws): the secret is the file /root/secret.json. */
  awsEnv(): string[] {
    return [
      'FAKE_AWS_SECRET_FILE=/root/secret.json',
      `FAKE_AWS_SECRET_ID=${this.secretId}`,
      'FAKE_AWS_REGION=eu-west-1',
      'FAKE_AWS_LOG=/root/aws.log',
    ];
  }

  /**
   * Boots the system (an image with systemd) as a machine would: systemd-nspawn runs its init in
   * the world's network namespace (the stand-ins' loopback), and exec runs in it from then on, until
   * crash(). A systemd service sees no test environment: the `aws` stand-in reads its settings from
   * /etc/fake-aws.env (as a real CLI would find the instance's role).
   */
  async boot(): Promise<void> {
    writeFileSync(join(this.root, 'etc', 'fake-aws.env'), `${this.awsEnv().join('\n')}\n`);
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
    // Its state polled until the boot ended (not `is-system-running --wait`, which once gave no
    // answer in 120 s in a CI run, with no failed unit to show for it).
    let state = '';
    const over = () => {
      state = this.exec(['timeout', '10', 'systemctl', 'is-system-running']).stdout.trim();
      return !['', 'offline', 'initializing', 'starting'].includes(state);
    };
    await until(over, 120000, 'the boot').catch(() => undefined);
    if (state !== 'running') {
      // What failed, what it still waits for, and the end of its console.
      const units = this.exec(['systemctl', '--failed', '--no-pager']).stdout;
      const jobs = this.exec(['systemctl', 'list-jobs', '--no-pager']).stdout;
      const tail = booted().split('\n').slice(-40).join('\n');
      throw new Error(`the system's boot did not end running (${state || 'no answer'}): ${units}\n${jobs}\n${tail}`);
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
  runScript(script: string, env: string[] = []): RunResult {
    writeFileSync(join(this.root, 'root', 'user-data.sh'), script, { mode: 0o700 });
    return this.exec(['bash', '/root/user-data.sh'], { env: [...this.awsEnv(), ...env] });
  }

  read(path: string): string {
    return this.exec(['cat', path]).stdout;
  }

  /** What the mirror stand-in served (its request log). */
  mirrorLog(): string {
    return readFileSync(join(this.dir, 'mirror.log'), 'utf8');
  }

  /** Starts the SES stand-in (on the host's files, in the world's network; port 587 unless given). */
  async startStandin(creds: WorldCredentials, opts: StandinOptions = {}): Promise<Standin> {
    const standin = await startStandinIn(this.holder.pid as number, join(this.dir, 'tls'), creds, opts);
    this.standins.push(standin);
    return standin;
  }

  /** A proxy in the world's network on `listen`, forwarding to `target` with `delayMs` each way. */
  async startDelayProxy(listen: number, target: number, delayMs: number): Promise<Standin> {
    const proxy = await startDelayProxyIn(this.holder.pid as number, listen, target, delayMs);
    this.standins.push(proxy);
    return proxy;
  }

  /** Ends every process of the world (Postfix, dnsmasq, the mirror, the stand-in), then its files. */
  async destroy(): Promise<void> {
    await this.crash();
    await Promise.all(this.standins.map((s) => s.stop()));
    this.end();
  }

  /** Kills what runs in the world's mount namespace and removes its folder. */
  private end(): void {
    killMountNamespace(this.holder.pid as number);
    // The world's mounts (/proc, /dev in the root) live only in its namespace, gone with it: the
    // host's view of this folder never had them.
    rmSync(this.dir, { recursive: true, force: true });
  }
}
