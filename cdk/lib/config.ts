import { CONTRACT } from './contract';

/** Deployment settings: the CDK props that become the functions' environment. */
export interface EbsGensSettings {
  /** `ebs-gens:managed-by` value; also names the rules and the IAM scope. 1-32 of [A-Za-z0-9._-]. */
  readonly deployment: string;
  /** Tag keys per class (default Hourly_Gens, Daily_Gens, Weekly_Gens, Monthly_Gens). */
  readonly tagKeys?: Partial<Record<GenClass, string>>;
  /** EventBridge cron per class (defaults in the README). */
  readonly crons?: Partial<Record<GenClass, string>>;
  /** IANA zone in which days, weeks and months are counted (default UTC). */
  readonly timeZone?: string;
  /** schedule-window (default), any-untagged or never. */
  readonly adoption?: 'schedule-window' | 'any-untagged' | 'never';
  /** Sweep schedule (default rate(1 hour)). */
  readonly sweepSchedule?: string;
  /** When true every function runs with EBS_GENS_DRY_RUN=true: nothing is changed. */
  readonly dryRun?: boolean;
  /** E-mail address subscribed to the alarm topic (optional). */
  readonly alarmEmail?: string;
  /** Log retention in days (default 30). */
  readonly logRetentionDays?: number;
  /**
   * How snapshots are born (EBS_GENS_BACKEND): `scheduler` (default) — one EventBridge Scheduler
   * schedule per volume, the snapshot created with our tags — or `rules`, EventBridge rules with the
   * built-in create-snapshot target (the 2017 recipe; snapshots adopted untagged).
   */
  readonly backend?: Backend;
  /** Scheduler's flexible time window in minutes, 0 (off) to 1440 (default 60). */
  readonly flexibleWindowMinutes?: number;
}

export type Backend = 'scheduler' | 'rules';
export const BACKENDS: readonly Backend[] = ['scheduler', 'rules'];
export const DEFAULT_BACKEND: Backend = 'scheduler';
export const DEFAULT_FLEXIBLE_WINDOW_MINUTES = 60;
/** Scheduler's MaximumWindowInMinutes is 1..=1440; 0 here means the window is off. */
export const MAX_FLEXIBLE_WINDOW_MINUTES = 1440;

export type GenClass = 'hourly' | 'daily' | 'weekly' | 'monthly';
const GEN_CLASSES: readonly GenClass[] = ['hourly', 'daily', 'weekly', 'monthly'];
/** The classes, in contract.json's order (which must name exactly the four this app knows). */
export const CLASSES: GenClass[] = CONTRACT.classes.map((c) => {
  if (!(GEN_CLASSES as readonly string[]).includes(c)) throw new Error(`contract.json class ${c} is unknown to the CDK app`);
  return c as GenClass;
});
if (CLASSES.length !== GEN_CLASSES.length || new Set(CLASSES).size !== GEN_CLASSES.length) {
  throw new Error(`contract.json classes ${JSON.stringify(CONTRACT.classes)} must be exactly ${GEN_CLASSES.join(', ')}`);
}
export const DEFAULT_TAG_KEYS = Object.fromEntries(CLASSES.map((c) => [c, CONTRACT.tags.generation_keys[c]])) as Record<GenClass, string>;
/**
 * The tag keys the functions ever write (shared/src/snapshot.rs OUR_TAG_KEYS, the ownership tags of
 * shared/src/ownership.rs): every snapshot tag of ours but the pin, which only an operator sets. The
 * volume tag ebs-gens:allow-bulk-delete is not among them either: it acknowledges a bulk deletion, so
 * it must come from an operator, and CreateTags (limited to these keys) cannot write it.
 */
export const OUR_TAG_KEYS: readonly string[] = [
  CONTRACT.tags.volume, CONTRACT.tags.managed_by, CONTRACT.tags.class, CONTRACT.tags.policy, CONTRACT.tags.name,
];
/** The deployment that owns a snapshot; scopes every destructive permission. */
export const MANAGED_BY = CONTRACT.tags.managed_by;
/** The tag that pins a snapshot (shared/src/snapshot.rs TAG_KEEP): any value but `false`. */
export const KEEP_TAG = CONTRACT.tags.keep;

export function validate(s: EbsGensSettings): void {
  if (!/^[A-Za-z0-9._-]{1,32}$/.test(s.deployment)) {
    throw new Error(`deployment ${JSON.stringify(s.deployment)} must be 1-32 characters of [A-Za-z0-9._-]`);
  }
  // IAM scopes each deployment to rule/ebs-gens-<deployment>-<class>-* (ruleArnPatterns). Deployment
  // "prod"'s pattern rule/ebs-gens-prod-daily-* would also match the rules of a deployment named
  // "prod-daily" (ebs-gens-prod-daily-hourly-…) or "prod-daily-eu" (ebs-gens-prod-daily-eu-…). Two
  // deployments' rule names can only collide that way when one of them has a class name as a
  // dash-separated part after its first one, so such names are refused and the patterns stay
  // unambiguous (case-insensitively, to be safe against look-alike names).
  const clash = s.deployment.split('-').slice(1).find((part) => (CLASSES as string[]).includes(part.toLowerCase()));
  if (clash !== undefined) {
    throw new Error(
      `deployment ${JSON.stringify(s.deployment)} must not contain "-hourly", "-daily", "-weekly" or "-monthly" as a dash-separated part ` +
        `(found "-${clash}"): IAM scopes a deployment to the rules rule/ebs-gens-<deployment>-<class>-*, and this name would let ` +
        `another deployment's pattern match this deployment's rules (e.g. "prod" and "prod-daily")`,
    );
  }
  // Also checked here, not only when parsing context: the stack can be built from settings directly.
  if (s.backend !== undefined) parseBackend('backend', s.backend);
  if (s.flexibleWindowMinutes !== undefined) parseFlexibleWindowMinutes('flexibleWindowMinutes', s.flexibleWindowMinutes);
}

