/**
 * Collects every problem with a construct's props, so a user sees all of them at once,
 * each naming the field, the value given and what is allowed.
 */
export class ValidationError extends Error {
  public readonly problems: string[];
  constructor(subject: string, problems: string[]) {
    super(`${subject}: invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ValidationError';
    this.problems = problems;
  }
}

export class Checker {
  private readonly problems: string[] = [];
  constructor(private readonly subject: string) {}

  public add(problem: string): void {
    this.problems.push(problem);
  }

  public check(ok: boolean, problem: string): void {
    if (!ok) this.problems.push(problem);
  }

  public integer(field: string, value: number | undefined, min: number, max: number): void {
    if (value === undefined) return;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      this.add(`${field} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
    }
  }

  public oneOf<T extends string>(field: string, value: T | undefined, allowed: readonly T[]): void {
    if (value === undefined) return;
    if (!allowed.includes(value)) {
      this.add(`${field} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${JSON.stringify(value)}`);
    }
  }

  public pattern(field: string, value: string | undefined, re: RegExp, allowed: string): void {
    if (value === undefined) return;
    if (typeof value !== 'string' || !re.test(value)) {
      this.add(`${field} must be ${allowed}, got ${JSON.stringify(value)}`);
    }
  }

  public dnsLabel(field: string, value: string | undefined, maxLength = 63): void {
    this.pattern(field, value, new RegExp(`^(?=.{1,${maxLength}}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$`),
      `a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most ${maxLength} characters)`);
  }

  public quantity(field: string, value: string | undefined): void {
    this.pattern(field, value, /^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)?$/,
      "a Kubernetes quantity such as '500m', '1Gi' or '10Gi'");
  }

  /**
   * Checks that `value` is a mapping whose keys are all in `keys`; reports the shape or each
   * unknown key. True when it is a mapping, so the caller can check the values.
   */
  public mapping(field: string, value: unknown, keys: readonly string[]): boolean {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.add(`${field} must be a mapping of ${keys.join(', ')}, got ${JSON.stringify(value)}`);
      return false;
    }
    for (const key of Object.keys(value)) {
      this.check(keys.includes(key), `${field}.${key} is not a known setting; allowed: ${keys.join(', ')}`);
    }
    return true;
  }

  public throwIfAny(): void {
    if (this.problems.length > 0) throw new ValidationError(this.subject, this.problems);
  }
}

/** Parses a Kubernetes binary/decimal quantity into bytes (used to size the startup probe). */
export function quantityToBytes(q: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/.exec(q);
  if (!m) throw new Error(`not a storage quantity: ${q}`);
  const units: Record<string, number> = {
    '': 1, 'k': 1e3, 'M': 1e6, 'G': 1e9, 'T': 1e12, 'P': 1e15, 'E': 1e18,
    'Ki': 2 ** 10, 'Mi': 2 ** 20, 'Gi': 2 ** 30, 'Ti': 2 ** 40, 'Pi': 2 ** 50, 'Ei': 2 ** 60,
  };
  return Number(m[1]) * units[m[2] ?? ''];
}
