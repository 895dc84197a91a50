// The deployment's settings: the EbsGens props, read from context by bin/app.ts. What each accepts
// and its default come from contract.json `settings` (shared/src/config/table.rs, the table the
// functions read their environment with); every prop is validated from it before anything is
// synthesized, so a value the functions would refuse at start-up stops the synth instead.
import { CONTRACT, type ContractSetting, type SettingType } from './contract';

/**
 * Deployment settings: the CDK props that become the functions' environment. Each is a row of
 * contract.json `settings` (its context key is the prop's name, `tagKeys.daily` for a nested one):
 * docs/settings.md lists them with what they accept and their defaults.
 */
export interface EbsGensSettings {
  /** `ebs-gens:managed-by` value; also names the rules and the IAM scope. 1-32 of [A-Za-z0-9._-]. */
  readonly deployment: string;
  /** The volume tag per class that asks for its generations (`<key>=N`; default Hourly_Gens, Daily_Gens, Weekly_Gens, Monthly_Gens). */
  readonly tagKeys?: Partial<Record<GenClass, string>>;
  /** When each class's snapshots are taken: an EventBridge `cron(…)` (six fields) or `rate(…)` (defaults in docs/settings.md). */
  readonly crons?: Partial<Record<GenClass, string>>;
  /** IANA zone in which schedules fire (scheduler backend) and days, weeks and months are counted (default UTC); one the functions know (contract.json time_zones). */
  readonly timeZone?: string;
  /**
   * Which untagged snapshots of a managed volume are adopted (EBS_GENS_ADOPTION): `schedule-window`,
   * `any-untagged` or `never`. The default follows the backend, as in shared/src/config: `never`
   * on `scheduler` (every snapshot a schedule takes is born tagged, so an untagged one is someone
   * else's — e.g. a user's manual snapshot, which adopting would later delete) and `schedule-window`
   * on `rules` (the built-in target's snapshots arrive untagged and must be adopted).
   */
  readonly adoption?: Adoption;
  /**
   * With `schedule-window` adoption: how long after a fire time a snapshot still counts as the
   * schedule's (EBS_GENS_ADOPTION_WINDOW_MINUTES), 1..=1440 minutes (default 15).
   */
  readonly adoptionWindowMinutes?: number;
  /** Sweep schedule (default rate(1 hour)). */
  readonly sweepSchedule?: string;
  /** When true every function runs with EBS_GENS_DRY_RUN=true: nothing is changed. */
  readonly dryRun?: boolean;
  /** E-mail address subscribed to the alarm topic (optional). */
  readonly alarmEmail?: string;
  /** How long the functions' and state machines' logs are kept, in days: one of CloudWatch Logs' periods (default 30). */
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
   * Copies in other regions (EBS_GENS_COPIES): `CLASS:REGION=N` rules, e.g. `weekly:us-west-2=8`, each
   * keeping the newest N generations of that class there (default off). A volume's `ebs-gens:copies`
   * tag replaces them for it, among these regions.
   */
  readonly copies?: string;
  /**
   * The customer managed KMS key each destination's copies are encrypted with
   * (EBS_GENS_COPY_KMS_KEYS): `REGION=KEY_ARN`, the key in that region, the region one of `copies`'
   * destinations (default: each destination's default EBS key). prune-volumes is granted their use.
   */
  readonly copyKmsKeys?: string;
  /**
   * Time-based copies (EBS_GENS_COPY_COMPLETION_MINUTES): each copy is to complete within this many
   * minutes, 15 to 2880 in steps of 15 (AWS's CompletionDurationMinutes, billed extra by AWS); a copy
   * still pending after it is reported late (`CopiesLate`, alarmed). 0 (default): best effort.
   */
  readonly copyCompletionMinutes?: number;
  /**
   * Snapshot locks (EBS_GENS_LOCKS): `CLASS=MODE` rules, e.g. `daily=governance weekly=compliance`
   * (default off). A snapshot kept for a locked class is locked exactly as long as that class keeps
   * it, extended when it becomes the keeper of a coarser locked period, never shortened.
   */
  readonly locks?: string;
  /** A new compliance lock's cooling-off period, hours, 1..=72 (EBS_GENS_LOCK_COOL_OFF_HOURS; default 24). */
  readonly lockCoolOffHours?: number;
  /** The longest lock set, days, 1..=36500 (EBS_GENS_LOCK_MAX_DAYS; default 400). */
  readonly lockMaxDays?: number;
  /**
   * Restore drills (EBS_GENS_DRILL_VOLUMES): how many managed volumes each drill restores, a count
   * (`3`, at most 1000) or a share (`10%`); default off (no schedule, no alarm).
   */
  readonly drillVolumes?: string;
  /** The most GiB one drill creates at once, 1..=1000000 (EBS_GENS_DRILL_MAX_GIB; default 2000). */
  readonly drillMaxGib?: number;
  /** When drills run, an EventBridge cron(…) or rate(…) in UTC (default `cron(0 4 ? * SUN *)`). */
  readonly drillSchedule?: string;
  /** The customer managed KMS keys of the snapshots drills restore, space-separated ARNs (default none). */
  readonly drillKmsKeys?: string;
  /**
   * Instance sets (EBS_GENS_SETS, docs/sets.md): `on` snapshots a tagged instance's attached volumes
   * together and keeps them as whole sets; needs backend=scheduler (default off).
   */
  readonly sets?: 'off' | 'on';
  /**
   * DeleteSnapshot calls a prune may make at once before pacing (EBS_GENS_DELETE_BURST; EC2's bucket:
   * 100, shared by the account), 1..=100 (default 20).
   */
  readonly deleteBurst?: number;
  /**
   * DeleteSnapshot calls per second per prune after the burst (EBS_GENS_DELETES_PER_SECOND; EC2
   * refills 5/s per account and region), a number from 0.001 to 1000 (default 2).
   */
  readonly deletesPerSecond?: number;
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

/** The props that are rows of the settings table: every prop but the two per-class maps, and those maps' entries. */
export type SettingKey = Exclude<keyof EbsGensSettings, 'tagKeys' | 'crons'> | `tagKeys.${GenClass}` | `crons.${GenClass}`;
/** A prop's type (a class's tag key or cron: a string). */
export type SettingValue<K extends SettingKey> = K extends keyof EbsGensSettings ? NonNullable<EbsGensSettings[K]> : string;

/** The table row of a context key / prop (throws for one contract.json does not list). */
export function settingRow(key: string): ContractSetting {
  const row = CONTRACT.settings.find((r) => r.context === key);
  if (!row) throw new Error(`contract.json settings has no row for ${key}`);
  return row;
}

/** The operator's settings: every row with a context key, in the table's order. */
export const OPERATOR_SETTINGS = CONTRACT.settings.filter(
  (r): r is ContractSetting & { readonly context: SettingKey } => r.set_by === 'operator' && r.context !== null,
);

/** A table row's values (an enum's), typed: the table is what the code's unions must name. */
function valuesOf<T extends string>(key: string): readonly T[] {
  const row = settingRow(key);
  if (row.type !== 'enum' || !row.values) throw new Error(`contract.json settings: ${key} is not an enum`);
  return row.values as readonly T[];
}

export type StateMachineLogLevel = 'ALL' | 'ERROR' | 'FATAL';
export const STATE_MACHINE_LOG_LEVELS = valuesOf<StateMachineLogLevel>('stateMachineLogLevel');
export const DEFAULT_STATE_MACHINE_LOG_LEVEL = settingRow('stateMachineLogLevel').default as StateMachineLogLevel;
export const DEFAULT_TRACING = settingRow('tracing').default === 'true';

export type Adoption = 'schedule-window' | 'any-untagged' | 'never';

export type Backend = 'scheduler' | 'rules';

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
/**
 * The tag keys the functions ever write (shared/src/snapshot.rs OUR_TAG_KEYS, the ownership tags of
 * shared/src/ownership.rs): every snapshot tag of ours but the pin, which only an operator sets. The
 * volume tag ebs-gens:allow-bulk-delete is not among them either: it acknowledges a bulk deletion, so
 * it must come from an operator, and CreateTags (limited to these keys) cannot write it.
 */
export const OUR_TAG_KEYS: readonly string[] = [
  CONTRACT.tags.volume,
  CONTRACT.tags.managed_by,
  CONTRACT.tags.class,
  CONTRACT.tags.policy,
  CONTRACT.tags.name,
  CONTRACT.tags.volume_spec,
  CONTRACT.tags.set,
  CONTRACT.tags.set_size,
  CONTRACT.tags.set_deleting,
];
/** The tags a copy in another region is born with (shared/src/app/copies.rs `spec`). */
export const COPY_TAG_KEYS: readonly string[] = [
  CONTRACT.tags.managed_by,
  CONTRACT.tags.volume,
  CONTRACT.tags.class,
  CONTRACT.tags.copy_of,
  CONTRACT.tags.source_region,
  CONTRACT.tags.source_start,
  CONTRACT.tags.name,
  CONTRACT.tags.volume_spec,
];

/** The KMS key ARNs of `copyKmsKeys`, by destination region. */
export function copyKeys(s: EbsGensSettings): Record<string, string> {
  const text = settingOf(s, 'copyKmsKeys');
  if (text === undefined || text === '') return {};
  return Object.fromEntries(
    String(text)
      .split(/[ ,]+/)
      .filter(Boolean)
      .map((item) => [item.slice(0, item.indexOf('=')), item.slice(item.indexOf('=') + 1)]),
  );
}

/** The regions the deployment copies to (EBS_GENS_COPIES), each once. */
export function copyRegions(s: EbsGensSettings): string[] {
  const rules = settingOf(s, 'copies');
  if (rules === undefined || rules === 'off') return [];
  return [
    ...new Set(
      String(rules)
        .split(/[ ,]+/)
        .filter(Boolean)
        .map((r) => r.split(':')[1].split('=')[0]),
    ),
  ].sort();
}
/** The deployment that owns a snapshot; scopes every destructive permission. */
export const MANAGED_BY = CONTRACT.tags.managed_by;
/** The tag that pins a snapshot (shared/src/snapshot.rs TAG_KEEP): any value but `false`. */
export const KEEP_TAG = CONTRACT.tags.keep;

/**
 * What a type of setting accepts: its words for an error message, and its parser, which returns the
 * value as the functions' environment carries it (the canonical text) or calls `refuse`.
 */
interface TypeRule {
  readonly accepts: (row: ContractSetting) => string;
  readonly parse: (row: ContractSetting, value: unknown, refuse: (why?: string) => never) => string;
}

/** `a`, `a or b`, `a, b or c`. */
const oneOf = (values: readonly string[]) =>
  values.length < 2 ? values.join('') : `${values.slice(0, -1).join(', ')} or ${values.at(-1)}`;
/** An enum whose values are whole numbers (logRetentionDays): the number itself is accepted too, and is the prop's type. */
const numericEnum = (row: ContractSetting) => row.type === 'enum' && (row.values ?? []).every((v) => /^[0-9]+$/.test(v));
/** The row's pattern, as Rust reads it (`u`: `.` and `{1,128}` count characters, not UTF-16 units). */
const patternOf = (row: ContractSetting) => new RegExp(row.pattern ?? '(?!)', 'u');
const TIME_ZONES: ReadonlySet<string> = new Set(CONTRACT.time_zones);
/** A whole number from cdk.json or a prop, or a string of digits from `-c key=value` (no sign, space or exponent); NaN for anything else. */
const wholeNumber = (v: unknown) => (typeof v === 'number' ? v : typeof v === 'string' && /^[0-9]+$/.test(v) ? Number(v) : NaN);
const clamp = (n: number, [lo, hi]: readonly [number, number]) => Math.min(Math.max(n, lo), hi);
/** An orphans row's ranges of K and DAYS (loadContract checked they are there). */
const orphanRanges = (r: ContractSetting): readonly [readonly [number, number], readonly [number, number]] => [
  r.keep_last ?? [1, 1],
  r.older_than_days ?? [1, 1],
];

/**
 * A rule list setting: `off` (or empty), or rules separated by spaces or commas, each matching
 * `pattern` and passed by `check` — which returns why it is refused, or the rule's key (each key at
 * most once, else `twice` is the refusal) and its canonical text. The canonical rules, or `off`.
 */
function ruleList(
  v: unknown,
  refuse: (why?: string) => never,
  shape: string,
  pattern: RegExp,
  check: (m: RegExpExecArray) => string | { key: string; twice: string; text: string },
): string[] | 'off' {
  if (typeof v !== 'string') return refuse();
  const text = v.trim();
  if (text === '' || text === 'off') return 'off';
  const seen = new Set<string>();
  const rules: string[] = [];
  for (const item of text.split(/[ ,]+/).filter(Boolean)) {
    const m = pattern.exec(item);
    if (!m) return refuse(` (${item} is not ${shape})`);
    const rule = check(m);
    if (typeof rule === 'string') return refuse(` (${rule})`);
    if (seen.has(rule.key)) return refuse(` (${rule.twice})`);
    seen.add(rule.key);
    rules.push(rule.text);
  }
  return rules;
}

const TYPES: Readonly<Record<SettingType, TypeRule>> = {
  integer: {
    accepts: (r) => `a whole number from ${r.min} to ${r.max}${r.step ? `, a multiple of ${r.step}` : ''}`,
    parse: (r, v, refuse) => {
      const n = wholeNumber(v);
      const inRange = Number.isInteger(n) && n >= (r.min as number) && n <= (r.max as number);
      return inRange && n % (r.step ?? 1) === 0 ? String(n) : refuse();
    },
  },
  // A number from cdk.json or a prop, a decimal such as `2` or `1.5` from `-c key=value` (no sign,
  // exponent, space or bare point: `1e1`, `.5`, `inf` are refused). The environment gets the number
  // as JavaScript prints it, which Rust's f64 parser reads back as the same value.
  number: {
    accepts: (r) => `a decimal number from ${r.min} to ${r.max}`,
    parse: (r, v, refuse) => {
      const n = typeof v === 'number' ? v : typeof v === 'string' && /^[0-9]+(\.[0-9]+)?$/.test(v) ? Number(v) : NaN;
      return Number.isFinite(n) && n >= (r.min as number) && n <= (r.max as number) ? String(n) : refuse();
    },
  },
  // Booleans from cdk.json, the strings "true" / "false" from -c; `True`, `1`, `yes` are refused: a
  // typo must not silently turn dry-run off.
  boolean: {
    accepts: () => 'true or false',
    parse: (_r, v, refuse) => (v === true || v === 'true' ? 'true' : v === false || v === 'false' ? 'false' : refuse()),
  },
  // Exactly one of the values (`Never`, `all`, `OFF` are refused); a numeric one also as a number.
  enum: {
    accepts: (r) => oneOf(r.values ?? []),
    parse: (r, v, refuse) => {
      const text = typeof v === 'string' ? v : typeof v === 'number' && numericEnum(r) ? String(v) : undefined;
      return text !== undefined && (r.values ?? []).includes(text) ? text : refuse();
    },
  },
  time_zone: {
    accepts: () =>
      `one of the ${TIME_ZONES.size} IANA time zone names the functions know (contract.json time_zones), such as UTC or Europe/Berlin`,
    parse: (_r, v, refuse) => (typeof v === 'string' && TIME_ZONES.has(v) ? v : refuse()),
  },
  // The shape only (the functions parse the whole grammar): `cron(0 18 * * *)`, five fields, is refused.
  cron: {
    accepts: (r) => `an EventBridge cron(…) of six fields or rate(…) expression, matching ${r.pattern}`,
    parse: (r, v, refuse) => (typeof v === 'string' && patternOf(r).test(v) ? v : refuse()),
  },
  // Exactly `keep`, or `keep-last=K,older-than=DAYS` (either order, no spaces), written out in the
  // canonical order: a policy that deletes snapshots must be exactly what was meant.
  orphans: {
    accepts: (r) => {
      const [k, d] = orphanRanges(r);
      return `keep or keep-last=K,older-than=DAYS with K from ${k[0]} to ${k[1]} and DAYS from ${d[0]} to ${d[1]}, e.g. keep-last=${clamp(3, k)},older-than=${clamp(90, d)}`;
    },
    parse: (r, v, refuse) => {
      if (v === 'keep') return 'keep';
      if (typeof v !== 'string') return refuse();
      const m = /^keep-last=([0-9]+),older-than=([0-9]+)$/.exec(v) ?? /^older-than=([0-9]+),keep-last=([0-9]+)$/.exec(v);
      if (!m) return refuse();
      const [keep, days] = v.startsWith('keep-last=') ? [Number(m[1]), Number(m[2])] : [Number(m[2]), Number(m[1])];
      const [[kMin, kMax], [dMin, dMax]] = orphanRanges(r);
      if (keep < kMin || keep > kMax)
        refuse(` (keep-last=${keep} is outside ${kMin}..${kMax}: the newest snapshot of a former volume is always kept)`);
      if (days < dMin || days > dMax) refuse(` (older-than=${days} is outside ${dMin}..${dMax})`);
      return `keep-last=${keep},older-than=${days}`;
    },
  },
  text: {
    accepts: (r) => `text matching ${r.pattern}`,
    parse: (r, v, refuse) => (typeof v === 'string' && patternOf(r).test(v) ? v : refuse()),
  },
  // `off`, or CLASS:REGION=N rules (spaces or commas between them) as shared/src/copies.rs parses
  // them: a known region, N within range, each (class, region) once, at most max_destinations regions.
  copies: {
    accepts: (r) =>
      `off or CLASS:REGION=N rules such as weekly:us-west-2=8 (N from 1 to ${r.max_keep}, at most ${r.max_destinations} regions, a region one of ${(r.regions ?? []).length} AWS regions)`,
    parse: (r, v, refuse) => {
      const rules = ruleList(v, refuse, 'CLASS:REGION=N', /^([a-z]+):([a-z0-9-]+)=([0-9]+)$/, ([, cls, region, n]) => {
        if (!(CONTRACT.classes as readonly string[]).includes(cls)) return `${cls} is not a class`;
        if (!(r.regions ?? []).includes(region)) return `${region} is not an AWS region ebs-gens knows`;
        const keep = Number(n);
        if (keep < 1 || keep > (r.max_keep as number)) return `${n} is not 1..${r.max_keep}`;
        return { key: `${cls}:${region}`, twice: `${cls}:${region} is given twice`, text: `${cls}:${region}=${keep}` };
      });
      if (rules === 'off') return 'off';
      if (new Set(rules.map((x) => x.split(':')[1].split('=')[0])).size > (r.max_destinations as number))
        return refuse(` (more than ${r.max_destinations} regions)`);
      return rules.join(' ');
    },
  },
  // `off`, or CLASS=MODE rules as shared/src/locks.rs parses them: each class once.
  locks: {
    accepts: (r) => `off or CLASS=MODE rules such as daily=governance weekly=compliance (MODE ${(r.modes ?? []).join(' or ')})`,
    parse: (r, v, refuse) => {
      const rules = ruleList(v, refuse, 'CLASS=MODE', /^([a-z]+)=([a-z]+)$/, ([, cls, mode]) => {
        if (!(CONTRACT.classes as readonly string[]).includes(cls)) return `${cls} is not a class`;
        if (!(r.modes ?? []).includes(mode)) return `${mode} is not a lock mode`;
        return { key: cls, twice: `${cls} is locked twice`, text: `${cls}=${mode}` };
      });
      return rules === 'off' ? 'off' : rules.join(' ');
    },
  },
  // Never an operator's: the stack writes it from what it creates.
  arn: {
    accepts: (r) => `an ${r.service} ARN, which the stack sets`,
    parse: (_r, _v, refuse) => refuse(),
  },
};

/** What an operator should know when these are refused, besides what the table says (the CDK's reasons). */
const NOTES: Partial<Record<SettingKey, string>> = {
  stateMachineLogLevel: 'OFF is not offered: an Express execution keeps no history, its log is its only record',
  reservedConcurrency: 'Lambda refuses a reservation that leaves the account fewer than 100 unreserved',
};

/** A row's doc as a clause: no Markdown, no final period, no "(default …)" (the message says it), lower-cased when it starts with a plain word. */
function clause(doc: string): string {
  const text = doc
    .replaceAll('`', '')
    .replace(/\.$/, '')
    .replace(/\s*\(default [^)]*\)$/, '');
  return /^[A-Z][a-z]*[\s,:;]/.test(text) ? text[0].toLowerCase() + text.slice(1) : text;
}

