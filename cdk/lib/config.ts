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
}

export type GenClass = 'hourly' | 'daily' | 'weekly' | 'monthly';
export const CLASSES: GenClass[] = ['hourly', 'daily', 'weekly', 'monthly'];
export const DEFAULT_TAG_KEYS: Record<GenClass, string> = {
  hourly: 'Hourly_Gens',
  daily: 'Daily_Gens',
  weekly: 'Weekly_Gens',
  monthly: 'Monthly_Gens',
};
/** The tag keys the functions ever write (shared/src/snapshot.rs OUR_TAG_KEYS). */
export const OUR_TAG_KEYS = ['ebs-gens:volume', 'ebs-gens:managed-by', 'ebs-gens:class', 'Name'];
export const MANAGED_BY = 'ebs-gens:managed-by';

export function validate(s: EbsGensSettings): void {
  if (!/^[A-Za-z0-9._-]{1,32}$/.test(s.deployment)) {
    throw new Error(`deployment ${JSON.stringify(s.deployment)} must be 1-32 characters of [A-Za-z0-9._-]`);
  }
}

export function rulePrefix(s: EbsGensSettings): string {
  return `ebs-gens-${s.deployment}-`;
}

/** The functions' environment (read by shared/src/config.rs). */
export function functionEnvironment(s: EbsGensSettings): Record<string, string> {
  const env: Record<string, string> = {
    EBS_GENS_DEPLOYMENT: s.deployment,
    EBS_GENS_RULE_PREFIX: rulePrefix(s),
    EBS_GENS_TIME_ZONE: s.timeZone ?? 'UTC',
    EBS_GENS_ADOPTION: s.adoption ?? 'schedule-window',
    EBS_GENS_DRY_RUN: String(s.dryRun ?? false),
  };
  for (const c of CLASSES) {
    const key = s.tagKeys?.[c];
    if (key) env[`EBS_GENS_TAG_KEY_${c.toUpperCase()}`] = key;
    const cron = s.crons?.[c];
    if (cron) env[`EBS_GENS_CRON_${c.toUpperCase()}`] = cron;
  }
  return env;
}
