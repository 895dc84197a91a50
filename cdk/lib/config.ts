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
  /**
   * Which untagged snapshots of a managed volume are adopted (EBS_GENS_ADOPTION): `schedule-window`,
   * `any-untagged` or `never`. The default follows the backend, as in shared/src/config.rs: `never`
   * on `scheduler` (every snapshot a schedule takes is born tagged, so an untagged one is someone
   * else's — e.g. a user's manual snapshot, which adopting would later delete) and `schedule-window`
   * on `rules` (the built-in target's snapshots arrive untagged and must be adopted).
   */
  readonly adoption?: Adoption;
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
  /**
   * When a volume counts as stale (EBS_GENS_STALE_FACTOR, EBS_GENS_STALE_GRACE_MINUTES): its newest
   * completed snapshot is older than factor × its finest class's period + grace (+ the flexible
   * window on the scheduler backend). Factor 1..=100 (default 1.5), grace 0..=10080 minutes (default 15).
   */
  readonly staleFactor?: number;
  readonly staleGraceMinutes?: number;
  /**
   * The bulk-deletion fuse (EBS_GENS_FUSE_*): a volume's (batch's) deletions are held when they are
   * more than `percent` % of its completed snapshots and more than `min`. Percent 1..=100 (100: off),
   * volume default 50 % / 5, batch default 25 % / 100; volume min 0..=100000, batch min 0..=1000000.
   */
  readonly fuseVolumePercent?: number;
  readonly fuseVolumeMin?: number;
  readonly fuseBatchPercent?: number;
  readonly fuseBatchMin?: number;
  /**
   * Snapshots of ours whose volume is gone or untagged (EBS_GENS_ORPHANS): `keep` (default) or
   * `keep-last=K,older-than=DAYS` (K 1..=1000, DAYS 1..=36500): prune-volumes then deletes them.
   */
  readonly orphans?: string;
  /**
   * Both state machines' execution log level (always with execution data): `ERROR` (default) logs
   * the error events — a failed task, retried or not; a failed, timed-out or aborted execution —
   * with their error and cause, and nothing of an execution that went well; `ALL` logs every event
   * with every state's input and output (the full history, about 60 % of the deployment's cost at
   * the 1,000-volume scale of `make cost`); `FATAL` only executions that failed, timed out or were
   * aborted. OFF is not offered: an Express execution keeps no history in Step Functions, so this
   * log is its only record.
   */
  readonly stateMachineLogLevel?: StateMachineLogLevel;
  /** X-Ray tracing of both state machines (default false; when on, X-Ray bills one recorded trace per execution). */
  readonly tracing?: boolean;
  /**
   * Reserved concurrency for each of the four functions (1..=1000; default none). Opt-in: Lambda
   * refuses a reservation that leaves the account fewer than 100 unreserved concurrent executions,
   * so it needs an account limit of at least 4 × this + 100, and a small one throttles the
   * snapshot-completed burst after a schedule fires (retried by the state machines as
   * Lambda.TooManyRequestsException, but each retry costs a transition and time). What it buys: no
   * other function of the account can starve these, and these can never take more than this.
   */
  readonly reservedConcurrency?: number;
}

export type StateMachineLogLevel = 'ALL' | 'ERROR' | 'FATAL';
export const STATE_MACHINE_LOG_LEVELS: readonly StateMachineLogLevel[] = ['ALL', 'ERROR', 'FATAL'];
export const DEFAULT_STATE_MACHINE_LOG_LEVEL: StateMachineLogLevel = 'ERROR';
export const DEFAULT_TRACING = false;
/** reservedConcurrency: per function; the account's default concurrency limit is 1000. */
export const MAX_RESERVED_CONCURRENCY = 1000;

export type Adoption = 'schedule-window' | 'any-untagged' | 'never';
export const ADOPTIONS: readonly Adoption[] = ['schedule-window', 'any-untagged', 'never'];

export type Backend = 'scheduler' | 'rules';
export const BACKENDS: readonly Backend[] = ['scheduler', 'rules'];
export const DEFAULT_BACKEND: Backend = 'scheduler';
export const DEFAULT_FLEXIBLE_WINDOW_MINUTES = 60;
/** Scheduler's MaximumWindowInMinutes is 1..=1440; 0 here means the window is off. */
export const MAX_FLEXIBLE_WINDOW_MINUTES = 1440;