/** A row's default in words: its value, how it depends on another setting, or none. */
export function defaultText(row: ContractSetting): string {
  return row.default ?? (row.default_doc ? row.default_doc.replaceAll('`', '') : 'none');
}

/** The error for a refused value: the key (as given: `name`), what it accepts, what it does, its default, and the value. */
function refusal(row: ContractSetting, key: string, name: string, value: unknown, why = ''): Error {
  const about = [clause(row.doc), `default ${defaultText(row)}`, NOTES[key as SettingKey]].filter(Boolean).join('; ');
  return new Error(`context setting ${name} must be ${TYPES[row.type].accepts(row)} (${about}), got ${JSON.stringify(value)}${why}`);
}

/**
 * A setting's value checked against its row of contract.json settings, as the functions' environment
 * carries it (`007` → `7`, `older-than=90,keep-last=3` → `keep-last=3,older-than=90`); undefined when
 * absent. Anything the row does not accept stops the synth with an error naming the key, what it
 * accepts (range, values or pattern), its default and the value (`name`: the key as it was given,
 * when it was given under a former name).
 */
export function parseSetting(key: string, value: unknown, name = key): string | undefined {
  if (value === undefined) return undefined;
  const row = settingRow(key);
  return TYPES[row.type].parse(row, value, (why) => {
    throw refusal(row, key, name, value, why);
  });
}

