// Runs the SES SMTP stand-in (test/harness/ses-standin.ts) as a child process on loopback and
// collects its JSON events; the accepted credentials go through the environment, never argv.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { TestTls } from '../harness/tls';
import { freePort } from './moto';

const ROOT = join(__dirname, '..', '..');

export interface StandIn {
  readonly port: number;
  readonly events: Record<string, unknown>[];
  /** Switches the stand-in's mode ("accept", "535", "454", "down"). */
  setMode(mode: string): void;
  stop(): Promise<void>;
}

export interface StandInOptions {
  readonly tls: TestTls;
  readonly host: string;
  readonly user: string;
  readonly password: string;
  readonly wrapper?: boolean;
  readonly mode?: string;
}

export async function startStandIn(o: StandInOptions): Promise<StandIn> {
  const port = await freePort();
  const args = [join(ROOT, 'node_modules/tsx/dist/cli.mjs'), join(ROOT, 'test/harness/ses-standin.ts')];
  args.push('--port', String(port), '--host', '127.0.0.1', '--key', o.tls.keyFile, '--cert', o.tls.certFile);
  args.push('--wrapper', o.wrapper ? 'yes' : 'no', '--mode', o.mode ?? 'accept', '--name', o.host, '--quota', '0');
  const proc: ChildProcess = spawn(process.execPath, args, {
    env: { ...process.env, STANDIN_USER: o.user, STANDIN_PASSWORD: o.password },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const events: Record<string, unknown>[] = [];
  await new Promise<void>((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`the stand-in exited (${code}) before listening`)));
    createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const event = JSON.parse(line) as Record<string, unknown>;
      events.push(event);
      if (event.event === 'listening') resolve();
    });
  });
  return {
    port,
    events,
    setMode: (mode) => proc.stdin?.write(`${JSON.stringify({ mode })}\n`),
    stop: () =>
      new Promise((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill();
      }),
  };
}
