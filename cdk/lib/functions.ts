// The five Rust functions: which ones (contract.json), under which construct ids, built from the
// workspace with cargo-lambda or taken prebuilt, each with its own role and log group.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AssetHashType, Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { RustFunction } from 'cargo-lambda-cdk';
import { Construct } from 'constructs';
import { LOG_GROUP_KMS, skipCheckov } from './checkov';
import { type EbsGensSettings, requiredSetting, settingOf } from './config';
import { CONTRACT, type Contract, type ContractFunction } from './contract';

/** The repository's root: the Cargo workspace, contract.json, statemachine/. */
export const ROOT = resolve(__dirname, '../..');

/** The functions this construct wires and grants permissions to, by their current names. */
const KNOWN_FUNCTIONS = ['discover-volumes', 'ensure-schedules', 'tag-snapshot', 'prune-volumes', 'restore-drill'] as const;
export type FunctionName = (typeof KNOWN_FUNCTIONS)[number];

/**
 * The construct id of a function renamed since its first release: the name it was first deployed
 * under. The function, its role and its log group keep that id — and with it their logical IDs, so
 * a deployed stack updates them in place (a new log group would lose the history, a new role would
 * be a new ARN). contract.json may still list the function under this name (until the rename lands
 * there). The only place a rename is handled.
 */
export const HISTORICAL_IDS: Readonly<Partial<Record<FunctionName, string>>> = { 'ensure-schedules': 'ensure-rules' };

/** The construct id of a function: the name it was first deployed under. */
export function constructId(name: FunctionName): string {
  return HISTORICAL_IDS[name] ?? name;
}

/**
 * The functions of a contract, in its order, each with the name the contract gives it (binary,
 * `Function` metric dimension): a function may be listed under its current name or its historical
 * one. Any other name, one missing, or one listed twice stops the synth — a function this construct
 * does not know would get no permissions.
 */
export function contractFunctions(contract: Contract): {
  readonly names: readonly FunctionName[];
  readonly entries: Readonly<Record<FunctionName, ContractFunction>>;
} {
  const entries = {} as Record<FunctionName, ContractFunction>;
  const names = contract.functions.map((fn) => {
    const name = KNOWN_FUNCTIONS.find((k) => k === fn.name || HISTORICAL_IDS[k] === fn.name);
    if (!name) throw new Error(`contract.json function ${fn.name} is unknown to the CDK app (it would get no permissions)`);
    if (entries[name]) throw new Error(`contract.json lists ${name} twice (as ${entries[name].name} and ${fn.name})`);
    entries[name] = fn;
    return name;
  });
  for (const name of KNOWN_FUNCTIONS) {
    if (!entries[name]) {
      throw new Error(`function ${name} is not in contract.json (functions: ${contract.functions.map((x) => x.name).join(', ')})`);
    }
  }
  return { names, entries };
}

const FUNCTIONS = contractFunctions(CONTRACT);
/** The functions, in contract.json's order. */
export const FUNCTION_NAMES: readonly FunctionName[] = FUNCTIONS.names;
/** A function's contract.json entry: its binary name (the `Function` metric dimension), timeout, memory, placeholder. */
export function contractEntry(name: FunctionName): ContractFunction {
  return FUNCTIONS.entries[name];
}
/** The function whose ARN a state machine placeholder stands for. */
export function functionOfPlaceholder(placeholder: string): FunctionName {
  const name = FUNCTION_NAMES.find((n) => contractEntry(n).placeholder === placeholder);
  if (!name) throw new Error(`contract.json names no function for the placeholder ${placeholder}`);
  return name;
}

/**
 * The functions' asset hash: the Rust sources and lockfile only, so CDK neither fingerprints nor
 * re-uploads the whole repository (venv, node_modules) and the asset changes only with the code.
 * Read once per process: every stack one process builds (the tests build dozens) names the same
 * sources, even while someone edits them, and the tree is not walked again for each.
 */
let sourceHash: string | undefined;
export function rustSourceHash(): string {
  sourceHash ??= hashRustSources();
  return sourceHash;
}

function hashRustSources(): string {
  const h = createHash('sha256');
  const add = (p: string) => {
    if (statSync(p).isDirectory()) {
      for (const e of readdirSync(p).sort()) add(join(p, e));
    } else if (/\.(rs|toml|lock)$/.test(p)) {
      h.update(p.slice(ROOT.length)).update(readFileSync(p));
    }
  };
  for (const p of ['Cargo.toml', 'Cargo.lock', 'shared/Cargo.toml', 'shared/src', 'functions']) add(join(ROOT, p));
  return h.digest('hex');
}

/**
 * Prebuilt functions from a directory as `cargo lambda build --release --arm64` leaves them
 * (`target/lambda`): for each function, `<binary>.zip`, or a directory `<binary>/` holding the
 * `bootstrap` executable (arm64, provided.al2023). A function missing there stops the synth.
 */