/** The canonical text as the prop's type: a number, a boolean or the text. */
function asProp(row: ContractSetting, text: string): unknown {
  if (row.type === 'integer' || row.type === 'number' || numericEnum(row)) return Number(text);
  if (row.type === 'boolean') return text === 'true';
  return text;
}

/** A setting's value checked like parseSetting, as its prop's type (`'30'` → 30, `'true'` → true). */
export function parseProp<K extends SettingKey>(key: K, value: unknown, name: string = key): SettingValue<K> | undefined {
  const text = parseSetting(key, value, name);
  return text === undefined ? undefined : (asProp(settingRow(key), text) as SettingValue<K>);
}

/** The prop a key names, as given (`tagKeys.daily`: `s.tagKeys?.daily`). */
export function givenSetting(s: EbsGensSettings, key: SettingKey): unknown {
  const [prop, cls] = key.split('.');
  const v = (s as unknown as Record<string, unknown>)[prop];
  return cls === undefined ? v : typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[cls] : undefined;
}

/**
 * The adoption a backend gets when none is given (shared/src/config): `never` on `scheduler`, whose
 * snapshots are born with our tags, `schedule-window` on `rules`, whose snapshots arrive untagged.
 */
export function defaultAdoption(backend: Backend): Adoption {
  return backend === 'rules' ? 'schedule-window' : 'never';
}

