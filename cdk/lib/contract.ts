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
  readonly errors: { readonly names: readonly string[]; readonly retryable: readonly string[]; readonly lambda_transient: readonly string[] };
  readonly functions: readonly ContractFunction[];
  readonly state_machines: readonly { readonly file: string; readonly placeholders: readonly string[] }[];
}

export const CONTRACT_PATH = resolve(__dirname, '../../contract.json');

/** Reads and shape-checks a contract file; any missing or mistyped field stops the synth. */
export function loadContract(path = CONTRACT_PATH): Contract {
  let c: any;
  try {
    c = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read the contract ${path} (generate it with \`make contract\`): ${(e as Error).message}`);
  }
  const fail = (what: string): never => {
    throw new Error(`${path}: ${what} (regenerate it with \`make contract\`)`);
  };
  const str = (v: unknown, what: string) => (typeof v === 'string' && v.length > 0 ? v : fail(`${what} must be a non-empty string`));
  const strs = (v: unknown, what: string) =>
    Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' && x.length > 0) ? (v as string[]) : fail(`${what} must be a non-empty list of strings`);
  const posInt = (v: unknown, what: string) => (Number.isInteger(v) && (v as number) > 0 ? (v as number) : fail(`${what} must be a positive integer`));
  for (const k of ['managed_by', 'volume', 'class', 'keep', 'name', 'policy', 'allow_bulk_delete']) str(c?.tags?.[k], `tags.${k}`);
  for (const cls of strs(c.classes, 'classes')) str(c.tags.generation_keys?.[cls], `tags.generation_keys.${cls}`);
  if (!str(c.rule_prefix, 'rule_prefix').includes('{deployment}')) fail('rule_prefix must contain {deployment}');
  str(c.metrics?.namespace, 'metrics.namespace');
  strs(c.metrics.dimensions, 'metrics.dimensions');
  strs(c.metrics.names, 'metrics.names');
  if (c.metrics.always_emitted !== undefined) {
    for (const m of strs(c.metrics.always_emitted, 'metrics.always_emitted')) {
      if (!c.metrics.names.includes(m)) fail(`metrics.always_emitted: ${m} is not in metrics.names`);
    }
  }
  if (!str(c.config_parameter?.name, 'config_parameter.name').includes('{deployment}')) fail('config_parameter.name must contain {deployment}');
  posInt(c.config_parameter.schema, 'config_parameter.schema');
  strs(c.errors?.names, 'errors.names');
  if (!Array.isArray(c.functions) || c.functions.length === 0) fail('functions must be a non-empty list');
  for (const [i, f] of c.functions.entries()) {
    str(f.name, `functions[${i}].name`);
    str(f.placeholder, `functions[${i}].placeholder`);
    for (const k of ['timeout_seconds', 'task_timeout_seconds', 'memory_mb']) posInt(f[k], `functions[${i}].${k}`);
  }
  if (!Array.isArray(c.state_machines) || c.state_machines.length === 0) fail('state_machines must be a non-empty list');
  for (const [i, sm] of c.state_machines.entries()) {
    str(sm.file, `state_machines[${i}].file`);
    for (const p of strs(sm.placeholders, `state_machines[${i}].placeholders`)) {
      if (!c.functions.some((f: ContractFunction) => f.placeholder === p)) fail(`state_machines[${i}].placeholders: ${p} names no function`);
    }
  }
  return c as Contract;
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
