import type { Static } from 'typebox';
import { AppError } from '../../core/errors.ts';
import { isIpAddress } from '../../core/ip-allowlist.ts';
import type { Services } from '../../services/index.ts';
import type { Verification } from '../../services/verify.ts';
import type { App } from '../app.ts';
import { authenticator, type CookieSettings } from '../plugins/auth.ts';
import { addSecurityHeaders } from '../plugins/security-headers.ts';
import { hotPathValidatorCompiler } from '../plugins/validation.ts';
import { iso } from '../presenters.ts';
import { rateLimitRules, retryAfterSeconds, tightest } from '../rate-limit-headers.ts';
import { errors, ref } from '../schemas/common.ts';
import { SECURITY } from '../schemas/security.ts';
import { VerificationView, VerifyBody } from '../schemas/verify.ts';

export function verifyRoutes(app: App, services: Services, cookie: CookieSettings): void {
  const { verify } = services;
  const canVerify = authenticator(services, cookie, { scope: 'keys:verify' });
  const answer = (result: Verification): Static<typeof VerificationView> => {
    const key = result.key;
    // Refusals other than NOT_FOUND identify the key to its verifier, like Unkey and Stripe do;
    // only the valid answer carries permissions and metadata.
    return {
      valid: result.valid,
      code: result.code,
      verification_id: result.verificationId,
      key_id: key?.id ?? null,
      owner_id: key?.ownerId ?? null,
      name: key?.name ?? null,
      environment: key?.environment ?? null,
      permissions: result.valid ? (key?.permissions ?? []) : [],
      metadata: result.valid ? (key?.metadata ?? {}) : {},
      expires_at: key === null ? null : iso(key.expiresAt),
      ratelimit: tightest(result.rate, services.clock.now()),
      rate_limits: rateLimitRules(result.rate),
      credits: key === null ? null : { remaining: result.valid ? result.creditsRemaining : null },
      owner_credits:
        result.ownerCreditsRemaining === null ? null : { remaining: result.ownerCreditsRemaining },
      scope: result.scope,
      retry_after: result.retryAfterMs === null ? null : retryAfterSeconds(result.retryAfterMs),
    };
  };
  const check = (b: Static<typeof VerifyBody>) => {
    if (b.ip !== undefined && !isIpAddress(b.ip)) {
      throw new AppError('validation_error', `ip "${b.ip}" is not an IPv4 or IPv6 address`);
    }
    const result = verify.verify({
      key: b.key,
      ip: b.ip ?? null,
      permission: b.permission,
      resource: b.resource,
      cost: b.cost,
    });
    return result instanceof Promise ? result.then(answer) : answer(result);
  };
  app.post(
    '/v1/verify',
    {
      validatorCompiler: hotPathValidatorCompiler(),
      schema: {
        tags: ['Verification'],
        operationId: 'verifyKey',
        summary: 'Verify an API key',
        security: SECURITY.verifier,
        description:
          'Always 200 for a well-formed request: `valid` and `code` say whether the key may be used. Needs a service token with keys:verify.',
        body: VerifyBody,
        response: {
          200: ref(VerificationView, {
            description: 'The verdict: `valid` and `code` (a refused key is still a 200)',
          }),
          ...errors(400, 401, 403),
        },
      },
    },
    // The hot path: no hooks run here (app.ts), so the handler authenticates and adds the
    // security headers itself, and a cached token and key are answered without a promise.
    (request, reply) => {
      addSecurityHeaders(reply);
      const checked = canVerify(request);
      if (checked instanceof Promise) return checked.then(() => check(request.body));
      return check(request.body);
    },
  );
}
