// Writes the OpenAPI document (what GET /openapi.json answers) without starting a server or
// touching a real database: `npm run openapi` prints it, `npm run openapi -- <file>` writes it.
import { writeFileSync } from 'node:fs';
import { loadConfig } from '../src/config.ts';
import { buildApp } from '../src/http/app.ts';
import { createServices } from '../src/services/index.ts';
import { openStore } from '../src/storage/database.ts';

/** The document of a default deployment, built in memory: the same for every caller. */
export async function openapiDocument(): Promise<unknown> {
  const config = loadConfig({ DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'silent' });
  const store = openStore(config.database);
  const services = createServices(config, store);
  const app = await buildApp(services, { logger: false });
  try {
    const response = await app.inject({ method: 'GET', url: '/openapi.json' });
    if (response.statusCode !== 200)
      throw new Error(`GET /openapi.json answered ${response.statusCode}`);
    return response.json();
  } finally {
    await app.close();
    await services.stop();
    await store.close();
  }
}

if (import.meta.main) {
  const text = `${JSON.stringify(await openapiDocument(), null, 2)}\n`;
  const out = process.argv[2];
  if (out === undefined) process.stdout.write(text);
  else writeFileSync(out, text);
}
