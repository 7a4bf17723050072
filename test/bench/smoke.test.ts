import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBaselineApp } from '../../bench/baseline.ts';
import { createDataset, type Dataset } from '../../bench/dataset.ts';
import { fireRequests, loadProblem } from '../../bench/load.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { type RunningServer, startServer } from '../../src/server.ts';

/**
 * The smoke variant of the P1, P2 and P4 benchmarks, in-process: the servers and requests the
 * benchmarks use, a few hundred requests each, and no timing assertions. It fails only when a
 * benchmark would measure errors instead of work.
 */
describe('bench smoke (P1, P2, P4)', () => {
  let dir: string;
  let data: Dataset;
  let keyward: RunningServer;
  let bare: FastifyInstance;
  let bareUrl: string;
  let keys: string[];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kw-bench-smoke-'));
    const secretsFile = join(dir, 'keys.txt');
    data = await createDataset({ dbPath: join(dir, 'k.db'), extraKeys: 1_000, secretsFile });
    keys = readFileSync(secretsFile, 'utf8').trim().split('\n');
    const config = loadConfig({
      DATABASE_URL: `sqlite:${data.dbPath}`,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'silent',
    });
    keyward = await startServer(config, createLogger('silent'));
    bare = buildBaselineApp(false);
    bareUrl = await bare.listen({ port: 0, host: '127.0.0.1' });
  });

  afterAll(async () => {
    await bare?.close();
    await keyward?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  const options = { total: 300, connections: 16 };

  it('writes the requested number of keys, each with a distinct secret', () => {
    expect(data.generated.count).toBe(1_000);
    expect(keys).toHaveLength(1_000);
    expect(new Set(keys).size).toBe(1_000);
  });

  it('P1: GET /v1/key with a cached key answers 200 every time, like its baseline', async () => {
    const headers = { authorization: `Bearer ${data.key}` };
    for (const base of [keyward.address, bareUrl]) {
      const outcome = await fireRequests(
        { method: 'GET', url: `${base}/v1/key`, headers },
        options,
      );
      expect(loadProblem(outcome)).toBeNull();
      expect(outcome.requests).toBe(options.total);
    }
  });

  it('P2: POST /v1/verify with a service token answers 200 every time, like its baseline', async () => {
    const request = {
      method: 'POST' as const,
      headers: {
        authorization: `Bearer ${data.serviceToken}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ key: data.key }),
    };
    for (const base of [keyward.address, bareUrl]) {
      const outcome = await fireRequests({ ...request, url: `${base}/v1/verify` }, options);
      expect(loadProblem(outcome)).toBeNull();
      expect(outcome.requests).toBe(options.total);
      const answer = await fetch(`${base}/v1/verify`, request);
      expect(((await answer.json()) as { valid: boolean }).valid).toBe(true);
    }
  });

  it('P4: keys drawn from the generated dataset all verify', async () => {
    const outcome = await fireRequests(
      {
        method: 'GET',
        url: `${keyward.address}/v1/key`,
        headers: () => ({
          authorization: `Bearer ${keys[Math.floor(Math.random() * keys.length)]}`,
        }),
      },
      options,
    );
    expect(loadProblem(outcome)).toBeNull();
    expect(outcome.requests).toBe(options.total);
  });
});