export function codeFromDirectory(dir: string): Record<FunctionName, lambda.Code> {
  const code = {} as Record<FunctionName, lambda.Code>;
  for (const name of FUNCTION_NAMES) {
    const binary = contractEntry(name).name;
    const zip = join(dir, `${binary}.zip`);
    if (existsSync(zip)) code[name] = lambda.Code.fromAsset(zip);
    else if (existsSync(join(dir, binary, 'bootstrap'))) code[name] = lambda.Code.fromAsset(join(dir, binary));
    else
      throw new Error(
        `no prebuilt ${binary} in ${dir}: expected ${binary}.zip or ${binary}/bootstrap (cargo lambda build --release --arm64, with or without --output-format zip)`,
      );
  }
  return code;
}

export interface FunctionsProps {
  readonly settings: EbsGensSettings;
  /** Every function's environment. */
  readonly environment: Record<string, string>;
  /** Prebuilt code per function; the others are built from the workspace with cargo-lambda. */
  readonly code?: Partial<Record<FunctionName, lambda.Code>>;
}

/**
 * The Rust functions: arm64, provided.al2023, JSON logs with retention, one role each; timeout and
 * memory from contract.json (the same the local runner and the state machines' Task timeouts use).
 */
export class Functions extends Construct {
  readonly fns = {} as Record<FunctionName, lambda.Function>;

  constructor(scope: Construct, id: string, props: FunctionsProps) {
    super(scope, id);
    const { settings, environment } = props;
    const reservedConcurrency = settingOf(settings, 'reservedConcurrency');
    const retention = requiredSetting(settings, 'logRetentionDays') as logs.RetentionDays;
    for (const name of FUNCTION_NAMES) {
      const entry = contractEntry(name);
      const binary = entry.name;
      const cid = constructId(name);
      const logGroup = new logs.LogGroup(this, `${cid}-logs`, {
        retention,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      skipCheckov(logGroup, 'CKV_AWS_158', LOG_GROUP_KMS);
      const role = new iam.Role(this, `${cid}-role`, {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        description: `ebs-gens ${settings.deployment} ${binary}`,
      });
      role.addToPolicy(
        new iam.PolicyStatement({
          actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          resources: [logGroup.logGroupArn, `${logGroup.logGroupArn}:*`],
        }),
      );
      const options: lambda.FunctionOptions = {
        architecture: lambda.Architecture.ARM_64,
        memorySize: entry.memory_mb,
        timeout: Duration.seconds(entry.timeout_seconds),
        loggingFormat: lambda.LoggingFormat.JSON,
        // Pinned, not left to the account default: Lambda treats a JSON line without a `level` — every
        // EMF metric line — as INFO, so any level above INFO would silently drop all our metrics and
        // the alarms built on them.
        applicationLogLevelV2: lambda.ApplicationLogLevel.INFO,
        logGroup,
        role,
        environment,
        description: `ebs-gens ${binary} (${settings.deployment})`,
        reservedConcurrentExecutions: reservedConcurrency,
      };
      const code = props.code?.[name];
      this.fns[name] = code
        ? // What RustFunction sets besides its code: the handler and the runtime.
          new lambda.Function(this, cid, { ...options, code, handler: 'bootstrap', runtime: lambda.Runtime.PROVIDED_AL2023 })
        : new RustFunction(this, cid, {
            ...options,
            manifestPath: resolve(ROOT, 'Cargo.toml'),
            binaryName: binary,
            runtime: 'provided.al2023',
            bundling: { assetHashType: AssetHashType.CUSTOM, assetHash: `${rustSourceHash()}-${binary}` },
          });
      Functions.acknowledgeCheckov(this.fns[name], reservedConcurrency);
    }
  }

  /** checkov's Lambda findings that do not apply here, each with its reason. */
  private static acknowledgeCheckov(fn: lambda.Function, reservedConcurrency: number | undefined) {
    skipCheckov(
      fn,
      'CKV_AWS_116',
      "Invoked only synchronously, by the state machines' lambda:invoke Tasks, whose Retry and Catch handle " +
        'every failure; a dead-letter queue applies only to asynchronous invocations.',
    );
    skipCheckov(
      fn,
      'CKV_AWS_117',
      'The functions call only AWS APIs (EC2, EventBridge, Scheduler) and reach no private resource; a VPC ' +
        'would add NAT gateway or interface endpoint cost (more than the whole deployment) and protect nothing.',
    );
    skipCheckov(
      fn,
      'CKV_AWS_173',
      'The environment holds settings and ARNs, no secret (the same values are published in the ' +
        '/ebs-gens/<deployment>/config parameter for the CLI); Lambda encrypts it at rest with an AWS managed key.',
    );
    if (reservedConcurrency === undefined) {
      skipCheckov(
        fn,
        'CKV_AWS_115',
        'Reserved concurrency is opt-in (-c reservedConcurrency=N): Lambda refuses a reservation that leaves ' +
          "the account fewer than 100 unreserved executions, so a default one could fail the deployment; the sweep's Map runs at most 2 prune batches at once.",
      );
    }
  }
}
