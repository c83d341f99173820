// A private redis-server for browser tests (no persistence, loopback, a free port) and
// the two commands they need, spoken in RESP over node:net: PING and PUBLISH (which
// answers how many subscribers got the message: peyk's broker is one once it listens).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitFor, within } from './harness.mjs';

export const REDIS_SERVER = process.env.PEYK_REDIS_SERVER ?? 'redis-server';

/** One RESP command; resolves to the first reply line (e.g. "+PONG", ":1") or rejects. */
export function redisCommand(port, args, timeout = 2000) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    const timer = setTimeout(() => sock.destroy(new Error('redis: timeout')), timeout);
    sock.on('connect', () => {
      let req = `*${args.length}\r\n`;
      for (const a of args) req += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
      sock.write(req);
    });
    sock.on('data', (d) => {
      buf += d.toString();
      const end = buf.indexOf('\r\n');
      if (end < 0) return;
      clearTimeout(timer);
      sock.end();
      const line = buf.slice(0, end);
      if (line.startsWith('-')) reject(new Error(`redis: ${line.slice(1)}`));
      else resolve(line);
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

export class RedisServer {
  constructor() {
    this.port = null;
    this.proc = null;
    this.dir = null;
    this.log = '';
  }

  get url() {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start({ timeout = 5000 } = {}) {
    this.port = await freePort();
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'peyk-e2e-redis-'));
    const proc = spawn(
      REDIS_SERVER,
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.proc = proc;
    const keep = (d) => {
      this.log += d.toString();
      if (this.log.length > 50_000) this.log = this.log.slice(-20_000);
    };
    proc.stdout.on('data', keep);
    proc.stderr.on('data', keep);
    proc.on('error', (e) => keep(`spawn ${REDIS_SERVER}: ${e.message}\n`));
    proc.exited = new Promise((resolve) => proc.once('exit', () => resolve(true)));
    await waitFor(
      async () => {
        if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`redis-server exited:\n${this.log}`);
        return (await redisCommand(this.port, ['PING'])) === '+PONG';
      },
      { timeout, interval: 50, what: `redis-server on port ${this.port}` },
    );
    return this;
  }

  /** PUBLISH; resolves to the number of subscribers that received it. */
  async publish(channel, message) {
    const reply = await redisCommand(this.port, ['PUBLISH', channel, message]);
    return Number(reply.slice(1));
  }

  async stop() {
    try {
      if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) {
        this.proc.kill('SIGTERM');
        if (!(await within(this.proc.exited, 5000))) {
          this.proc.kill('SIGKILL');
          await this.proc.exited;
        }
      }
    } finally {
      if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
