// contract.json: the names Rust, the state machines, this CDK app and the local runner must agree on
// (tag keys, metric namespace/names/dimensions, the functions with their timeouts and memory, the
// state machines' `${…}` placeholders). Generated from shared/src/contract.rs by `make contract`; read
// here at synth time, like the ASL in statemachine/, from the top of the repository.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export interface ContractFunction {
  /** Binary name, `Function` metric dimension, `cargo lambda watch` function name. */
  readonly name: string;
  /** The state machines' `${…}` placeholder for the function's ARN. */
  readonly placeholder: string;
  readonly timeout_seconds: number;
  /** The Task state's TimeoutSeconds: the function's timeout plus a margin. */
  readonly task_timeout_seconds: number;
  readonly memory_mb: number;
}

/** What a setting accepts (contract.json settings[].type; shared/src/config/table.rs `Kind`). */
export type SettingType =
  | 'integer'
  | 'number'
  | 'boolean'
  | 'enum'
  | 'time_zone'
  | 'cron'
  | 'orphans'
  | 'text'
  | 'arn'
  | 'copies'
  | 'locks';
export const SETTING_TYPES: readonly SettingType[] = [
  'integer',
  'number',
  'boolean',
  'enum',
  'time_zone',
  'cron',
  'orphans',
  'text',
  'arn',
  'copies',
  'locks',
];

/**
 * One setting of a deployment (contract.json settings, generated from shared/src/config/table.rs):
 * the functions' variable, the CDK context key / EbsGens prop, what it accepts and its default.
 */
export interface ContractSetting {
  /** The functions' environment variable; null: the CDK alone reads it. */
  readonly env: string | null;
  /** The CDK context key and EbsGens prop (`tagKeys.daily` for a nested one); null: set by the stack. */
  readonly context: string | null;
  readonly type: SettingType;
  /** integer, number: the inclusive range. */
  readonly min?: number;
  readonly max?: number;
  /** integer: the value must be a multiple of this (absent: any whole number). */
  readonly step?: number;
  /** enum: the accepted values, exactly. */
  readonly values?: readonly string[];
  /** text, cron: an anchored regular expression the value must match (the same in Rust and here). */
  readonly pattern?: string;
  /** orphans: K's and DAYS' inclusive ranges. */
  readonly keep_last?: readonly [number, number];
  readonly older_than_days?: readonly [number, number];
  /** arn: the service of the ARN. */
  readonly service?: string;
  /** copies: the regions a copy may go to, a destination's most generations, the most destinations. */
  readonly regions?: readonly string[];
  readonly max_keep?: number;
  readonly max_destinations?: number;
  /** locks: the lock modes. */
  readonly modes?: readonly string[];
  /** The value when none is given, as text; null: none (or one that depends on another setting, see default_doc). */
  readonly default: string | null;
  /** The default in words, when it depends on something else. */
  readonly default_doc?: string;
  /** `operator`: a context key / prop; `stack`: the stack sets it from what it creates. */
  readonly set_by: 'operator' | 'stack';
  readonly doc: string;
}

export interface Contract {
  readonly tags: {
    readonly managed_by: string;
    readonly volume: string;
    readonly class: string;
    readonly keep: string;
    readonly name: string;
    /** The policy a snapshot was made or adopted under; written with the other ownership tags. */
    readonly policy: string;
    /** On a volume, set by an operator (never by us): lets today's runs past the bulk-deletion fuse. */
    readonly allow_bulk_delete: string;
    /** On a copy in another region: its source snapshot, the source's region and start time. */
    readonly copy_of: string;
    readonly source_region: string;
    readonly source_start: string;
    /** On a volume, set by an operator: its own copy rules. */
    readonly copies: string;
    /** On a snapshot or copy of ours: the source volume's type, size, IOPS, throughput. */
    readonly volume_spec: string;
    /** On a volume `ebs-gens restore` created: by which deployment, of which volume, from
     * which snapshot, as of when. */
    readonly restored_by: string;
    readonly restore_of: string;
    readonly restored_from: string;
    readonly restored_as_of: string;
    /** On a drill volume: the deployment whose drill made it; on a snapshot: its last proof. */
    readonly drill: string;
    readonly restore_proven: string;
    /** On the members of an instance set: the set (`<instance>@<scheduled time>`) and its size. */
    readonly set: string;
    readonly set_size: string;
    /** On the members of a set being deleted: when its deletion began. */
    readonly set_deleting: string;
    /** On an instance: leave its boot volume out of its sets; on a volume: leave it out of its instance's sets. */
    readonly exclude_boot: string;
    readonly exclude_from_set: string;
    readonly generation_keys: Readonly<Record<string, string>>;
  };
  /** The schedule rules' name prefix, `{deployment}` standing for the deployment. */
  readonly rule_prefix: string;
  readonly classes: readonly string[];
  readonly metrics: {
    readonly namespace: string;
    readonly dimensions: readonly string[];
    readonly names: readonly string[];
    /** Published on every run, zeros included; every other metric only when non-zero (absent in older contracts). */
    readonly always_emitted?: readonly string[];
  };
  /** Where the stack publishes the deployment's configuration for the CLI, and its shape's version. */
  readonly config_parameter: { readonly name: string; readonly schema: number };
  readonly errors: {
    readonly names: readonly string[];
    readonly retryable: readonly string[];
    readonly lambda_transient: readonly string[];
  };
  readonly functions: readonly ContractFunction[];
  readonly state_machines: readonly { readonly file: string; readonly placeholders: readonly string[] }[];
  /** Every setting of a deployment, one row each. */
  readonly settings: readonly ContractSetting[];
  /** Every IANA time zone the functions accept. */
  readonly time_zones: readonly string[];
}