/** The defaults that depend on another setting (contract.json: default null, default_doc saying on what). */
const DEPENDENT_DEFAULTS: Partial<Record<SettingKey, (s: EbsGensSettings) => string>> = {
  adoption: (s) => defaultAdoption(requiredSetting(s, 'backend')),
};
for (const row of OPERATOR_SETTINGS) {
  if (row.default === null && row.default_doc && !DEPENDENT_DEFAULTS[row.context]) {
    throw new Error(`contract.json settings: ${row.context}'s default depends on something (${row.default_doc}) the CDK app does not know`);
  }
}

/** A setting as the functions' environment carries it: as given, else its default, else undefined (none). */
export function settingText(s: EbsGensSettings, key: SettingKey): string | undefined {
  const given = givenSetting(s, key);
  if (given !== undefined) return parseSetting(key, given);
  return settingRow(key).default ?? DEPENDENT_DEFAULTS[key]?.(s);
}

/** A setting as its prop's type: as given, else its default, else undefined (alarmEmail, reservedConcurrency: none). */
export function settingOf<K extends SettingKey>(s: EbsGensSettings, key: K): SettingValue<K> | undefined {
  const text = settingText(s, key);
  return text === undefined ? undefined : (asProp(settingRow(key), text) as SettingValue<K>);
}

