export { Keyward, KeywardError } from './client.js';
export { decide, OWNER_REFUSAL_MESSAGES, presentedKey, REFUSALS } from './middleware.js';
