import type { FastifyRequest } from 'fastify';
import { AppError } from '../../core/errors.ts';
import { githubSignatureValid } from '../../leaks/github-keys.ts';
import { systemActor } from '../../services/actor.ts';
import type { Services } from '../../services/index.ts';
import type { App } from '../app.ts';
import { authenticate, type CookieSettings } from '../plugins/auth.ts';
import { errors, ref } from '../schemas/common.ts';
import { LeakLabels, LeakReportBody } from '../schemas/events.ts';

/** A report of 1,000 matches with long URLs fits; BODY_LIMIT is for everything else. */
export const LEAKS_BODY_LIMIT = 2 * 1024 * 1024;

/**
 * POST /v1/leaks, in GitHub's secret-scanning partner format. The route has its own JSON parser
 * that keeps the raw body: GitHub signs the bytes it sent, not a re-serialisation.
 */
export async function leakRoutes(app: App, services: Services, cookie: CookieSettings) {
  const githubKeys = services.config.githubSecretScanningKeys;
  const reporterToken = authenticate(services, cookie, { scope: 'leaks:report' });
  const rawBodies = new WeakMap<FastifyRequest, Buffer>();

  await app.register(async (scope: App) => {
    scope.removeContentTypeParser('application/json');
    scope.addContentTypeParser(
      'application/json',
      { parseAs: 'buffer', bodyLimit: LEAKS_BODY_LIMIT },
      (request, body, done) => {
        const raw = body as Buffer;
        rawBodies.set(request, raw);
        try {
          done(null, JSON.parse(raw.toString('utf8')));
        } catch {
          done(new AppError('validation_error', 'the body is not valid JSON'), undefined);
        }
      },
    );

    const authenticateReporter = async (request: FastifyRequest) => {
      const keyId = request.headers['github-public-key-identifier'];
      const signature = request.headers['github-public-key-signature'];
      if (keyId === undefined && signature === undefined) return reporterToken(request);
      if (githubKeys.length === 0)
        throw new AppError(
          'unauthorized',
          'GitHub signatures are not accepted here: GITHUB_SECRET_SCANNING_KEYS is not set',
        );
      const raw = rawBodies.get(request);
      if (
        typeof keyId !== 'string' ||
        typeof signature !== 'string' ||
        raw === undefined ||
        !githubSignatureValid(githubKeys, keyId, signature, raw)
      )
        throw new AppError(
          'unauthorized',
          'the GitHub signature does not verify with the configured public keys',
        );
      request.actor = systemActor('github', request.ip);
    };

    scope.post(
      '/v1/leaks',
      {
        bodyLimit: LEAKS_BODY_LIMIT,
        preHandler: authenticateReporter,
        schema: {
          tags: ['Leaks'],
          operationId: 'reportLeaks',
          summary: 'Report leaked API keys (secret scanning)',
          security: [
            { serviceToken: ['leaks:report'] },
            { githubSignature: [], githubKeyIdentifier: [] },
          ],
          description:
            "GitHub's secret-scanning partner format: a list of `{token, type, url, source}` (up to 1,000). Authenticated by a service token with leaks:report, or by GitHub's `Github-Public-Key-Identifier` and `Github-Public-Key-Signature` headers (ECDSA P-256 over the raw body) checked against GITHUB_SECRET_SCANNING_KEYS. Every live key found is revoked at once, key.leaked is raised and its owner mailed; the answer labels each token. See docs/EVENTS.md#leaks.",
          body: LeakReportBody,
          response: {
            200: ref(LeakLabels, { description: 'One label per reported token, in order' }),
            ...errors(400, 401, 403),
          },
        },
      },
      async (request) => services.leaks.report(request.actor, request.body),
    );
  });
}
