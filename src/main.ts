// Starts Flint: read the configuration, build the app, listen, shut down cleanly on a signal.
import { ConfigError, loadConfig, redactUrl } from './config.js';
import { buildApp } from './app.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`flint: invalid configuration: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  let app;
  try {
    app = await buildApp(config);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    const db = config.database.kind === 'sqlite' ? config.database.filename : redactUrl(config.database.url);
    process.stderr.write(`flint: could not start (database ${db}): ${msg}\n`);
    process.exit(1);
  }
  const shutdown = (signal: string): void => {
    app.log.info({ signal }, 'shutting down');
    app.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  let listening: string;
  try {
    listening = await app.listen({ port: config.port, host: config.host });
  } catch (err) {
    process.stderr.write(`flint: cannot listen on ${config.host}:${config.port}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
  const db = config.database.kind === 'sqlite' ? `sqlite ${config.database.filename}` : `mongodb ${redactUrl(config.database.url)}`;
  // Not a request line: the logger writes it at once (src/log.ts), so a terminal sees it now.
  app.log.info({ listening, baseUrl: config.baseUrl, database: db }, 'Flint is ready');
}

void main();
