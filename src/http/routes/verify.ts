import { type Static, Type } from 'typebox';
import { AppError } from '../../core/errors.ts';
import { isIpAddress } from '../../core/ip-allowlist.ts';
import { VERIFY_CODES } from '../../core/verify-codes.ts';
import type { Services } from '../../services/index.ts';
import type { Verification } from '../../services/verify.ts';
import type { App } from '../app.ts';
import { authenticator, type CookieSettings } from '../plugins/auth.ts';
import { addSecurityHeaders } from '../plugins/security-headers.ts';
import { hotPathValidatorCompiler } from '../plugins/validation.ts';
import { iso } from '../presenters.ts';
import { rateLimitRules, retryAfterSeconds, tightest } from '../rate-limit-headers.ts';
import { errors, Nullable } from '../schemas/common.ts';

const VerifyBody = Type.Object(
  {
    key: Type.String({ maxLength: 200, description: 'The API key your caller presented' }),
    permission: Type.Optional(Type.String({ maxLength: 101 })),
    resource: Type.Optional(Type.String({ maxLength: 200 })),
    cost: Type.Optional(Type.Integer({ minimum: 0, maximum: 1e12 })),
    ip: Type.Optional(
      Type.String({
        maxLength: 64,
        description: "The end client's IP address; needed when the key has an IP allowlist",
      }),
    ),
  },
  { additionalProperties: false },
);

const VerifyAnswer = Type.Object({
  valid: Type.Boolean(),
  code: Type.Enum(VERIFY_CODES),
  verification_id: Type.String(),
  key_id: Nullable(Type.String()),
  owner_id: Nullable(Type.String()),
  name: Nullable(Type.String()),
  environment: Nullable(Type.String()),
  permissions: Type.Array(Type.String()),
  metadata: Type.Record(Type.String(), Type.Unknown()),
  expires_at: Nullable(Type.String()),
  ratelimit: Nullable(
    Type.Object({
      limit: Type.Integer(),
      remaining: Type.Integer(),
      reset: Type.Integer({ description: 'Epoch ms when the tightest rule is fully replenished' }),
    }),
  ),
  rate_limits: Type.Optional(
    Type.Array(
      Type.Object({
        name: Type.String({ description: 'The policy name in the RateLimit headers' }),
        limit: Type.Integer(),
        remaining: Type.Integer(),
        window: Type.Integer({ description: 'Seconds' }),
        reset_after: Type.Integer({ description: 'Seconds until fully replenished' }),
      }),
      {
        description:
          'Every rate rule of the key (`ratelimit` is the tightest): what the RateLimit and RateLimit-Policy headers of a refusal carry',
      },
    ),
  ),
  credits: Nullable(Type.Object({ remaining: Nullable(Type.Integer()) })),
  retry_after: Nullable(
    Type.Integer({ description: 'Seconds, for RATE_LIMITED and QUOTA_EXCEEDED' }),
  ),
});

export function verifyRoutes(app: App, services: Services, cookie: CookieSettings): void {
  const { verify } = services;
  const canVerify = authenticator(services, cookie, { scope: 'keys:verify' });
  const answer = (result: Verification): Static<typeof VerifyAnswer> => {
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
        summary: 'Verify an API key',
        description:
          'Always 200 for a well-formed request: `valid` and `code` say whether the key may be used. Needs a service token with keys:verify.',
        body: VerifyBody,
        response: { 200: VerifyAnswer, ...errors(400, 401, 403) },
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