export const CONTRACT_PATH = resolve(__dirname, '../../contract.json');

/** A JSON object's fields, or none for anything else (so a missing parent reports its first missing field). */
type Fields = Record<string, unknown>;
const fields = (v: unknown): Fields => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Fields) : {});
/** A JSON list's items as objects' fields (see `fields`). */
const items = (v: unknown): Fields[] => (Array.isArray(v) ? v.map(fields) : []);

/** Reads and shape-checks a contract file; any missing or mistyped field stops the synth. */
export function loadContract(path = CONTRACT_PATH): Contract {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read the contract ${path} (generate it with \`make contract\`): ${(e as Error).message}`);
  }
  const fail = (what: string): never => {
    throw new Error(`${path}: ${what} (regenerate it with \`make contract\`)`);
  };
  const str = (v: unknown, what: string) => (typeof v === 'string' && v.length > 0 ? v : fail(`${what} must be a non-empty string`));
  const strs = (v: unknown, what: string) =>
    Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' && x.length > 0)
      ? (v as string[])
      : fail(`${what} must be a non-empty list of strings`);
  const posInt = (v: unknown, what: string) =>
    Number.isInteger(v) && (v as number) > 0 ? (v as number) : fail(`${what} must be a positive integer`);
  const c = fields(parsed);
  const tags = fields(c.tags);
  for (const k of ['managed_by', 'volume', 'class', 'keep', 'name', 'policy', 'allow_bulk_delete']) str(tags[k], `tags.${k}`);
  for (const cls of strs(c.classes, 'classes')) str(fields(tags.generation_keys)[cls], `tags.generation_keys.${cls}`);
  if (!str(c.rule_prefix, 'rule_prefix').includes('{deployment}')) fail('rule_prefix must contain {deployment}');
  const metrics = fields(c.metrics);
  str(metrics.namespace, 'metrics.namespace');
  strs(metrics.dimensions, 'metrics.dimensions');
  const names = strs(metrics.names, 'metrics.names');
  if (metrics.always_emitted !== undefined) {
    for (const m of strs(metrics.always_emitted, 'metrics.always_emitted')) {
      if (!names.includes(m)) fail(`metrics.always_emitted: ${m} is not in metrics.names`);
    }
  }
  const configParameter = fields(c.config_parameter);
  if (!str(configParameter.name, 'config_parameter.name').includes('{deployment}')) fail('config_parameter.name must contain {deployment}');
  posInt(configParameter.schema, 'config_parameter.schema');
  strs(fields(c.errors).names, 'errors.names');
  if (!Array.isArray(c.functions) || c.functions.length === 0) fail('functions must be a non-empty list');
  const functions = items(c.functions);
  for (const [i, f] of functions.entries()) {
    str(f.name, `functions[${i}].name`);
    str(f.placeholder, `functions[${i}].placeholder`);
    for (const k of ['timeout_seconds', 'task_timeout_seconds', 'memory_mb']) posInt(f[k], `functions[${i}].${k}`);
  }
  if (!Array.isArray(c.state_machines) || c.state_machines.length === 0) fail('state_machines must be a non-empty list');
  for (const [i, sm] of items(c.state_machines).entries()) {
    str(sm.file, `state_machines[${i}].file`);
    for (const p of strs(sm.placeholders, `state_machines[${i}].placeholders`)) {
      if (!functions.some((f) => f.placeholder === p)) fail(`state_machines[${i}].placeholders: ${p} names no function`);
    }
  }
  checkSettings(c.settings, fail);
  const zones = strs(c.time_zones, 'time_zones');
  if (!zones.includes('UTC')) fail('time_zones must include UTC');
  return c as unknown as Contract;
}

