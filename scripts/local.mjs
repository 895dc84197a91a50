#!/usr/bin/env node
// Local runs of ebs-gens' state machines (aws-local-stepfunctions + cargo lambda watch).
//
//   node scripts/local.mjs demo                 whole system on an emulated fleet, with a report
//   node scripts/local.mjs sweep [--dry-run]    the sweep, against AWS_ENDPOINT_URL or your account
//   node scripts/local.mjs event FILE [--dry-run]  one EBS event JSON file through snapshot-completed
//
// `sweep` and `event` pass your AWS_* and EBS_GENS_* environment to the functions
// (EBS_GENS_ACCOUNT_ID is required; EBS_GENS_SNAPSHOT_ROLE_ARN for rule changes). With
// --dry-run every function runs with EBS_GENS_DRY_RUN=true: nothing is tagged, deleted or changed.
//
// Options of `sweep` and `event`:
//   --input JSON | --input-file FILE  the execution input (sweep: instead of {"dry_run": …};
//                                     event: instead of FILE)
//   --lambda-endpoint URL             use functions already served there (a `cargo lambda watch`
//                                     of your own; also EBS_GENS_LAMBDA_ENDPOINT) instead of
//                                     starting one; their environment is then yours to set, so
//                                     --dry-run is only accepted for a sweep whose input is
//                                     {"dry_run": true}
//   --retry-delay-ms N                the wait before each Retry attempt (default 1000)
//   --verbose                         each execution event on stderr
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { stateMachineFile } from '../local/contract.mjs';
import { runStateMachine } from '../local/runner.mjs';
import { startStack, startWatch } from '../local/stack.mjs';
import { BACKENDS, checkDemo, DEMO_REPORT, demoEnv, demoHeader, reportVerdict, runDemo } from './demo.mjs';

const SWEEP = stateMachineFile('sweep.asl.json');
const COMPLETED = stateMachineFile('snapshot-completed.asl.json');
const USAGE =
  'usage: local.mjs demo [--backend scheduler|rules] | sweep [--dry-run] | event FILE [--dry-run]\n' +
  '  sweep and event also take: [--input JSON | --input-file FILE] [--lambda-endpoint URL] [--retry-delay-ms N] [--verbose]';
const [cmd, ...rest] = process.argv.slice(2);
// Unknown flags are ignored, as they always were.
const { values: opts, positionals } = parseArgs({
  args: rest,
  strict: false,
  allowPositionals: true,
  options: {
    'dry-run': { type: 'boolean' },
    verbose: { type: 'boolean' },
    input: { type: 'string' },
    'input-file': { type: 'string' },
    'lambda-endpoint': { type: 'string' },
    'retry-delay-ms': { type: 'string' },
    backend: { type: 'string' },
  },
});
// `--dry-run=…` is refused rather than read either way.
if (opts['dry-run'] !== undefined && opts['dry-run'] !== true) {
  console.error('--dry-run takes no value');
  process.exit(2);
}
const dryRun = opts['dry-run'] === true;
// A flag is never an option's value (`--lambda-endpoint --dry-run` must not swallow --dry-run).
for (const k of ['input', 'input-file', 'lambda-endpoint', 'retry-delay-ms']) {
  if (typeof opts[k] === 'string' && opts[k].startsWith('--')) {
    console.error(`--${k} needs a value, not ${opts[k]}`);
    process.exit(2);
  }
}

function usage(message) {
  if (message) console.error(message);
  console.error(USAGE);
  process.exit(2);
}

/** The execution input given by --input or --input-file, or undefined. */
function inputOption() {
  const inline = typeof opts.input === 'string' ? opts.input : undefined;
  const file = typeof opts['input-file'] === 'string' ? opts['input-file'] : undefined;
  if (opts.input === true || opts['input-file'] === true) usage('--input and --input-file need a value');
  if (inline !== undefined && file !== undefined) usage('give --input or --input-file, not both');
  if (file !== undefined) return JSON.parse(readFileSync(file, 'utf8'));
  if (inline !== undefined) return JSON.parse(inline);
  return undefined;
}