/**
 * The whole-number settings of shared/src/config.rs `Settings::from_lookup` (`ranged`): context key,
 * environment variable, Rust's inclusive range and default, and what the number means.
 */
export interface WholeNumberSetting {
  readonly env: string;
  readonly min: number;
  readonly max: number;
  readonly fallback: number;
  /** What the number means, for the error message. */
  readonly what: string;
}
export const WHOLE_NUMBER_SETTINGS = {
  staleGraceMinutes: { env: 'EBS_GENS_STALE_GRACE_MINUTES', min: 0, max: 10080, fallback: 15, what: 'minutes added to the stale limit' },
  fuseVolumePercent: { env: 'EBS_GENS_FUSE_VOLUME_PERCENT', min: 1, max: 100, fallback: 50, what: 'percent of a volume\'s completed snapshots; 100 turns the volume fuse off' },
  fuseVolumeMin: { env: 'EBS_GENS_FUSE_VOLUME_MIN', min: 0, max: 100_000, fallback: 5, what: 'deletions per volume the fuse never holds' },
  fuseBatchPercent: { env: 'EBS_GENS_FUSE_BATCH_PERCENT', min: 1, max: 100, fallback: 25, what: 'percent of a prune batch\'s completed snapshots; 100 turns the batch fuse off' },
  fuseBatchMin: { env: 'EBS_GENS_FUSE_BATCH_MIN', min: 0, max: 1_000_000, fallback: 100, what: 'deletions per prune batch the fuse never holds' },
} as const satisfies Record<string, WholeNumberSetting>;
export type WholeNumberSettingName = keyof typeof WHOLE_NUMBER_SETTINGS;
export const WHOLE_NUMBER_SETTING_NAMES = Object.keys(WHOLE_NUMBER_SETTINGS) as WholeNumberSettingName[];
/** EBS_GENS_STALE_FACTOR: a number 1..=100, default 1.5 (× the finest class's period). */
export const STALE_FACTOR = { env: 'EBS_GENS_STALE_FACTOR', min: 1, max: 100, fallback: 1.5 } as const;
/** EBS_GENS_ORPHANS (shared/src/orphans.rs OrphanPolicy::from_str): K 1..=1000, DAYS 1..=36500. */
export const ORPHANS = { env: 'EBS_GENS_ORPHANS', fallback: 'keep', keepLast: [1, 1000], olderThan: [1, 36500] } as const;

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
  if (s.adoption !== undefined) parseAdoption('adoption', s.adoption, s.backend ?? DEFAULT_BACKEND);
  if (s.flexibleWindowMinutes !== undefined) parseFlexibleWindowMinutes('flexibleWindowMinutes', s.flexibleWindowMinutes);
  if (s.staleFactor !== undefined) parseStaleFactor('staleFactor', s.staleFactor);
  for (const name of WHOLE_NUMBER_SETTING_NAMES) {
    if (s[name] !== undefined) parseWholeNumberSetting(name, s[name], WHOLE_NUMBER_SETTINGS[name]);
  }
  if (s.orphans !== undefined) parseOrphans('orphans', s.orphans);
  if (s.stateMachineLogLevel !== undefined) parseStateMachineLogLevel('stateMachineLogLevel', s.stateMachineLogLevel);
  if (s.tracing !== undefined) parseBooleanSetting('tracing', s.tracing);
  if (s.reservedConcurrency !== undefined) parseReservedConcurrency('reservedConcurrency', s.reservedConcurrency);
}

/**
 * The `reservedConcurrency` setting: a whole number 1..=1000 (a number from cdk.json, a string of
 * digits from `-c key=value`); absent means no reservation. Anything else (`0`, `abc`, `1.5`, "")
 * stops the synth: 0 would stop every function.
 */
