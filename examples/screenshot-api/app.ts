// A small "screenshot API" protected by @keyward/sdk's Express middleware. It renders no real
// browser: a "screenshot" is an SVG card of the page's address, which is enough to show the
// integration (permissions per route, a cost per call, a usage-billed route that settles).
//
// In your own app: `import { Keyward, KeywardError } from '@keyward/sdk'` and
// `import { keywardAuth } from '@keyward/sdk/express'`; this example imports the build in this
// repository (npm run build:sdk) so that it runs from a fresh clone without publishing.
import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import { keywardAuth } from '../../sdk/dist/express.js';
import { type Keyward, KeywardError } from '../../sdk/dist/index.js';

interface Shot {
  id: string;
  owner: string;
  url: string;
  width: number;
  height: number;
  image: string;
}

/** A PDF export is reserved at this many pages; the real count is settled after rendering. */
export const PDF_RESERVED_PAGES = 20;

function fail(res: Response, status: number, code: string, message: string): void {
  res.status(status).json({ error: { code, message, request_id: `req_${randomUUID()}` } });
}

/** Checks the body before the key is charged: a bad request costs the caller nothing. */
function validShot(req: Request, res: Response, next: NextFunction): void {
  const body = req.body as { url?: unknown; width?: unknown; height?: unknown } | undefined;
  const url = body?.url;
  let parsed: URL | null = null;
  try {
    parsed = typeof url === 'string' ? new URL(url) : null;
  } catch {}
  if (parsed === null || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
    fail(res, 400, 'validation_error', 'url must be an http(s) URL');
    return;
  }
  for (const field of ['width', 'height'] as const) {
    const value = body?.[field];
    if (
      value !== undefined &&
      !(Number.isInteger(value) && (value as number) >= 100 && (value as number) <= 4000)
    ) {
      fail(res, 400, 'validation_error', `${field} must be a whole number from 100 to 4000`);
      return;
    }
  }
  next();
}

function render(url: string, width: number, height: number): string {
  const text = url.replace(/[<>&"]/g, '');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="#f4f4f5"/><text x="24" y="48" font-family="sans-serif" font-size="24">${text}</text></svg>`;
}

/** Pages of a page's PDF export: a stand-in for what a real renderer would count. */
function pagesOf(url: string): number {
  let sum = 0;
  for (const char of url) sum += char.charCodeAt(0);
  return 1 + (sum % 5);
}

export function createApp(keyward: Keyward) {
  const shots = new Map<string, Shot>();
  const app = express();
  app.disable('x-powered-by');
  // The client IP the keys' IP allowlists see is req.ip: trust your load balancer here, if any.
  app.set('trust proxy', process.env.TRUST_PROXY ?? false);
  app.use(express.json({ limit: '16kb' }));

  app.get('/health', (_req, res) => {
    res.json({ ok: true });
  });

  // Costs 1 credit, 2 above full HD: the cost is worked out from the (validated) body.
  app.post(
    '/screenshots',
    validShot,
    keywardAuth({
      client: keyward,
      permission: 'screenshots:create',
      cost: (req) => ((req.body.width ?? 1280) * (req.body.height ?? 800) > 1920 * 1080 ? 2 : 1),
    }),
    (req, res) => {
      const width: number = req.body.width ?? 1280;
      const height: number = req.body.height ?? 800;
      const shot: Shot = {
        id: `shot_${randomUUID()}`,
        owner: req.keyward?.owner_id ?? 'anonymous',
        url: req.body.url,
        width,
        height,
        image: render(req.body.url, width, height),
      };
      shots.set(shot.id, shot);
      res.status(201).json({ ...shot, credits_remaining: req.keyward?.credits?.remaining ?? null });
    },
  );

  // Reading back is free (cost 0) but still needs the permission and counts against rate limits.
  app.get(
    '/screenshots/:id',
    keywardAuth({ client: keyward, permission: 'screenshots:read', cost: 0 }),
    (req, res) => {
      const shot = shots.get(String(req.params.id));
      // Another owner's screenshot is "not found", never "forbidden": ids are not enumerable.
      if (shot === undefined || shot.owner !== req.keyward?.owner_id)
        return fail(res, 404, 'not_found', 'no such screenshot');
      res.json(shot);
    },
  );

  // Usage-billed: the verification reserves PDF_RESERVED_PAGES credits, the export counts the
  // real pages, and the reservation is settled to that (the rest is refunded). Keys for this
  // route are created with billing "usage".
  app.post(
    '/exports/pdf',
    validShot,
    keywardAuth({ client: keyward, permission: 'exports:create', cost: PDF_RESERVED_PAGES }),
    async (req, res, next) => {
      const verification = req.keyward;
      const pages = pagesOf(req.body.url);
      let credits: number | null = verification?.credits?.remaining ?? null;
      let billed = PDF_RESERVED_PAGES;
      if (verification) {
        try {
          const settled = await keyward.usage.settle({
            verification_id: verification.verification_id,
            amount: pages,
          });
          credits = settled.credits.remaining;
          billed = pages;
        } catch (error) {
          // A per-request key has no reservation to settle (404): it paid the estimate. Any other
          // failure keeps the reservation; the export is still delivered.
          if (!(error instanceof KeywardError)) return next(error);
          if (error.status !== 404) console.error(`settle failed: ${error.code}`);
        }
      }
      res.status(201).json({ url: req.body.url, pages, billed, credits_remaining: credits });
    },
  );

  return app;
}