/** Shape-checks contract.json settings: every field the CDK app reads, for each row's type. */
function checkSettings(v: unknown, fail: (what: string) => never): void {
  if (!Array.isArray(v) || v.length === 0) fail('settings must be a non-empty list');
  const seen = new Set<string>();
  for (const [i, row] of items(v).entries()) {
    const at = `settings[${i}]`;
    const optStr = (x: unknown, what: string) => {
      if (x !== null && (typeof x !== 'string' || x.length === 0)) fail(`${at}.${what} must be a non-empty string or null`);
    };
    optStr(row.env, 'env');
    optStr(row.context, 'context');
    // A default may be empty: "none" for a text setting whose empty value means unset (copyKmsKeys).
    if (row.default !== null && typeof row.default !== 'string') fail(`${at}.default must be a string or null`);
    if (row.env === null && row.context === null) fail(`${at} must have an env or a context`);
    for (const key of [row.env, row.context]) {
      if (typeof key !== 'string') continue;
      if (seen.has(key)) fail(`${at}: ${key} is in the settings twice`);
      seen.add(key);
    }
    if (row.set_by !== 'operator' && row.set_by !== 'stack') fail(`${at}.set_by must be operator or stack`);
    if ((row.set_by === 'operator') !== (row.context !== null))
      fail(`${at}: an operator's setting has a context key, the stack's has none`);
    if (typeof row.doc !== 'string') fail(`${at}.doc must be a string`);
    if (row.default_doc !== undefined && typeof row.default_doc !== 'string') fail(`${at}.default_doc must be a string`);
    if (!(SETTING_TYPES as readonly unknown[]).includes(row.type)) fail(`${at}.type must be one of ${SETTING_TYPES.join(', ')}`);
    const range = (x: unknown, what: string) => {
      if (!Array.isArray(x) || x.length !== 2 || !x.every(Number.isInteger) || x[0] > x[1])
        fail(`${at}.${what} must be [min, max], whole numbers`);
    };
    switch (row.type) {
      case 'integer':
      case 'number': {
        const ok = row.type === 'integer' ? Number.isInteger : Number.isFinite;
        if (!ok(row.min) || !ok(row.max) || (row.min as number) > (row.max as number))
          fail(`${at}: min and max must be ${row.type}s, min ≤ max`);
        if (row.step !== undefined && !(row.type === 'integer' && Number.isInteger(row.step) && (row.step as number) >= 1))
          fail(`${at}.step must be a whole number ≥ 1, on an integer setting`);
        break;
      }
      case 'enum':
        if (!Array.isArray(row.values) || row.values.length === 0 || !row.values.every((x) => typeof x === 'string'))
          fail(`${at}.values must be a non-empty list of strings`);
        break;
      case 'cron':
      case 'text':
        if (typeof row.pattern !== 'string' || !row.pattern.startsWith('^') || !row.pattern.endsWith('$'))
          fail(`${at}.pattern must be an anchored regular expression`);
        try {
          new RegExp(row.pattern as string, 'u');
        } catch (e) {
          fail(`${at}.pattern ${JSON.stringify(row.pattern)} is not a regular expression: ${(e as Error).message}`);
        }
        break;
      case 'orphans':
        range(row.keep_last, 'keep_last');
        range(row.older_than_days, 'older_than_days');
        break;
      case 'arn':
        if (typeof row.service !== 'string') fail(`${at}.service must be a string`);
        break;
      case 'locks':
        if (!Array.isArray(row.modes) || row.modes.length === 0 || !row.modes.every((x) => typeof x === 'string'))
          fail(`${at}.modes must be a non-empty list of strings`);
        break;
    }
  }
}

export const CONTRACT: Contract = loadContract();

/** The contract's entry for a function (throws for a name the contract does not list). */
export function contractFunction(name: string): ContractFunction {
  const f = CONTRACT.functions.find((x) => x.name === name);
  if (!f) throw new Error(`function ${name} is not in contract.json (functions: ${CONTRACT.functions.map((x) => x.name).join(', ')})`);
  return f;
}

/** A metric name the functions emit; anything else stops the synth (an alarm on it would never fire). */
export function metricName(name: string): string {
  if (!CONTRACT.metrics.names.includes(name)) {
    throw new Error(`metric ${name} is not emitted by the functions (contract.json metrics.names: ${CONTRACT.metrics.names.join(', ')})`);
  }
  return name;
}

/** A metric dimension the functions emit (throws otherwise). */
export function metricDimension(name: string): string {
  if (!CONTRACT.metrics.dimensions.includes(name)) {
    throw new Error(`metric dimension ${name} is not in contract.json (metrics.dimensions: ${CONTRACT.metrics.dimensions.join(', ')})`);
  }
  return name;
}
