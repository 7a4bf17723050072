/** Local part and domain as loose as mail systems allow; the account proves it by signing in. */
export const EMAIL_PATTERN = /^[^\s@]{1,64}@[^\s@]{1,255}$/;

/** Zero-width and other invisible code points (U+200B, U+FEFF, soft hyphen, variation selectors…). */
const INVISIBLE = /\p{Default_Ignorable_Code_Point}/gu;

/**
 * The form an email is stored, looked up and compared in: NFKC (full-width `ａ` is `a`), without
 * invisible characters, lower case, trimmed. Two addresses a person cannot tell apart on screen
 * map to the same account, so nobody can register a look-alike of someone else's address.
 */
export function normaliseEmail(email: string): string {
  return email.normalize('NFKC').replace(INVISIBLE, '').toLowerCase().normalize('NFKC').trim();
}

/** `text` quoted, with everything outside printable ASCII as `\uXXXX`: look-alikes side by side differ visibly. */
export function quotedVisibly(text: string): string {
  return JSON.stringify(text).replace(
    /[^\x20-\x7e]/g,
    (c) => `\\u${(c.charCodeAt(0) as number).toString(16).padStart(4, '0')}`,
  );
}
