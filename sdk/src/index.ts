export {
  type ApiKey,
  type CreatedKey,
  type CreateKeyRequest,
  type ErrorBody,
  type KeyPage,
  Keyward,
  KeywardError,
  type KeywardOptions,
  type ListKeysQuery,
  type RotateKeyRequest,
  type Settlement,
  type SettleRequest,
  type UpdateKeyRequest,
  type Verification,
  type VerifyCode,
  type VerifyRequest,
} from './client.ts';
export {
  type Decision,
  decide,
  type FromRequest,
  type KeywardAuthOptions,
  OWNER_REFUSAL_MESSAGES,
  presentedKey,
  REFUSALS,
  type Refusal,
} from './middleware.ts';
export type { paths } from './openapi.ts';