/** A setting that always has a value (one with a default): as settingOf, throwing when there is none. */
export function requiredSetting<K extends SettingKey>(s: EbsGensSettings, key: K): SettingValue<K> {
  const v = settingOf(s, key);
  if (v === undefined) throw new Error(`setting ${key} has no value and no default`);
  return v;
}

/**
 * Checks every setting against its row of contract.json settings (the same check as reading context,
 * for settings given to the construct directly), and the deployment against the CDK's own rule.
 */
export function validate(s: EbsGensSettings): void {
  // Required: the construct has no default deployment (the app's is `default`).
  parseSetting('deployment', s.deployment ?? null);
  for (const row of OPERATOR_SETTINGS) parseSetting(row.context, givenSetting(s, row.context));
  // IAM scopes each deployment to rule/ebs-gens-<deployment>-<class>-* (ruleArnPatterns). Deployment
  // "prod"'s pattern rule/ebs-gens-prod-daily-* would also match the rules of a deployment named
  // "prod-daily" (ebs-gens-prod-daily-hourly-…) or "prod-daily-eu" (ebs-gens-prod-daily-eu-…). Two
  // deployments' rule names can only collide that way when one of them has a class name as a
  // dash-separated part after its first one, so such names are refused and the patterns stay
  // unambiguous (case-insensitively, to be safe against look-alike names).
  const clash = s.deployment
    .split('-')
    .slice(1)
    .find((part) => (CLASSES as string[]).includes(part.toLowerCase()));
  if (clash !== undefined) {
    throw new Error(
      `deployment ${JSON.stringify(s.deployment)} must not contain "-hourly", "-daily", "-weekly" or "-monthly" as a dash-separated part ` +
        `(found "-${clash}"): IAM scopes a deployment to the rules rule/ebs-gens-<deployment>-<class>-*, and this name would let ` +
        `another deployment's pattern match this deployment's rules (e.g. "prod" and "prod-daily")`,
    );
  }
  // As the functions check at start-up (shared/src/config EBS_GENS_SETS): the rules backend's
  // built-in target snapshots one volume, never an instance's volumes together.
  if (settingOf(s, 'sets') === 'on' && requiredSetting(s, 'backend') === 'rules') {
    throw new Error(
      "context setting sets=on needs backend=scheduler: the rules backend's built-in target snapshots one volume, never an instance's volumes together",
    );
  }
  // As the functions check at start-up (shared/src/copies.rs CopyKeys): each key in its own region,
  // each region a destination of the copy rules.
  const destinations = copyRegions(s);
  for (const [region, arn] of Object.entries(copyKeys(s))) {
    if (arn.split(':')[3] !== region) {
      throw new Error(
        `context setting copyKmsKeys: the key for ${region} (${arn}) is not in ${region}: a copy is encrypted with a key of its destination region`,
      );
    }
    if (!destinations.includes(region)) {
      throw new Error(
        `context setting copyKmsKeys: ${region} has a key but is not a destination of copies (${settingOf(s, 'copies') ?? 'off'})`,
      );
    }
  }
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
 * The deployment's EventBridge Scheduler schedule group: shared/src/config's default for
 * EBS_GENS_SCHEDULE_GROUP. At most 41 characters (the deployment is at most 32) of [A-Za-z0-9._-],
 * within Scheduler's 1-64 of [0-9a-zA-Z-_.]. IAM scopes ensure-schedules to schedule/<group>/*: the `/`
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

/**
 * A class's tag key and cron reach the environment only when given: the functions take each class's
 * default from the same table, and an environment without them is what every deployment has run
 * with so far (an unchanged template, a smaller published configuration).
 */
const writtenWhenGiven = (key: SettingKey) => key.includes('.');

/**
 * The functions' environment (read by shared/src/config): every operator setting the functions read,
 * as given or with its default (adoption's following the backend), so the template and the published
 * configuration say what runs; and the two names the stack derives from the deployment. The roles'
 * and the queue's ARNs are added where they are created (Backend).
 */
export function functionEnvironment(s: EbsGensSettings): Record<string, string> {
  const derived: Record<string, string> = { EBS_GENS_RULE_PREFIX: rulePrefix(s), EBS_GENS_SCHEDULE_GROUP: scheduleGroupName(s) };
  const env: Record<string, string> = {};
  for (const row of CONTRACT.settings) {
    if (row.env === null) continue;
    if (row.set_by === 'stack') {
      const value = derived[row.env];
      if (value === undefined) continue;
      // Checked like any value: the functions would refuse a prefix or group their pattern does not match.
      if (!patternOf(row).test(value)) throw new Error(`${row.env} ${JSON.stringify(value)} does not match contract.json's ${row.pattern}`);
      env[row.env] = value;
      continue;
    }
    const key = row.context as SettingKey;
    if (writtenWhenGiven(key) && givenSetting(s, key) === undefined) continue;
    const text = settingText(s, key);
    if (text !== undefined) env[row.env] = text;
  }
  for (const name of Object.keys(derived)) {
    if (!(name in env)) throw new Error(`contract.json settings has no stack row for ${name}, which the stack sets`);
  }
  return env;
}
