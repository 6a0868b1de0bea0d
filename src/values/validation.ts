/**
 * Collects every problem with a construct's props, so a user sees all of them at once,
 * each naming the field, the value given and what is allowed.
 */
export class ValidationError extends Error {
  /** One line per problem, each naming the field. */
  public readonly problems: string[];
  /** What was being configured, e.g. `GaleraCluster 'galera'`. */
  public readonly subject: string;
  constructor(subject: string, problems: string[], message?: string) {
    super(message ?? `${subject}: invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ValidationError';
    this.subject = subject;
    this.problems = problems;
  }

  /** One error for several subjects (each with its own block), or undefined when there is none. */
  public static combine(errors: readonly ValidationError[]): ValidationError | undefined {
    if (errors.length === 0) return undefined;
    if (errors.length === 1) return errors[0];
    return new ValidationError(errors.map((e) => e.subject).join(', '), errors.flatMap((e) => e.problems.map((p) => `${e.subject}: ${p}`)),
      errors.map((e) => e.message).join('\n'));
  }
}

/** Longest rendering of a bad value in a message: a hostile value never floods the output. */
const SHOW_MAX = 80;

/**
 * A short, bounded rendering of any value for an error message: JSON for small values, cut with
 * an ellipsis past SHOW_MAX characters; deep, huge or cyclic structures never expand.
 * @internal
 */
export function show(value: unknown, max = SHOW_MAX): string {
  let budget = max + 1;
  const seen = new Set<unknown>();
  const render = (v: unknown, depth: number): string => {
    if (budget <= 0) return '';
    let out: string;
    if (v === undefined) out = 'nothing';
    else if (v === null || typeof v === 'number' || typeof v === 'boolean') out = String(v);
    else if (typeof v === 'string') out = JSON.stringify(v.length > max ? v.slice(0, max + 1) : v);
    else if (typeof v === 'bigint' || typeof v === 'symbol' || typeof v === 'function') out = `a ${typeof v}`;
    else if (seen.has(v) || depth > 3) out = Array.isArray(v) ? '[…]' : '{…}';
    else {
      seen.add(v);
      const parts: string[] = [];
      if (Array.isArray(v)) {
        for (const item of v) { if (budget <= 0) break; parts.push(render(item, depth + 1)); }
        out = `[${parts.join(',')}]`;
      } else {
        for (const k of Object.keys(v as object)) {
          if (budget <= 0) break;
          parts.push(`${JSON.stringify(k.slice(0, max))}:${render((v as Record<string, unknown>)[k], depth + 1)}`);
        }
        out = `{${parts.join(',')}}`;
      }
      seen.delete(v);
    }
    budget -= out.length;
    return out;
  };
  const text = render(value, 0);
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** A plain mapping (object, not array or null). @internal */
export function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Resolves and validates props in one pass: each method checks one field and returns its value,
 * or the default when it is unset (and also when it is invalid, so that later checks can go on).
 * Field names carry the checker's prefix (`galera.` for a values-file section).
 * @internal
 */
export class Checker {
  private readonly problems: string[];
  constructor(public readonly subject: string, private readonly prefix = '', shared?: string[]) {
    this.problems = shared ?? [];
  }

  /** A checker that reports into this one with `prefix.` in front of every field. */
  public child(prefix: string): Checker {
    return new Checker(this.subject, `${this.prefix}${prefix}.`, this.problems);
  }

  /** The section this checker reports for ('galera' in a values file), or 'props'. */
  public get section(): string {
    return this.prefix ? this.prefix.slice(0, -1) : 'props';
  }

  /** The field as the user wrote it (with the section prefix). */
  public f(field: string): string {
    return `${this.prefix}${field}`;
  }

  public add(problem: string): void {
    this.problems.push(problem);
  }

  public check(ok: boolean, problem: string): void {
    if (!ok) this.problems.push(problem);
  }

  public get ok(): boolean {
    return this.problems.length === 0;
  }

  /** Every key of a props object must be one of `keys`; true when it is a mapping. */
  public knownKeys(value: unknown, keys: readonly string[], what = 'allowed here'): value is Record<string, unknown> {
    if (!isMapping(value)) return false;
    for (const key of Object.keys(value)) {
      this.check(keys.includes(key), `${this.f(key.slice(0, SHOW_MAX))} is not a known setting; ${what}: ${keys.join(', ')}`);
    }
    return true;
  }

  /**
   * A mapping of known keys (a nested props object such as resources): reports its shape or each
   * unknown key; returns it, or undefined when unset or not a mapping.
   */
  public mapping<T extends object>(field: string, value: T | undefined, keys: readonly string[]): T | undefined {
    if (value === undefined) return undefined;
    if (!isMapping(value)) {
      this.add(`${this.f(field)} must be a mapping of ${keys.join(', ')}, got ${show(value)}`);
      return undefined;
    }
    for (const key of Object.keys(value)) {
      this.check(keys.includes(key), `${this.f(field)}.${key.slice(0, SHOW_MAX)} is not a known setting; allowed here: ${keys.join(', ')}`);
    }
    return value;
  }

  public bool(field: string, value: boolean | undefined, dflt: boolean): boolean {
    if (value === undefined) return dflt;
    if (typeof value !== 'boolean') {
      this.add(`${this.f(field)} must be true or false, got ${show(value)}`);
      return dflt;
    }
    return value;
  }

  public int(field: string, value: number | undefined, min: number, max: number, dflt: number): number;
  public int(field: string, value: number | undefined, min: number, max: number): number | undefined;
  public int(field: string, value: number | undefined, min: number, max: number, dflt?: number): number | undefined {
    if (value === undefined) return dflt;
    if (typeof value !== 'number') {
      this.add(`${this.f(field)} must be a number, got ${show(value)}`);
      return dflt;
    }
    if (!Number.isInteger(value) || value < min || value > max) {
      this.add(`${this.f(field)} must be an integer from ${min} to ${max}, got ${show(value)}`);
      return dflt;
    }
    return value;
  }

  public oneOf<T extends string | number>(field: string, value: T | undefined, allowed: readonly T[], dflt: T): T;
  public oneOf<T extends string | number>(field: string, value: T | undefined, allowed: readonly T[]): T | undefined;
  public oneOf<T extends string | number>(field: string, value: T | undefined, allowed: readonly T[], dflt?: T): T | undefined {
    if (value === undefined) return dflt;
    if (!allowed.includes(value)) {
      this.add(`${this.f(field)} must be one of ${allowed.map((a) => (typeof a === 'string' ? `'${a}'` : String(a))).join(', ')}, got ${show(value)}`);
      return dflt;
    }
    return value;
  }

  /** A string that matches `re`; `allowed` says in words what matches. */
  public pattern(field: string, value: string | undefined, re: RegExp, allowed: string, dflt: string): string;
  public pattern(field: string, value: string | undefined, re: RegExp, allowed: string): string | undefined;
  public pattern(field: string, value: string | undefined, re: RegExp, allowed: string, dflt?: string): string | undefined {
    if (value === undefined) return dflt;
    if (typeof value !== 'string') {
      this.add(`${this.f(field)} must be a string, got ${show(value)}`);
      return dflt;
    }
    if (value.length > 4096 || !re.test(value)) {
      this.add(`${this.f(field)} must be ${allowed}, got ${show(value)}`);
      return dflt;
    }
    return value;
  }

  public dnsLabel(field: string, value: string | undefined, maxLength: number, dflt: string): string;
  public dnsLabel(field: string, value: string | undefined, maxLength?: number): string | undefined;
  public dnsLabel(field: string, value: string | undefined, maxLength = 63, dflt?: string): string | undefined {
    return this.pattern(field, value, new RegExp(`^(?=.{1,${maxLength}}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$`),
      `a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most ${maxLength} characters)`, dflt as string);
  }

  public dnsSubdomain(field: string, value: string | undefined, dflt: string): string;
  public dnsSubdomain(field: string, value: string | undefined): string | undefined;
  public dnsSubdomain(field: string, value: string | undefined, dflt?: string): string | undefined {
    return this.pattern(field, value, /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
      'a DNS-1123 subdomain (lowercase letters, digits, \'-\' and \'.\', at most 253 characters)', dflt as string);
  }

  public quantity(field: string, value: string | undefined, dflt: string): string;
  public quantity(field: string, value: string | undefined): string | undefined;
  public quantity(field: string, value: string | undefined, dflt?: string): string | undefined {
    return this.pattern(field, value, /^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)?$/,
      "a Kubernetes quantity such as '500m', '1Gi' or '10Gi'", dflt as string);
  }

  /** A list (array) value, or undefined when unset or not a list. */
  public list<T>(field: string, value: T[] | undefined, what: string): T[] | undefined {
    if (value === undefined) return undefined;
    if (!Array.isArray(value)) {
      this.add(`${this.f(field)} must be ${what}, got ${show(value)}`);
      return undefined;
    }
    return value;
  }

  public throwIfAny(): void {
    if (this.problems.length > 0) throw new ValidationError(this.subject, [...this.problems]);
  }

  /** The collected problems as an error, or undefined. */
  public error(): ValidationError | undefined {
    return this.problems.length > 0 ? new ValidationError(this.subject, [...this.problems]) : undefined;
  }
}

/**
 * Runs `resolve` with a fresh checker and throws every problem it found at once.
 * @internal
 */
export function resolveOrThrow<T>(subject: string, resolve: (c: Checker) => T): T {
  const c = new Checker(subject);
  const resolved = resolve(c);
  c.throwIfAny();
  return resolved;
}

/** Parses a Kubernetes binary/decimal quantity into bytes (used to size the startup probe). @internal */
export function quantityToBytes(q: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/.exec(q);
  if (!m) throw new Error(`not a storage quantity: ${q}`);
  const units: Record<string, number> = {
    '': 1, 'k': 1e3, 'M': 1e6, 'G': 1e9, 'T': 1e12, 'P': 1e15, 'E': 1e18,
    'Ki': 2 ** 10, 'Mi': 2 ** 20, 'Gi': 2 ** 30, 'Ti': 2 ** 40, 'Pi': 2 ** 50, 'Ei': 2 ** 60,
  };
  return Number(m[1]) * units[m[2] ?? ''];
}

/** A CPU or memory quantity as a number (cores or bytes); NaN when it is not one, so comparisons are false. @internal */
export function quantityValue(q: string): number {
  if (/^[0-9]+(\.[0-9]+)?m$/.test(q)) return Number(q.slice(0, -1)) / 1000;
  try {
    return quantityToBytes(q);
  } catch {
    return NaN;
  }
}
