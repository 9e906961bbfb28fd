// Runs the SES SMTP stand-in (test/harness/ses-standin.ts) as a child process on loopback, outside
// any world, as the harness's Standin (its events, setMode, stop); the accepted credentials go
// through the environment, never argv.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { TestTls } from '../harness/tls';
import { Standin } from '../harness/world';
import { freePort } from './moto';

const ROOT = join(__dirname, '..', '..');

export type StandIn = Standin & { readonly port: number };

export interface StandInOptions {
  readonly tls: TestTls;
  readonly host: string;
  readonly user: string;
  readonly password: string;
  readonly wrapper?: boolean;
  readonly mode?: string;
  /** Recipients per second it admits (0: no limit), and how it counts them. */
  readonly quota?: number;
  readonly rateModel?: 'bucket' | 'window';
}

export async function startStandIn(o: StandInOptions): Promise<StandIn> {
  const port = await freePort();
  const args = [join(ROOT, 'node_modules/tsx/dist/cli.mjs'), join(ROOT, 'test/harness/ses-standin.ts')];
  args.push('--port', String(port), '--host', '127.0.0.1', '--key', o.tls.keyFile, '--cert', o.tls.certFile);
  args.push('--wrapper', o.wrapper ? 'yes' : 'no', '--mode', o.mode ?? 'accept', '--name', o.host);
  args.push('--quota', String(o.quota ?? 0), '--rate-model', o.rateModel ?? 'bucket');
  const proc = spawn(process.execPath, args, {
    env: { ...process.env, STANDIN_USER: o.user, STANDIN_PASSWORD: o.password },
    stdio: ['pipe', 'pipe', 'inherit'],
    detached: true, // its own process group: stop() ends tsx's child too
  });
  const standin = new Standin(proc);
  const exited = new Promise<never>((_, reject) =>
    proc.once('exit', (code) => reject(new Error(`the stand-in exited (${code}) before listening`))),
  );
  await Promise.race([standin.waitFor(() => standin.count('listening') > 0, 20000, 'stand-in listening'), exited]);
  return Object.assign(standin, { port });
}
