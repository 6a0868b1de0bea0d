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

/**
 * Props with their defaults applied: every field set but those named in `Optional`, and the fields
 * of `Override` in their resolved form (a nested props object resolved, a field added).
 * @internal
 */
export type Resolved<P, Optional extends keyof P = never, Override extends object = object> =
  Readonly<Omit<Required<Omit<P, Optional>> & Pick<P, Optional>, keyof Override> & Override>;

/** `given` over `defaults`; a field given as undefined keeps its default. @internal */
export function withDefaults<D extends object, G extends object>(defaults: D, given: G | undefined): D & G {
  const out = { ...defaults } as Record<string, unknown>;
  for (const [k, v] of Object.entries(given ?? {})) if (v !== undefined) out[k] = v;
  return out as D & G;
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
  /** Fields (with the prefix) whose value the schema refused. */
  private readonly invalid: Set<string>;
  constructor(public readonly subject: string, private readonly prefix = '', shared?: { problems: string[]; invalid: Set<string> }) {
    this.problems = shared?.problems ?? [];
    this.invalid = shared?.invalid ?? new Set();
  }

  /** A checker that reports into this one with `prefix.` in front of every field. */
  public child(prefix: string): Checker {
    return new Checker(this.subject, `${this.prefix}${prefix}.`, { problems: this.problems, invalid: this.invalid });
  }

  /** Records that the value of `field` was refused (checkProps does), so rules that combine fields can skip it. */
  public markInvalid(field: string): void {
    this.invalid.add(this.f(field));
  }

  /** Whether the value of `field`, or of a field inside it, was refused. */
  public isInvalid(field: string): boolean {
    const f = this.f(field);
    return this.invalid.has(this.f('')) || [...this.invalid].some((i) => i === f || i.startsWith(`${f}.`) || i.startsWith(`${f}[`));
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