/** The `backend` setting: exactly `scheduler` or `rules`; absent means scheduler. */
export function parseBackend(name: string, value: unknown): Backend {
  if (value === undefined) return DEFAULT_BACKEND;
  if ((BACKENDS as readonly unknown[]).includes(value)) return value as Backend;
  throw new Error(`context setting ${name} must be ${BACKENDS.join(' or ')} (default ${DEFAULT_BACKEND}), got ${JSON.stringify(value)}`);
}

/**
 * The `flexibleWindowMinutes` setting: a whole number 0..=1440 (a number from cdk.json, a string of
 * digits from `-c key=value`); absent means 60. Anything else (`abc`, `1.5`, `-1`, "") stops the synth.
 */
export function parseFlexibleWindowMinutes(name: string, value: unknown): number {
  if (value === undefined) return DEFAULT_FLEXIBLE_WINDOW_MINUTES;
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^[0-9]+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > MAX_FLEXIBLE_WINDOW_MINUTES) {
    throw new Error(
      `context setting ${name} must be a whole number of minutes from 0 (off) to ${MAX_FLEXIBLE_WINDOW_MINUTES} (default ${DEFAULT_FLEXIBLE_WINDOW_MINUTES}), got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/**
 * A boolean context setting: exactly `true` / `false` (booleans from cdk.json, or the strings "true" /
 * "false" from `-c key=value`); absent means `fallback`. Anything else (`True`, `1`, `yes`, "") stops
 * the synth: a typo must not silently turn dry-run off.
 */
export function parseBooleanSetting(name: string, value: unknown, fallback = false): boolean {
  if (value === undefined) return fallback;
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw new Error(`context setting ${name} must be true or false, got ${JSON.stringify(value)}`);
}

/** The ARN patterns of this deployment's schedule rules: one per class, the class pinned after the prefix. */
export function ruleArnPatterns(s: EbsGensSettings, partition: string, region: string, account: string): string[] {
  return CLASSES.map((c) => `arn:${partition}:events:${region}:${account}:rule/${rulePrefix(s)}${c}-*`);
}

/** The schedule rules' name prefix: contract.json rule_prefix with the deployment filled in. */
export function rulePrefix(s: EbsGensSettings): string {
  return CONTRACT.rule_prefix.replaceAll('{deployment}', s.deployment);
}

/**
 * The deployment's EventBridge Scheduler schedule group: shared/src/config.rs's default for
 * EBS_GENS_SCHEDULE_GROUP. At most 41 characters (the deployment is at most 32) of [A-Za-z0-9._-],
 * within Scheduler's 1-64 of [0-9a-zA-Z-_.]. IAM scopes ensure-rules to schedule/<group>/*: the `/`
 * after the name pins the group, so "prod" cannot reach "prod-eu"'s schedules.
 */
export function scheduleGroupName(s: EbsGensSettings): string {
  return `ebs-gens-${s.deployment}`;
}

/** The functions' environment (read by shared/src/config.rs). */
export function functionEnvironment(s: EbsGensSettings): Record<string, string> {
  const env: Record<string, string> = {
    EBS_GENS_DEPLOYMENT: s.deployment,
    EBS_GENS_RULE_PREFIX: rulePrefix(s),
    EBS_GENS_TIME_ZONE: s.timeZone ?? 'UTC',
    EBS_GENS_ADOPTION: s.adoption ?? 'schedule-window',
    EBS_GENS_DRY_RUN: String(s.dryRun ?? false),
    // Read (and validated) by every function's Settings; ensure-rules acts on them.
    EBS_GENS_BACKEND: s.backend ?? DEFAULT_BACKEND,
    EBS_GENS_SCHEDULE_GROUP: scheduleGroupName(s),
    EBS_GENS_FLEXIBLE_WINDOW_MINUTES: String(s.flexibleWindowMinutes ?? DEFAULT_FLEXIBLE_WINDOW_MINUTES),
  };
  for (const c of CLASSES) {
    const key = s.tagKeys?.[c];
    if (key) env[`EBS_GENS_TAG_KEY_${c.toUpperCase()}`] = key;
    const cron = s.crons?.[c];
    if (cron) env[`EBS_GENS_CRON_${c.toUpperCase()}`] = cron;
  }
  return env;
}
