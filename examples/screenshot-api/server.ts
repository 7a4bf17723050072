// Starts the screenshot API: KEYWARD_URL (default http://127.0.0.1:8080) and KEYWARD_TOKEN
// (a service token with keys:verify) say how to reach Keyward; PORT (default 3000) where to listen.
import { Keyward } from '../../sdk/dist/index.js';
import { createApp } from './app.ts';

const token = process.env.KEYWARD_TOKEN;
if (token === undefined || token === '') {
  console.error('Set KEYWARD_TOKEN to a Keyward service token with the keys:verify scope.');
  process.exit(1);
}
const keyward = new Keyward({
  baseUrl: process.env.KEYWARD_URL ?? 'http://127.0.0.1:8080',
  token,
  timeoutMs: 2000,
});
const port = Number(process.env.PORT ?? 3000);
createApp(keyward).listen(port, '127.0.0.1', () => {
  console.log(`screenshot API on http://127.0.0.1:${port}`);
});
