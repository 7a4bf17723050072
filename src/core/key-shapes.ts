/**
 * ACCEPTED_KEY_SHAPES: regular expressions for keys of other systems that imported keys may have
 * (e.g. one-api / new-api's `^sk-[A-Za-z0-9]{48}$`). They are checked when the configuration is
 * loaded and compiled once; verification tries them only for a candidate that is not of the
 * deployment's own shape, and only up to MAX_ACCEPTED_KEY_LENGTH characters, so a made-up key
 * is still refused before any hashing or lookup and the `sk_` path does not change.
 */

/** Longest key an accepted shape is tried on; longer candidates are refused without a match. */
export const MAX_ACCEPTED_KEY_LENGTH = 256;
export const MAX_ACCEPTED_SHAPES = 20;
export const MAX_SHAPE_LENGTH = 200;

/**
 * A group that is itself repeated (`(…)+`, `(…)*`, `(…){n,}`) and holds a quantifier or an
 * alternation: the classic shape of catastrophic backtracking, e.g. `(a+)+$` or `(a|a)*$`.
 */
const NESTED_QUANTIFIER =
  /\((?:[^()\\]|\\.)*(?:[+*|]|\{\d+,?\d*\})(?:[^()\\]|\\.)*\)(?:[+*]|\{\d+,\d*\})/;

/** Splits the setting: regular expressions separated by whitespace (write a space as `\x20`). */
export function splitShapes(text: string): string[] {
  return text.split(/\s+/).filter((part) => part !== '');
}

/** Why one pattern is refused, or null when it is acceptable. */
export function shapeProblem(source: string): string | null {
  if (source.length > MAX_SHAPE_LENGTH) return `is longer than ${MAX_SHAPE_LENGTH} characters`;
  if (!source.startsWith('^') || !source.endsWith('$') || source.endsWith('\\$'))
    return 'must be anchored: start with ^ and end with $';
  let compiled: RegExp;
  try {
    compiled = new RegExp(source);
  } catch (error) {
    return `is not a valid regular expression (${(error as Error).message})`;
  }
  if (/\\[1-9]|\\k</.test(source)) return 'must not use backreferences';
  if (NESTED_QUANTIFIER.test(source))
    return 'must not repeat a group that holds a quantifier or an alternation (catastrophic backtracking)';
  if (compiled.test('')) return 'must not match an empty key';
  return null;
}

/**
 * The check verification runs first: the deployment's own shape, and then, only for what fails
 * it, the accepted shapes. With no accepted shapes it is the own-shape check itself.
 */
export function keyShapeChecker(
  ownShape: (candidate: string) => boolean,
  sources: readonly string[],
): (candidate: string) => boolean {
  if (sources.length === 0) return ownShape;
  const accepted = sources.map((source) => new RegExp(source));
  const count = accepted.length;
  return (candidate) => {
    if (ownShape(candidate)) return true;
    if (candidate.length > MAX_ACCEPTED_KEY_LENGTH) return false;
    for (let i = 0; i < count; i++) if ((accepted[i] as RegExp).test(candidate)) return true;
    return false;
  };
}
