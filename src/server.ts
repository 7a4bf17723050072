import type { FastifyBaseLogger } from 'fastify';
import type { Config } from './config.ts';
import { quotedVisibly } from './core/email.ts';
import { type App, buildApp } from './http/app.ts';
import { createServices, type Services } from './services/index.ts';
import { openStore } from './storage/database.ts';
import { migrateToLatest } from './storage/migrations.ts';

export interface RunningServer {
  app: App;
  services: Services;
  address: string;
  /** Stops accepting requests, lets in-flight ones finish, flushes usage, closes the database. */
  close(): Promise<void>;
}

/** Opens the database, applies migrations, wires services and HTTP, and listens. */
export async function startServer(
  config: Config,
  logger: FastifyBaseLogger,
): Promise<RunningServer> {
  const store = openStore(config.database);
  try {
    const report = await migrateToLatest(store.db, store.dialect);
    for (const group of report.lookalikes) {
      logger.warn(
        {
          normalised_email: group.normalised,
          accounts: group.accounts.map((a) => ({ id: a.id, email: quotedVisibly(a.email) })),
        },
        'look-alike accounts: these emails differ only by case, width or invisible characters; left unchanged (see keyward doctor)',
      );
    }
  } catch (error) {
    await store.close();
    throw error;
  }
  const services = createServices(config, store);
  const app = await buildApp(services, { logger });
  await services.start();
  const address = await app.listen({ port: config.port, host: config.host });
  let closing: Promise<void> | undefined;
  return {
    app,
    services,
    address,
    close() {
      closing ??= (async () => {
        await app.close();
        await services.stop();
        await store.close();
      })();
      return closing;
    },
  };
}