/** An already running Lambda endpoint (--lambda-endpoint or EBS_GENS_LAMBDA_ENDPOINT), or undefined. */
function lambdaEndpoint() {
  if (opts['lambda-endpoint'] === true) usage('--lambda-endpoint needs a URL');
  return opts['lambda-endpoint'] ?? (process.env.EBS_GENS_LAMBDA_ENDPOINT || undefined);
}

function retryDelayMs() {
  if (opts['retry-delay-ms'] === undefined) return 1000;
  const n = Number(opts['retry-delay-ms']);
  if (!Number.isInteger(n) || n < 0) usage('--retry-delay-ms needs a whole number of milliseconds');
  return n;
}

/** runStateMachine options for `sweep` and `event`, but the endpoint (checked before anything starts). */
const runOptions = () => ({
  retryDelayMs: retryDelayMs(),
  onEvent: opts.verbose ? (ev) => console.error(`[${ev.type}] ${ev.state?.name ?? ''}`) : undefined,
});

function passthroughEnv() {
  const vars = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(AWS_|EBS_GENS_)/.test(k)) vars[k] = v;
  }
  if (!vars.EBS_GENS_ACCOUNT_ID) {
    console.error('EBS_GENS_ACCOUNT_ID must be set to the 12-digit account id of the fleet');
    process.exit(2);
  }
  if (dryRun) vars.EBS_GENS_DRY_RUN = 'true';
  return vars;
}

async function withWatch(fn) {
  const external = lambdaEndpoint();
  // Functions someone else serves keep their own environment (EBS_GENS_DRY_RUN included).
  if (external) return fn(external);
  const watch = await startWatch(passthroughEnv(), (line) => process.stderr.write(line));
  try {
    return await fn(watch.endpoint);
  } finally {
    watch.stop();
  }
}

function finish(name, r) {
  console.log(JSON.stringify(r.ok ? r.output : { error: r.error, cause: r.cause }, null, 2));
  const failedAttempts = r.invocations.filter((i) => i.error).length;
  console.error(
    `${name}: ${r.ok ? 'succeeded' : `FAILED (${r.error})`}; ${r.invocations.length} Lambda invocations, ${failedAttempts} failed attempts`,
  );
  process.exitCode = r.ok ? 0 : 1;
}

async function sweep() {
  const input = inputOption() ?? { dry_run: dryRun };
  if (dryRun && lambdaEndpoint() && input?.dry_run !== true) {
    usage(
      '--dry-run with --lambda-endpoint: the functions there run with their own environment, so the sweep input must be {"dry_run": true}',
    );
  }
  const options = runOptions();
  await withWatch(async (endpoint) => finish('sweep', await runStateMachine(SWEEP, input, { ...options, endpoint })));
}

async function event() {
  const given = inputOption();
  const file = positionals[0];
  if (given !== undefined && file !== undefined) usage('give the event as FILE or with --input/--input-file, not both');
  if (given === undefined && file === undefined) usage();
  if (dryRun && lambdaEndpoint()) {
    usage(
      '--dry-run with --lambda-endpoint: snapshot-completed has no dry-run input; serve the functions with EBS_GENS_DRY_RUN=true instead',
    );
  }
  const input = given ?? JSON.parse(readFileSync(file, 'utf8'));
  const options = runOptions();
  await withWatch(async (endpoint) => finish('snapshot-completed', await runStateMachine(COMPLETED, input, { ...options, endpoint })));
}

/** `make demo`: the whole system on the emulated fleet, reported as it runs, then checked (scripts/demo.mjs). */
async function demo() {
  const backend = opts.backend ?? 'scheduler';
  if (!BACKENDS.includes(backend)) usage(`--backend ${backend} is not scheduler or rules`);
  console.log(demoHeader(backend));
  const stack = await startStack({ env: demoEnv(backend) });
  let result;
  try {
    result = await runDemo(stack, backend, (step, r) => DEMO_REPORT[step](r));
  } finally {
    await stack.stop();
  }
  const failures = checkDemo(result);
  reportVerdict(failures);
  if (failures.length) process.exitCode = 1;
}

const commands = { demo, sweep, event };
if (!Object.hasOwn(commands, cmd ?? '')) usage();
await commands[cmd]();