export function parseReservedConcurrency(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^[0-9]+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_RESERVED_CONCURRENCY) {
    throw new Error(
      `context setting ${name} must be a whole number from 1 to ${MAX_RESERVED_CONCURRENCY} (concurrent executions reserved for each function; ` +
        `default none: Lambda refuses a reservation that leaves the account fewer than 100 unreserved), got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/**
 * The `stateMachineLogLevel` setting: exactly `ALL`, `ERROR` or `FATAL` (upper case, as Step
 * Functions spells them); absent means ERROR. Anything else (`all`, `OFF`, `INFO`, "") stops the
 * synth — OFF too: the log is the only record an Express execution leaves.
 */
export function parseStateMachineLogLevel(name: string, value: unknown): StateMachineLogLevel {
  if (value === undefined) return DEFAULT_STATE_MACHINE_LOG_LEVEL;
  if ((STATE_MACHINE_LOG_LEVELS as readonly unknown[]).includes(value)) return value as StateMachineLogLevel;
  throw new Error(
    `context setting ${name} must be ALL, ERROR or FATAL (default ${DEFAULT_STATE_MACHINE_LOG_LEVEL}, always with execution data; ` +
      `OFF is not offered: an Express execution keeps no history, its log is its only record), got ${JSON.stringify(value)}`,
  );
}

/** The `backend` setting: exactly `scheduler` or `rules`; absent means scheduler. */
export function parseBackend(name: string, value: unknown): Backend {
  if (value === undefined) return DEFAULT_BACKEND;
  if ((BACKENDS as readonly unknown[]).includes(value)) return value as Backend;
  throw new Error(`context setting ${name} must be ${BACKENDS.join(' or ')} (default ${DEFAULT_BACKEND}), got ${JSON.stringify(value)}`);
}

/**
 * The adoption a backend gets when none is given (shared/src/config.rs): `never` on `scheduler`, whose
 * snapshots are born with our tags, `schedule-window` on `rules`, whose snapshots arrive untagged.
 */
export function defaultAdoption(backend: Backend): Adoption {
  return backend === 'rules' ? 'schedule-window' : 'never';
}

/**
 * The `adoption` setting: exactly `schedule-window`, `any-untagged` or `never`; absent means the
 * backend's default (defaultAdoption). Anything else (`Never`, `window`, "") stops the synth: a typo
 * must not silently adopt — and later delete — snapshots that are not ours.
 */
export function parseAdoption(name: string, value: unknown, backend: Backend): Adoption {
  if (value === undefined) return defaultAdoption(backend);
  if ((ADOPTIONS as readonly unknown[]).includes(value)) return value as Adoption;
  throw new Error(
    `context setting ${name} must be ${ADOPTIONS.join(', ')} (default ${defaultAdoption('scheduler')} on the scheduler backend, ` +
      `${defaultAdoption('rules')} on rules), got ${JSON.stringify(value)}`,
  );
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
 * A whole-number context setting within Rust's inclusive range (a number from cdk.json, a string of
 * digits from `-c key=value`); absent means Rust's default. Anything else (`abc`, `1.5`, `-1`, `+5`,
 * " 5", "", out of range) stops the synth with a message naming the setting and the accepted form.
 */
export function parseWholeNumberSetting(name: string, value: unknown, r: WholeNumberSetting): number {
  if (value === undefined) return r.fallback;
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^[0-9]+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < r.min || n > r.max) {
    throw new Error(
      `context setting ${name} must be a whole number from ${r.min} to ${r.max} (${r.what}; default ${r.fallback}), got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/**
 * The `staleFactor` setting: a number from 1 to 100 (a number from cdk.json, a decimal such as `2` or
 * `1.5` from `-c key=value`); absent means 1.5. Anything else (`abc`, `0.5`, `NaN`, `1e1`, `.5`, "")
 * stops the synth. The environment gets the number as JavaScript prints it (never an exponent in
 * 1..100), which Rust's f64 parser reads back as the same value.
 */
export function parseStaleFactor(name: string, value: unknown): number {
  if (value === undefined) return STALE_FACTOR.fallback;
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^[0-9]+(\.[0-9]+)?$/.test(value) ? Number(value) : NaN;
  if (!Number.isFinite(n) || n < STALE_FACTOR.min || n > STALE_FACTOR.max) {
    throw new Error(
      `context setting ${name} must be a number from ${STALE_FACTOR.min} to ${STALE_FACTOR.max} such as 1.5 or 2 ` +
        `(× the finest class's period; default ${STALE_FACTOR.fallback}), got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/**
 * The `orphans` setting: exactly `keep`, or `keep-last=K,older-than=DAYS` (the two parts in either
 * order, no spaces; K 1..=1000, DAYS 1..=36500, as shared/src/orphans.rs OrphanPolicy::from_str);
 * absent means keep. Returned in the canonical form `keep-last=K,older-than=DAYS`. Anything else
 * (`delete`, `keep-last=0,older-than=30`, `keep-last=3`, "") stops the synth: a policy that deletes
 * snapshots must be exactly what was meant.
 */
export function parseOrphans(name: string, value: unknown): string {
  if (value === undefined) return ORPHANS.fallback;
  const [kMin, kMax] = ORPHANS.keepLast;
  const [dMin, dMax] = ORPHANS.olderThan;
  const refuse = (why: string): never => {
    throw new Error(
      `context setting ${name} must be keep (the default) or keep-last=K,older-than=DAYS with K from ${kMin} to ${kMax} ` +
        `and DAYS from ${dMin} to ${dMax} (e.g. keep-last=3,older-than=90), got ${JSON.stringify(value)}${why}`,
    );
  };
  if (value === 'keep') return 'keep';
  if (typeof value !== 'string') return refuse('');
  const m = /^keep-last=([0-9]+),older-than=([0-9]+)$/.exec(value) ?? /^older-than=([0-9]+),keep-last=([0-9]+)$/.exec(value);
  if (!m) return refuse('');
  const [keep, days] = value.startsWith('keep-last=') ? [Number(m[1]), Number(m[2])] : [Number(m[2]), Number(m[1])];
  if (keep < kMin || keep > kMax) refuse(` (keep-last=${keep} is outside ${kMin}..${kMax}: the newest snapshot of a former volume is always kept)`);
  if (days < dMin || days > dMax) refuse(` (older-than=${days} is outside ${dMin}..${dMax})`);
  return `keep-last=${keep},older-than=${days}`;
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

/** The version of the published configuration's shape (contract.json); the CLI refuses one it does not know. */
export const CONFIG_SCHEMA = CONTRACT.config_parameter.schema;

/**
 * The SSM parameter the stack publishes the deployment's configuration in, for the operator's
 * command (`ebs-gens --deployment <name>`): contract.json config_parameter.name,
 * `/ebs-gens/<deployment>/config`. The deployment's characters ([A-Za-z0-9._-]) are all valid in a
 * parameter name.
 */
export function configParameterName(deployment: string): string {
  return CONTRACT.config_parameter.name.replaceAll('{deployment}', deployment);
}

/** The functions' environment (read by shared/src/config.rs). */
export function functionEnvironment(s: EbsGensSettings): Record<string, string> {
  const env: Record<string, string> = {
    EBS_GENS_DEPLOYMENT: s.deployment,
    EBS_GENS_RULE_PREFIX: rulePrefix(s),
    EBS_GENS_TIME_ZONE: s.timeZone ?? 'UTC',
    // Always set, so the template (and the published configuration) says which mode runs.
    EBS_GENS_ADOPTION: s.adoption ?? defaultAdoption(s.backend ?? DEFAULT_BACKEND),
    EBS_GENS_DRY_RUN: String(s.dryRun ?? false),
    // Read (and validated) by every function's Settings; ensure-rules acts on them.
    EBS_GENS_BACKEND: s.backend ?? DEFAULT_BACKEND,
    EBS_GENS_SCHEDULE_GROUP: scheduleGroupName(s),
    EBS_GENS_FLEXIBLE_WINDOW_MINUTES: String(s.flexibleWindowMinutes ?? DEFAULT_FLEXIBLE_WINDOW_MINUTES),
    // Read by every function's Settings; prune-volumes acts on them (staleness, the fuse, the orphan
    // scan). Always set, with Rust's defaults, like the settings above: the template says what runs.
    [STALE_FACTOR.env]: String(s.staleFactor ?? STALE_FACTOR.fallback),
    ...Object.fromEntries(WHOLE_NUMBER_SETTING_NAMES.map((n) => [WHOLE_NUMBER_SETTINGS[n].env, String(s[n] ?? WHOLE_NUMBER_SETTINGS[n].fallback)])),
    [ORPHANS.env]: s.orphans === undefined ? ORPHANS.fallback : parseOrphans('orphans', s.orphans),
  };
  for (const c of CLASSES) {
    const key = s.tagKeys?.[c];
    if (key) env[`EBS_GENS_TAG_KEY_${c.toUpperCase()}`] = key;
    const cron = s.crons?.[c];
    if (cron) env[`EBS_GENS_CRON_${c.toUpperCase()}`] = cron;
  }
  return env;
}
