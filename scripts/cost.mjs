#!/usr/bin/env node
// `make cost`: what ebs-gens costs to run, per month per 1,000 volumes — measured on the local
// stack, then priced with scripts/prices.json.
//
// What is measured (moto + cargo lambda watch + aws-local-stepfunctions, as `make demo`):
// for each fleet policy, SAMPLE volumes in steady state (seeded history, a first sweep that creates
// the schedules and prunes), then the schedules fire (local/fleet.py, as Scheduler would), one
// snapshot-completed execution per new snapshot, and one more sweep. Per execution:
// - state transitions: the StateEntered and StateRetried events aws-local-stepfunctions emits
//   (Map iterations' states included) — what Step Functions bills a Standard workflow for;
// - Lambda invocations and their durations (the runner's invocation records, `.ms`);
// - the execution's wall time (an Express workflow's billed duration);
// - bytes logged: the functions' JSON log lines as cargo lambda watch prints them (captured through
//   startStack's `log` callback), and an estimate of Step Functions' ALL-with-execution-data log
//   built from the events' payload sizes (what `-c stateMachineLogLevel=ALL` would add).
// A second fleet one volume larger than a sweep page gives the sweep's transitions per page (250
// volumes) and per batch (100 volumes), and the per-page and per-volume costs of its functions.
//
// The tables price the stack as deployed with its defaults, read from contract.json's settings: Step
// Functions logging at level ERROR (with execution data) and no X-Ray tracing. The measured
// executions all succeed, and at ERROR or FATAL an execution that succeeds logs nothing (ERROR
// logs only error events, such as a failed or retried task's TaskFailed), so the default's Step
// Functions log is priced at 0 bytes; the levers table prices the opt-ins (level ALL, tracing).
//
// Local durations come from a debug build against an emulator on loopback: they are what was
// measured here, not a bound on what AWS will bill. Snapshot storage is left out: it is the same
// whichever tool takes the snapshots.
//
// Last, what a deployment pays a month before its first snapshot, whatever its size (fixedCost):
// the custom metrics published every sweep (contract.json metrics.always_emitted; every other
// metric is published only when non-zero, and a metric is billed only in hours it is published),
// the alarms, KMS keys and dashboards of the synthesized template. The target is ≤ $2 a month:
// the script fails when it is exceeded, or when a metric outside always_emitted is published at 0.
import { execFileSync } from 'node:child_process';
import { readFileSync, existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { CONTRACT, contractFunction, fn, stateMachineFile } from '../local/contract.mjs';
import { completionEvent } from '../local/fixtures.mjs';
import { runStateMachine } from '../local/runner.mjs';
import { startStack, ROOT } from '../local/stack.mjs';

const SWEEP = stateMachineFile('sweep.asl.json');
const COMPLETED = stateMachineFile('snapshot-completed.asl.json');
const PRUNE = fn('prune-volumes');
const DISCOVER = fn('discover-volumes');
const ENSURE = fn('ensure-schedules');

const PRICE_FILE = resolve(ROOT, 'scripts/prices.json');
const PRICES = JSON.parse(readFileSync(PRICE_FILE, 'utf8')).prices;
const price = (id) => {
  if (!PRICES[id]) throw new Error(`${PRICE_FILE} has no price ${id}`);
  return PRICES[id].value;
};

/** The sweep's page size, from its definition (FirstPage's page_size). */
const PAGE = JSON.parse(readFileSync(SWEEP, 'utf8')).States.FirstPage.Parameters.page_size;
const SAMPLE = Number(process.env.COST_SAMPLE_VOLUMES ?? 10);
const PER = 1000; // volumes the tables are for
const MONTH_HOURS = 720;
const SWEEPS_PER_MONTH = MONTH_HOURS; // the default sweepSchedule, rate(1 hour)
const GB = 1e9; // bytes; CloudWatch Logs ingestion (1e9 rather than 2^30: the larger estimate)

/**
 * What the stack deploys without -c stateMachineLogLevel / -c tracing: the defaults of contract.json's
 * settings table, which the CDK app deploys (cdk/lib/config.ts reads them from the same rows).
 */
export function deployedDefaults(contract = CONTRACT) {
  const byContext = (key) => {
    const row = (contract.settings ?? []).find((r) => r.context === key);
    if (typeof row?.default !== 'string') {
      throw new Error(
        `contract.json settings: no default for ${key}, the default this script prices (regenerate it with \`make contract\`)`,
      );
    }
    return row.default;
  };
  const sfnLogLevel = byContext('stateMachineLogLevel');
  if (!['ALL', 'ERROR', 'FATAL'].includes(sfnLogLevel)) {
    throw new Error(`contract.json settings: stateMachineLogLevel's default ${sfnLogLevel} is not a level this script prices`);
  }
  return { sfnLogLevel, tracing: byContext('tracing') === 'true' };
}
const DEPLOYED = deployedDefaults();
/** How the Step Functions log and tracing settings read in a label. */
const observabilityLabel = ({ sfnLogLevel, tracing }) =>
  `Step Functions logs ${sfnLogLevel} with execution data${sfnLogLevel === 'ALL' ? '' : ' (nothing of a successful execution)'}, ${tracing ? 'X-Ray tracing on' : 'no X-Ray tracing'}`;

const FLEETS = [
  { name: 'daily 7', tags: { Daily_Gens: '7' }, history: 8, everyHours: 24, perVolumeMonth: 30 },
  { name: 'daily 7 + weekly 4', tags: { Daily_Gens: '7', Weekly_Gens: '4' }, history: 35, everyHours: 24, perVolumeMonth: 30 },
  { name: 'hourly 24', tags: { Hourly_Gens: '24' }, history: 25, everyHours: 1, perVolumeMonth: MONTH_HOURS },
];

// --- Step Functions' execution log (level ALL, includeExecutionData), estimated ---------------
// One CloudWatch Logs event per history event: {"id","type","details":{…},"previous_event_id",
// "event_timestamp","execution_arn","redrive_count"}; the payloads inside `details` are JSON
// strings (escaped). ENVELOPE is that record without its payload (an ARN of ~100 characters).
const ENVELOPE = 260;
// A lambda:invoke TaskSucceeded carries the whole invocation result around the Payload
// (ExecutedVersion, SdkHttpMetadata with the response headers, SdkResponseMetadata, StatusCode).
const LAMBDA_RESULT_WRAPPER = 400;
const embedded = (v) => (v === undefined ? 0 : JSON.stringify(JSON.stringify(v ?? null)).length);
// Events Step Functions writes per state entry beyond Entered/Exited: a Map's MapStateStarted and
// MapStateSucceeded. A Task's TaskScheduled (its parameters: FunctionName and the Payload sent),
// TaskStarted and TaskSucceeded/TaskFailed (the raw result) are counted per invocation record,
// retries included.
const EXTRA_EVENTS = { Map: 2 };
const FUNCTION_ARN = 'arn:aws:lambda:us-east-1:123456789012:function:EbsGens-prod-FunctionsPruneVolumesXXXXXXXX-XXXXXXXXXXXX';

// --- the functions' logs, captured from cargo lambda watch's output ----------------------------
function logTap() {
  let buffer = '';
  let window = null;
  const metrics = new Set();
  // Metric/dimension combinations published with the value 0 at least once.
  const zeros = new Set();
  const line = (text) => {
    const t = text.trim();
    if (!t.startsWith('{')) return; // cargo lambda watch's own lines, not the function's
    let obj;
    try {
      obj = JSON.parse(t);
    } catch {
      return;
    }
    // A cargo lambda watch artefact printed at each process start: not a line Lambda would log.
    if (obj.fields?.message?.startsWith?.('AWS_LAMBDA_MAX_CONCURRENCY')) return;
    const directives = obj._aws?.CloudWatchMetrics ?? [];
    for (const d of directives) {
      for (const dims of d.Dimensions ?? []) {
        for (const m of d.Metrics ?? []) {
          const key = `${d.Namespace}|${m.Name}|${dims.map((k) => `${k}=${obj[k]}`).join(',')}`;
          metrics.add(key);
          if (obj[m.Name] === 0) zeros.add(key);
        }
      }
    }
    if (window) {
      window.lines += 1;
      window.bytes += Buffer.byteLength(t) + 1;
    }
  };
  return {
    feed(chunk) {
      buffer += chunk;
      for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
        line(buffer.slice(0, i));
        buffer = buffer.slice(i + 1);
      }
    },
    open() {
      window = { lines: 0, bytes: 0 };
    },
    async close() {
      await new Promise((r) => setTimeout(r, 150)); // the pipe may still hold the last lines
      const w = window;
      window = null;
      return w;
    },
    metrics,
    zeros,
  };
}

/**
 * What an execution's history adds up to, event by event (`onEvent`, aws-local-stepfunctions'
 * events): the state transitions Step Functions bills (entries and retries) and, per state, its
 * entries and the events and payload bytes of Step Functions' log at level ALL.
 */
function historyCounter() {
  const states = {};
  const st = (name) => {
    states[name] ??= { entered: 0, retried: 0, inMap: false, events: 0, payload: 0 };
    return states[name];
  };
  const counter = { states, st, transitions: 0 };
  counter.onEvent = (ev) => {
    const s = st(ev.state?.name ?? ev.parentState?.name ?? '(execution)');
    if (ev.index !== undefined && ev.state) s.inMap = true;
    if (ev.type === 'StateEntered' || ev.type === 'StateRetried') counter.transitions += 1;
    switch (ev.type) {
      case 'ExecutionStarted':
        s.events += 1;
        s.payload += embedded(ev.input);
        break;
      case 'ExecutionSucceeded':
        s.events += 1;
        s.payload += embedded(ev.output);
        break;
      case 'ExecutionFailed':
        s.events += 1;
        s.payload += String(ev.Error ?? '').length + String(ev.Cause ?? '').length;
        break;
      case 'StateEntered':
        s.entered += 1;
        s.events += 1 + (EXTRA_EVENTS[ev.state.type] ?? 0);
        s.payload += embedded(ev.state.input);
        break;
      case 'StateRetried':
        s.retried += 1;
        break;
      case 'StateExited':
        s.events += 1;
        s.payload += embedded(ev.state.output);
        break;
      case 'StateFailed':
        if (ev.state.type === 'Task') break; // TaskFailed: counted from the invocation record
        s.events += 1;
        s.payload += String(ev.Cause ?? '').length;
        break;
      case 'MapIterationStarted':
      case 'MapIterationSucceeded':
      case 'MapIterationFailed':
        s.events += 1;
        break;
      default:
        break;
    }
  };
  return counter;
}

/** One execution, measured: its result, wall time, transitions, states, function log and Step Functions log estimate. */
async function measure(stack, tap, file, input) {
  const history = historyCounter();
  tap.open();
  const t0 = performance.now();
  const r = await runStateMachine(file, input, { endpoint: stack.lambdaEndpoint, retryDelayMs: 0, onEvent: history.onEvent });
  const wallMs = performance.now() - t0;
  const lambdaLog = await tap.close();
  for (const inv of r.invocations) {
    const s = history.st(inv.state);
    s.events += 3; // TaskScheduled (parameters), TaskStarted, TaskSucceeded / TaskFailed (raw result)
    s.payload += embedded({ FunctionName: FUNCTION_ARN, Payload: inv.input });
    s.payload += inv.output ? embedded(inv.output) + LAMBDA_RESULT_WRAPPER : 200;
  }
  const { states, transitions } = history;
  const sfnLogEvents = Object.values(states).reduce((n, s) => n + s.events, 0);
  const sfnLogBytes = Object.values(states).reduce((n, s) => n + s.events * ENVELOPE + s.payload, 0);
  return { ...r, wallMs, transitions, states, lambdaLog, sfnLogEvents, sfnLogBytes };
}

const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
const sum = (xs) => xs.reduce((a, b) => a + b, 0);
/** Least-squares line through points [x, y]: { a (intercept), b (slope) }. */
function fit(points) {
  const mx = mean(points.map((p) => p[0]));
  const my = mean(points.map((p) => p[1]));
  const sxx = sum(points.map(([x]) => (x - mx) ** 2));
  const b = sxx ? sum(points.map(([x, y]) => (x - mx) * (y - my))) / sxx : 0;
  return { a: my - b * mx, b };
}

function check(cond, message) {
  if (!cond) throw new Error(message);
}

async function runFleet(stack, tap, fleet, volumes) {
  await stack.reset();
  stack.fleet('create-group');
  const tags = Object.entries(fleet.tags).flatMap(([k, v]) => ['--tag', `${k}=${v}`]);
  stack.fleet(
    'seed-fleet',
    '--volumes',
    String(volumes),
    ...tags,
    '--history',
    String(fleet.history),
    '--every-hours',
    String(fleet.everyHours),
  );
  // The first sweep creates the schedules and prunes the seeded history down to the policy: a
  // bulk deletion the fuse would hold, acknowledged as an operator does once after the first
  // deploy onto old history (`ebs-gens sweep --remote --apply --allow-bulk-delete`).
  const first = await measure(stack, tap, SWEEP, { dry_run: false, allow_bulk_delete: true });
  check(first.ok, `${fleet.name}: first sweep failed: ${first.error}: ${first.cause}`);
  const fired = stack.fleet('fire-schedules');
  check(fired.length === volumes, `${fleet.name}: ${fired.length} schedules fired for ${volumes} volumes`);
  const completions = [];
  for (const f of fired) {
    const c = await measure(stack, tap, COMPLETED, completionEvent(f.snapshot, f.volume));
    check(c.ok, `${fleet.name}: snapshot-completed failed: ${c.error}: ${c.cause}`);
    check(
      c.output.tag.results.every((x) => x.action === 'already-ours'),
      `${fleet.name}: a scheduled snapshot needed adoption`,
    );
    completions.push(c);
  }
  const sweep = await measure(stack, tap, SWEEP, { dry_run: false });
  check(sweep.ok, `${fleet.name}: sweep failed: ${sweep.error}: ${sweep.cause}`);
  check(sweep.output.summary.volumes === volumes, `${fleet.name}: the sweep saw ${sweep.output.summary.volumes} volumes`);
  endsAtN(stack, fleet);
  const again = await measure(stack, tap, SWEEP, { dry_run: true });
  check(
    again.ok && again.output.summary.deleted === 0,
    `${fleet.name}: the fleet did not converge: a dry run would still delete ${again.output?.summary?.deleted}`,
  );
  return { fleet, volumes, first, completions, sweep };
}

/**
 * The measured runs must also be right, not only cheap: every volume ends with at least the
 * finest class's N snapshots of ours and at most the policy's sum, and a dry run plans nothing
 * more to delete (the fleet converged).
 */
function endsAtN(stack, fleet) {
  const counts = Object.values(fleet.tags).map(Number);
  const finest = counts[0];
  const budget = sum(counts);
  const state = stack.fleet('state');
  for (const [vol, snaps] of Object.entries(state.snapshots)) {
    const ours = snaps.filter((x) => x.tags['ebs-gens:managed-by'] === 'demo').length;
    check(ours >= finest, `${fleet.name}: ${vol} ended with ${ours} snapshots of ours, below N=${finest}`);
    check(ours <= budget, `${fleet.name}: ${vol} ended with ${ours} snapshots of ours, over the policy's ${budget}`);
  }
}

// --- the model --------------------------------------------------------------------------------
const memoryGb = (name) => contractFunction(name).memory_mb / 1024;
const gbSeconds = (invocations) => sum(invocations.map((i) => (i.ms / 1000) * memoryGb(i.function)));

/** Pages and prune batches of a sweep over `v` volumes. */
function shape(v, batch) {
  const pages = Math.max(1, Math.ceil(v / PAGE));
  let batches = 0;
  for (let left = v; left > 0; left -= PAGE) batches += Math.ceil(Math.min(left, PAGE) / batch);
  return { pages, batches: Math.max(batches, v > 0 ? 1 : 0) };
}

/**
 * How each sweep state's entries grow, from two measured sweeps with different page and batch
 * counts: a state inside the Map is entered once per batch; any other state α + β·pages.
 */
function sweepStateModel(small, large) {
  const model = {};
  const names = new Set([...Object.keys(small.run.states), ...Object.keys(large.run.states)]);
  for (const name of names) {
    const s = small.run.states[name] ?? { entered: 0, retried: 0, events: 0, payload: 0, inMap: false };
    const l = large.run.states[name] ?? { entered: 0, retried: 0, events: 0, payload: 0, inMap: false };
    const inMap = s.inMap || l.inMap;
    const per = (key) => {
      if (inMap) return { fixed: 0, perPage: 0, perBatch: l[key] / large.batches };
      const beta = (l[key] - s[key]) / (large.pages - small.pages);
      return { fixed: s[key] - beta * small.pages, perPage: beta, perBatch: 0 };
    };
    model[name] = { inMap, entered: per('entered'), events: per('events') };
  }
  return model;
}
const at = (m, pages, batches) => m.fixed + m.perPage * pages + m.perBatch * batches;

function money(x) {
  if (x === 0) return '$0';
  if (x < 0.0001) return `$${x.toExponential(1)}`;
  if (x < 0.01) return `$${x.toFixed(4)}`;
  return `$${x.toFixed(3)}`;
}

/**
 * Step Functions' execution log bytes a month: the ALL-with-data estimate at level ALL; at ERROR and
 * FATAL none, since every measured execution succeeded (see the head of this file).
 */
const sfnLogBytes = (u) => (u.sfnLogLevel === 'ALL' ? u.completedSfnAllLogBytes + u.sweepSfnAllLogBytes : 0);

/** Usage per month → cost per service. */
function costOf(u, { completedStandard = false } = {}) {
  const sfnCompleted = completedStandard
    ? u.completedTransitions * price('sfn_standard_transition')
    : u.executions * price('sfn_express_request') + u.expressGbS * price('sfn_express_gb_second');
  const sfnSweep = u.sweepTransitions * price('sfn_standard_transition');
  const lambda =
    (u.completedLambdaRequests + u.sweepLambdaRequests) * price('lambda_request') +
    (u.completedLambdaGbS + u.sweepLambdaGbS) * price('lambda_arm_gb_second');
  const scheduler = u.scheduler * price('scheduler_invocation');
  const logBytes = sfnLogBytes(u) + u.completedLambdaLogBytes + u.sweepLambdaLogBytes;
  const logs = (logBytes / GB) * price('cloudwatch_logs_ingest_gb');
  const xray = u.tracing ? (u.executions + u.sweeps) * price('xray_trace_recorded') : 0;
  // The same after the monthly free tiers, as if nothing else in the account used them.
  const free = (x, f) => Math.max(0, x - price(f));
  const standardTransitions = u.sweepTransitions + (completedStandard ? u.completedTransitions : 0);
  const afterFree =
    (completedStandard ? 0 : sfnCompleted) +
    free(standardTransitions, 'sfn_standard_free_transitions') * price('sfn_standard_transition') +
    free(u.completedLambdaRequests + u.sweepLambdaRequests, 'lambda_free_requests') * price('lambda_request') +
    free(u.completedLambdaGbS + u.sweepLambdaGbS, 'lambda_free_gb_seconds') * price('lambda_arm_gb_second') +
    free(u.scheduler, 'scheduler_free_invocations') * price('scheduler_invocation') +
    logs +
    (u.tracing ? free(u.executions + u.sweeps, 'xray_free_traces') * price('xray_trace_recorded') : 0);
  return {
    sfnCompleted,
    sfnSweep,
    lambda,
    scheduler,
    logs,
    xray,
    total: sfnCompleted + sfnSweep + lambda + scheduler + logs + xray,
    afterFree,
  };
}

/** The same usage with the sweep run `runs` times a month instead. */
function sweepEvery(u, runs) {
  const k = runs / u.sweeps;
  return {
    ...u,
    sweeps: runs,
    sweepTransitions: u.sweepTransitions * k,
    sweepLambdaRequests: u.sweepLambdaRequests * k,
    sweepLambdaGbS: u.sweepLambdaGbS * k,
    sweepSfnAllLogBytes: u.sweepSfnAllLogBytes * k,
    sweepLambdaLogBytes: u.sweepLambdaLogBytes * k,
  };
}

// --- run: the measurements -----------------------------------------------------------------------

/**
 * A sweep over `volumes` fresh volumes (Daily_Gens=7, one snapshot each), measured after a first
 * sweep that creates their schedules.
 */
async function measureSweep(stack, tap, label, volumes) {
  await stack.reset();
  stack.fleet('create-group');
  stack.fleet('seed-fleet', '--volumes', String(volumes), '--tag', 'Daily_Gens=7', '--history', '1');
  const warm = await measure(stack, tap, SWEEP, { dry_run: false });
  check(warm.ok, `${label}: first sweep failed: ${warm.error}: ${warm.cause}`);
  const run = await measure(stack, tap, SWEEP, { dry_run: false });
  check(run.ok, `${label}: sweep failed: ${run.error}: ${run.cause}`);
  check(run.output.summary.volumes === volumes, `${label}: the sweep saw ${run.output.summary.volumes} volumes`);
  return { volumes, run };
}

/**
 * Everything measured on one local stack: each fleet policy (runFleet); a sweep one volume larger
 * than a page (two pages, and batches of 100, 100, 50 and 1), the second point of the sweep model;
 * and a held-out sweep of a shape neither fitted sweep has (one page, three batches), to test the
 * model on a run it was not fitted on.
 */
async function measureAll(tap) {
  const env = { EBS_GENS_BACKEND: 'scheduler', AWS_LAMBDA_LOG_FORMAT: 'JSON', AWS_LAMBDA_LOG_LEVEL: 'INFO' };
  const stack = await startStack({ env, log: (s) => tap.feed(s) });
  try {
    const runs = [];
    for (const fleet of FLEETS) {
      process.stderr.write(`measuring ${fleet.name} (${SAMPLE} volumes)…\n`);
      runs.push(await runFleet(stack, tap, fleet, SAMPLE));
    }
    process.stderr.write(`measuring the sweep over ${PAGE + 1} volumes…\n`);
    const scale = await measureSweep(stack, tap, 'scale', PAGE + 1);
    const heldOutVolumes = 2 * 100 + 1;
    process.stderr.write(`measuring a held-out sweep over ${heldOutVolumes} volumes…\n`);
    const heldOut = await measureSweep(stack, tap, 'held-out', heldOutVolumes);
    return { runs, scale, heldOut };
  } finally {
    await stack.stop();
  }
}

// --- the sweep model, fitted on the measurements ---------------------------------------------------

/**
 * A measured sweep's shape: pages = Discover entries, batches = Map iterations, batch size = the
 * largest batch discover-volumes returned.
 */
function shapeOf(r, volumes) {
  const discovers = r.invocations.filter((i) => i.state === 'Discover' && i.output);
  const batchSize = Math.max(...discovers.flatMap((i) => i.output.batches.map((b) => b.volumes.length)));
  return { run: r, volumes, pages: r.states.Discover.entered, batches: r.states.PruneBatch?.entered ?? 0, batchSize, discovers };
}

/**
 * Per-function sweep durations. ensure-schedules: a + b·volumes (both sweeps); discover-volumes, per
 * page call: c + d·volumes in the page (the large sweep's two pages), plus the final fold;
 * prune-volumes, per batch: e (per call, from the large sweep's batches) + f·volumes, f per fleet
 * (priceFleet).
 */
function fitDurations(small, large) {
  return {
    ensure: fit([small, large].map((s) => [s.volumes, s.run.invocations.find((i) => i.function === ENSURE).ms])),
    discover: fit(large.discovers.map((i) => [i.output.managed, i.ms])),
    foldMs: mean([small, large].flatMap((s) => s.run.invocations.filter((i) => i.state === 'Summarize').map((i) => i.ms))),
    prune: fit(large.run.invocations.filter((i) => i.function === PRUNE && i.output).map((i) => [i.output.volumes.length, i.ms])),
  };
}

/**
 * The sweep's transitions as fixed + per page + per batch, fitted on the first fleet's sweep and
 * the two-page one, and checked on both and on the held-out sweep; the durations (fitDurations).
 */
function sweepModel({ runs, scale, heldOut }) {
  const small = shapeOf(runs[0].sweep, SAMPLE);
  const large = shapeOf(scale.run, scale.volumes);
  check(large.pages === 2, `the ${scale.volumes}-volume sweep ran ${large.pages} pages (expected 2: is moto paginating DescribeVolumes?)`);
  const states = sweepStateModel(small, large);
  const transitions = {
    fixed: sum(Object.values(states).map((m) => m.entered.fixed)),
    perPage: sum(Object.values(states).map((m) => m.entered.perPage)),
    perBatch: sum(Object.values(states).map((m) => m.entered.perBatch)),
  };
  const predicted = (s) => transitions.fixed + transitions.perPage * s.pages + transitions.perBatch * s.batches;
  for (const s of [small, large]) {
    check(
      Math.abs(predicted(s) - s.run.transitions) < 1e-6,
      `the transition model predicts ${predicted(s)} for a sweep that made ${s.run.transitions}`,
    );
  }
  // The model on the run it was not fitted on.
  const held = shapeOf(heldOut.run, heldOut.volumes);
  check(
    held.pages === 1 && held.batches === 3,
    `the held-out sweep ran ${held.pages} pages and ${held.batches} batches (expected 1 and 3)`,
  );
  check(
    Math.abs(predicted(held) - held.run.transitions) < 1e-6,
    `the transition model predicts ${predicted(held)} for the held-out sweep, which made ${held.run.transitions}`,
  );
  const batch = large.batchSize;
  return { small, large, held, batch, per1000: shape(PER, batch), states, transitions, predicted, durations: fitDurations(small, large) };
}

// --- price: usage and cost per month per 1,000 volumes ---------------------------------------------

/** snapshot-completed, per execution: the mean of the fleet's measured completions. */
function perCompletion(completions) {
  const platformLog = price('lambda_platform_log_bytes');
  const eventOverhead = price('cloudwatch_logs_event_overhead_bytes');
  const c = completions;
  const wall = mean(c.map((x) => x.wallMs));
  const expressBilledS = (Math.ceil(wall / price('sfn_express_duration_step_ms')) * price('sfn_express_duration_step_ms')) / 1000;
  return {
    transitions: mean(c.map((x) => x.transitions)),
    wall,
    expressBilledS,
    expressGbS: expressBilledS * (price('sfn_express_memory_chunk_mb') / 1024),
    invocations: mean(c.map((x) => x.invocations.length)),
    gbS: mean(c.map((x) => gbSeconds(x.invocations))),
    lambdaLogBytes: mean(
      c.map((x) => x.lambdaLog.bytes + x.lambdaLog.lines * eventOverhead + x.invocations.length * (platformLog + eventOverhead)),
    ),
    sfnLogBytes: mean(c.map((x) => x.sfnLogBytes + x.sfnLogEvents * eventOverhead)),
  };
}

/** One sweep over PER volumes of this fleet: the model's transitions and durations, and the logs. */
function perSweep(r, m) {
  const platformLog = price('lambda_platform_log_bytes');
  const eventOverhead = price('cloudwatch_logs_event_overhead_bytes');
  const { small, large, durations: d } = m;
  const sh = shape(PER, m.batch);
  const pruneRecords = r.sweep.invocations.filter((i) => i.function === PRUNE && i.output);
  const prunePerVolume = Math.max(0, (sum(pruneRecords.map((i) => i.ms)) - pruneRecords.length * d.prune.a) / SAMPLE);
  // ensure-schedules once, discover-volumes per page and for the fold, prune-volumes per batch.
  const invocations = 1 + (sh.pages + 1) + sh.batches;
  const ms = {
    [ENSURE]: Math.max(0, d.ensure.a + d.ensure.b * PER),
    [DISCOVER]: sh.pages * d.discover.a + d.discover.b * PER + d.foldMs,
    [PRUNE]: sh.batches * d.prune.a + prunePerVolume * PER,
  };
  // Step Functions log of one sweep: an envelope per event (events grow like transitions) plus
  // the payloads, which grow with the volumes — per volume from this fleet's own sweep (its
  // prune results carry the policy's kept lists), the fixed part from the two-sweep fit.
  const events = sum(Object.values(m.states).map((x) => at(x.events, sh.pages, sh.batches)));
  const payloadOf = (run) => sum(Object.values(run.states).map((x) => x.payload));
  const payloadFit = fit([
    [SAMPLE, payloadOf(small.run)],
    [large.volumes, payloadOf(large.run)],
  ]);
  const fleetPayloadPerVolume = (payloadOf(r.sweep) - payloadFit.a) / SAMPLE;
  const lf = fit([
    [SAMPLE, r.sweep.lambdaLog.bytes],
    [large.volumes, large.run.lambdaLog.bytes],
  ]);
  const bytesPerLine = r.sweep.lambdaLog.lines ? r.sweep.lambdaLog.bytes / r.sweep.lambdaLog.lines : 300;
  const lambdaBytes = Math.max(0, lf.a + lf.b * PER);
  return {
    shape: sh,
    transitions: m.predicted(sh),
    invocations,
    ms,
    gbS: sum(Object.entries(ms).map(([f, x]) => (x / 1000) * memoryGb(f))),
    sfnLogBytes: events * (ENVELOPE + eventOverhead) + payloadFit.a + Math.max(payloadFit.b, fleetPayloadPerVolume) * PER,
    lambdaLogBytes: lambdaBytes + (lambdaBytes / bytesPerLine) * eventOverhead + invocations * (platformLog + eventOverhead),
  };
}

/** A month's usage for PER volumes of the fleet: one snapshot-completed per snapshot taken, hourly sweeps. */
function monthlyUsage(fleet, c, s) {
  const executions = PER * fleet.perVolumeMonth;
  return {
    executions,
    expressGbS: executions * c.expressGbS,
    completedTransitions: executions * c.transitions,
    completedLambdaRequests: executions * c.invocations,
    completedLambdaGbS: executions * c.gbS,
    // Step Functions' log at level ALL (estimated); counted only when sfnLogLevel is ALL (sfnLogBytes).
    completedSfnAllLogBytes: executions * c.sfnLogBytes,
    completedLambdaLogBytes: executions * c.lambdaLogBytes,
    sweeps: SWEEPS_PER_MONTH,
    sweepTransitions: SWEEPS_PER_MONTH * s.transitions,
    sweepLambdaRequests: SWEEPS_PER_MONTH * s.invocations,
    sweepLambdaGbS: SWEEPS_PER_MONTH * s.gbS,
    sweepSfnAllLogBytes: SWEEPS_PER_MONTH * s.sfnLogBytes,
    sweepLambdaLogBytes: SWEEPS_PER_MONTH * s.lambdaLogBytes,
    scheduler: executions, // one schedule invocation per snapshot taken
    // As deployed by default (contract.json settings); the levers price the other settings.
    sfnLogLevel: DEPLOYED.sfnLogLevel,
    tracing: DEPLOYED.tracing,
  };
}

/** One row of the tables: the fleet's usage a month, priced with snapshot-completed as Express and as Standard. */
function priceFleet(r, m) {
  const completion = perCompletion(r.completions);
  const sweep = perSweep(r, m);
  const usage = monthlyUsage(r.fleet, completion, sweep);
  return { r, usage, completion, sweep, express: costOf(usage), standard: costOf(usage, { completedStandard: true }) };
}

// --- report --------------------------------------------------------------------------------------------

/** What was measured: the sweep's transition model and each fleet's executions. */
function reportMeasured({ runs }, m) {
  const { small, large, held, transitions: t, durations: d } = m;
  console.log('## Measured');
  console.log(
    `Sweep state transitions: ${fmt(t.fixed)} per sweep + ${fmt(t.perPage)} per page of ${PAGE} volumes + ${fmt(t.perBatch)} per batch of ${m.batch} volumes`,
  );
  console.log(
    `  (from a ${small.volumes}-volume sweep: ${small.pages} page, ${small.batches} batch, ${small.run.transitions} transitions; and a ${large.volumes}-volume sweep: ${large.pages} pages, ${large.batches} batches, ${large.run.transitions} transitions; checked on a held-out ${held.volumes}-volume sweep: ${held.pages} page, ${held.batches} batches, ${held.run.transitions} transitions, predicted ${fmt(m.predicted(held))})`,
  );
  console.log(
    `  a sweep over ${PER} volumes: ${m.per1000.pages} pages, ${m.per1000.batches} batches, ${fmt(m.predicted(m.per1000))} transitions\n`,
  );
  console.log(
    `| fleet (per execution, measured) | snapshot-completed: transitions | wall ms | Lambda ms (tag + prune) | function log bytes | Step Functions log bytes (est., level ALL) | sweep of ${SAMPLE} volumes: transitions | Lambda ms | function log bytes | Step Functions log bytes (est., level ALL) |`,
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const lambdaMs = (x) => sum(x.invocations.map((i) => i.ms));
  for (const r of runs) {
    const c = r.completions;
    const completed = [(x) => x.transitions, (x) => x.wallMs, lambdaMs, (x) => x.lambdaLog.bytes, (x) => x.sfnLogBytes].map((f) =>
      fmt(mean(c.map(f))),
    );
    console.log(
      `| ${r.fleet.name} | ${completed.join(' | ')} | ${r.sweep.transitions} | ${fmt(lambdaMs(r.sweep))} | ${r.sweep.lambdaLog.bytes} | ${fmt(r.sweep.sfnLogBytes)} |`,
    );
  }
  console.log(
    `| sweep of ${large.volumes} volumes (daily 7) | | | | | | ${large.run.transitions} | ${fmt(lambdaMs(large.run))} | ${large.run.lambdaLog.bytes} | ${fmt(large.run.sfnLogBytes)} |`,
  );
  console.log(
    `\nSweep Lambda durations fitted: ${ENSURE} ${fmt(d.ensure.a)} ms + ${d.ensure.b.toFixed(2)} ms/volume; discover-volumes ${fmt(d.discover.a)} ms + ${d.discover.b.toFixed(2)} ms/volume per page, fold ${fmt(d.foldMs)} ms; prune-volumes ${fmt(d.prune.a)} ms per batch + per volume as measured per fleet.`,
  );
  console.log(
    'Durations are wall times of a debug build against moto on loopback, through cargo lambda watch: as measured here, not a bound on what AWS bills.\n',
  );
}

/** The tables per month per PER volumes (Express, then Standard), and how their rows were built. */
function reportMonthly(rows, m) {
  console.log(`## Per month per ${PER.toLocaleString('en-US')} volumes (list prices, us-east-1, no free tier)`);
  console.log(
    `snapshot-completed runs once per snapshot taken; the sweep runs hourly (${SWEEPS_PER_MONTH} a month) over the ${PER} volumes (${m.per1000.pages} pages, ${m.per1000.batches} batches). As deployed by default: ${observabilityLabel(DEPLOYED)} (the levers below price the opt-ins). Snapshot storage is left out: it is the same whichever tool takes the snapshots.\n`,
  );
  const header =
    '| fleet | snapshots / month | Step Functions: snapshot-completed | Step Functions: sweep (Standard) | Lambda | Scheduler | CloudWatch Logs | X-Ray (≤) | total | total after free tiers¹ |';
  const tables = [
    ['snapshot-completed as Express (the stack)', 'express'],
    ['snapshot-completed as Standard (for comparison)', 'standard'],
  ];
  for (const [title, key] of tables) {
    console.log(`### ${title}\n`);
    console.log(header);
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const row of rows) {
      const c = row[key];
      const parts = [c.sfnCompleted, c.sfnSweep, c.lambda, c.scheduler, c.logs, c.xray].map(money);
      console.log(
        `| ${row.r.fleet.name} | ${row.usage.scheduler.toLocaleString('en-US')} | ${parts.join(' | ')} | **${money(c.total)}** | ${money(c.afterFree)} |`,
      );
    }
    console.log('');
  }
  console.log(
    '¹ the monthly free tiers (Standard transitions, Lambda, Scheduler, X-Ray) applied as if nothing else in the account used them; Express and CloudWatch Logs ingestion have none here.\n',
  );
  reportHowBuilt(rows[0]);
}

/** How the rows were built, on the first fleet's (daily 7). */
function reportHowBuilt({ r, completion: c, sweep: s }) {
  const sfnLog =
    DEPLOYED.sfnLogLevel === 'ALL'
      ? 'at level ALL with data estimated from payload sizes'
      : `at level ${DEPLOYED.sfnLogLevel}: none, the measured executions all succeeded (a failed or retried task would add its error events); at level ALL estimated from payload sizes (levers)`;
  const xray = DEPLOYED.tracing
    ? 'one trace per execution (the state machines are traced)'
    : 'off by default, so $0 in the tables; with `-c tracing=true` one trace per execution (levers)';
  console.log('How the rows were built (daily 7):');
  console.log(
    `- snapshot-completed: ${fmt(c.transitions)} transitions, ${fmt(c.wall)} ms wall (Express: billed ${c.expressBilledS.toFixed(1)} s × one 64 MB chunk — its definition and payloads are a few KB), ${fmt(r.completions[0].invocations.length)} Lambda invocations, ~${fmt(c.lambdaLogBytes)} log bytes per execution (the functions'; Step Functions' log at level ALL would add ~${fmt(c.sfnLogBytes)})`,
  );
  const lambda = Object.entries(s.ms).map(([f, ms]) => `${f} ${fmt(ms)} ms`);
  console.log(
    `- sweep over ${PER} volumes: ${fmt(s.transitions)} transitions; Lambda ${lambda.join(', ')}; logs ~${fmt(s.lambdaLogBytes)} bytes (functions) per sweep (Step Functions' log at level ALL would add ~${fmt(s.sfnLogBytes)})`,
  );
  console.log(
    `- Lambda GB-s = measured duration × memory_mb from contract.json (${CONTRACT.functions.map((f) => `${f.name} ${f.memory_mb} MB`).join(', ')})`,
  );
  console.log(
    `- logs: functions' JSON lines as measured + ${price('lambda_platform_log_bytes')} bytes of platform records per invocation (estimate) + ${price('cloudwatch_logs_event_overhead_bytes')} bytes per log event; Step Functions' log ${sfnLog}`,
  );
  console.log(`- X-Ray: ${xray}; an upper bound — the default sampling rule records 1 request a second plus 5 % of the rest`);
  console.log(
    "- EventBridge: the EBS completion events and their rule are free (AWS service events); the sweep's scheduled rule costs nothing measurable\n",
  );
}

/**
 * What dominates the variable cost, and what the levers would do, from the same measurements (no
 * target: below the per-snapshot floor it is not this design's to meet; the fixed cost has one).
 */
function reportVariable(rows) {
  const daily = rows[0].express;
  const parts = [
    ['Step Functions (snapshot-completed)', daily.sfnCompleted],
    ['Step Functions (sweep)', daily.sfnSweep],
    ['Lambda', daily.lambda],
    ['Scheduler', daily.scheduler],
    ['CloudWatch Logs', daily.logs],
    ['X-Ray', daily.xray],
  ].sort((a, b) => b[1] - a[1]);
  const largest = parts.slice(0, 3).map(([n, v]) => `${n} ${money(v)} (${Math.round((100 * v) / daily.total)} %)`);
  console.log(`## Variable cost per ${PER.toLocaleString('en-US')} daily volumes per month`);
  console.log(
    `${money(daily.total)} for daily 7 at list prices (${money(daily.afterFree)} after the free tiers). Largest parts: ${largest.join(', ')}.`,
  );
  console.log('\nLevers (daily 7, the same measurements):\n');
  console.log(`| change | total per ${PER.toLocaleString('en-US')} volumes / month | after free tiers¹ |`);
  console.log('|---|---:|---:|');
  for (const [label, u] of levers(rows[0].usage)) console.log(`| ${label} | ${money(costOf(u).total)} | ${money(costOf(u).afterFree)} |`);
}

/** The deployed defaults, then each with one setting changed (or two, said so): [label, usage]. */
function levers(base) {
  const all = base.sfnLogLevel === 'ALL';
  const rows = [
    [`as deployed: sweep hourly, ${observabilityLabel(base)}`, base],
    ['sweep every 6 hours (`-c sweepSchedule="rate(6 hours)"`)', sweepEvery(base, MONTH_HOURS / 6)],
    ['sweep daily (`-c sweepSchedule="rate(1 day)"`)', sweepEvery(base, 30)],
    all
      ? [
          'Step Functions logs ERROR (`-c stateMachineLogLevel=ERROR`): error events only, with their data',
          { ...base, sfnLogLevel: 'ERROR' },
        ]
      : [
          "with Step Functions logs ALL (`-c stateMachineLogLevel=ALL`): every execution's full history, with data",
          { ...base, sfnLogLevel: 'ALL' },
        ],
    base.tracing
      ? ['without X-Ray tracing (`-c tracing=false`)', { ...base, tracing: false }]
      : ['with X-Ray tracing (`-c tracing=true`)', { ...base, tracing: true }],
  ];
  if (!all && !base.tracing) {
    rows.push([
      'with both (`-c stateMachineLogLevel=ALL -c tracing=true`): the full history and traces',
      { ...base, sfnLogLevel: 'ALL', tracing: true },
    ]);
  }
  return rows;
}

function reportFreeTiers(u) {
  const n = (id) => price(id).toLocaleString('en-US');
  console.log(
    `\nFree tiers (per account and month, shared with everything else in it; not applied above): Step Functions Standard ${n('sfn_standard_free_transitions')} transitions (daily 7 uses ${fmt(u.sweepTransitions)} for the sweep), Lambda ${n('lambda_free_requests')} requests and ${n('lambda_free_gb_seconds')} GB-s (daily 7 uses ${fmt(u.completedLambdaRequests + u.sweepLambdaRequests)} and ${fmt(u.completedLambdaGbS + u.sweepLambdaGbS)}), Scheduler ${n('scheduler_free_invocations')} invocations, X-Ray ${n('xray_free_traces')} traces. Express has none.`,
  );
}

/** The fixed cost per deployment, whatever the fleet size; fails the run when it misses its target. */
function reportFixedCost(tap) {
  const { file, template } = deployedTemplate();
  const fixed = fixedCost({ metricsSeen: tap.metrics, zerosSeen: tap.zeros, template });
  console.log(`\n## Fixed per deployment per month, before any snapshot (not in the tables; template ${file})\n`);
  console.log(renderFixed(fixed));
  if (!fixed.ok) process.exitCode = 1;
  const unverified = Object.entries(PRICES)
    .filter(([, p]) => p.status !== 'verified')
    .map(([k]) => k);
  console.log(`\nPrices not confirmed on a stored AWS page (see scripts/prices.json): ${unverified.join(', ')}.`);
}

// --- copies in another region (a model, not a measurement) -----------------------------------
/** A class's period in days (a month as 365.25 / 12). */
const PERIOD_DAYS = { hourly: 1 / 24, daily: 1, weekly: 7, monthly: 365.25 / 12 };

/**
 * What copying costs a month per volume, from the rules `CLASS:REGION=N` (one region), the data
 * written on a volume (GiB) and the share of it changed a day. AWS bills a copy as the data
 * transferred between regions plus the destination's standard snapshot storage; the first copy
 * is full, later ones carry the blocks changed since the previous copy (only while that copy is
 * still there, which ebs-gens never deletes). Changes are taken as distinct blocks (no block
 * changed twice between copies): an upper bound, capped at the whole volume per copy.
 * GiB are priced as the GB of AWS's price pages (EBS bills GB-months of 2^30 bytes).
 * - copies a month: the finest copied class's (a coarser rule's generation is one of them, never
 *   copied twice);
 * - destination storage: one full copy plus the changes across the span the copies kept there
 *   cover — the longest rule's (N − 1) periods, plus half a coarser period while its period is
 *   open when a finer class is copied too.
 */
export function copyCost(rules, { gib, dailyChange, priceOf = price }) {
  if (!rules.length) throw new Error('copyCost: no copy rule');
  for (const r of rules) {
    if (!PERIOD_DAYS[r.class] || !(Number.isInteger(r.keep) && r.keep >= 1)) throw new Error(`copyCost: bad rule ${JSON.stringify(r)}`);
  }
  if (!(gib > 0) || !(dailyChange >= 0 && dailyChange <= 1))
    throw new Error(`copyCost: gib > 0 and 0 <= dailyChange <= 1 (got ${gib}, ${dailyChange})`);
  const interval = Math.min(...rules.map((r) => PERIOD_DAYS[r.class]));
  const perCopy = Math.min(1, dailyChange * interval) * gib; // GiB carried by an incremental copy
  const copiesPerMonth = PERIOD_DAYS.monthly / interval;
  const coarsest = Math.max(...rules.map((r) => PERIOD_DAYS[r.class]));
  const span = Math.max(...rules.map((r) => (r.keep - 1) * PERIOD_DAYS[r.class])) + (coarsest > interval ? coarsest / 2 : 0);
  const storedGib = gib + (span / interval) * perCopy;
  const transferGib = copiesPerMonth * perCopy;
  return {
    copiesPerMonth,
    transferGib,
    storedGib,
    transfer: transferGib * priceOf('inter_region_transfer_gb'),
    storage: storedGib * priceOf('ebs_snapshot_standard_gb_month'),
    firstCopy: gib * priceOf('inter_region_transfer_gb'),
    total: transferGib * priceOf('inter_region_transfer_gb') + storedGib * priceOf('ebs_snapshot_standard_gb_month'),
  };
}

/** `CLASS:REGION=N …` as copyCost's rules (the region is not priced: every example is one region). */
export function parseCopyRules(text) {
  return text
    .split(/[\s,]+/)
    .filter(Boolean)
    .map((rule) => {
      const m = /^(hourly|daily|weekly|monthly):([a-z0-9-]+)=(\d+)$/.exec(rule);
      if (!m) throw new Error(`copy rule ${JSON.stringify(rule)}: expected CLASS:REGION=N`);
      return { class: m[1], region: m[2], keep: Number(m[3]) };
    });
}

export const COPY_EXAMPLES = [
  'daily:us-west-2=7',
  'weekly:us-west-2=4',
  'daily:us-west-2=7 weekly:us-west-2=4',
  'weekly:us-west-2=8 monthly:us-west-2=12',
];

const dollars = (x) => `$${x.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;

export function reportCopyCost() {
  const gib = Number(process.env.COST_COPY_GIB ?? 100);
  const dailyChange = Number(process.env.COST_COPY_DAILY_CHANGE ?? 0.02);
  console.log(
    `\n## Copies in another region, per ${PER.toLocaleString('en-US')} volumes per month (a model; COST_COPY_GIB=${gib}, COST_COPY_DAILY_CHANGE=${dailyChange})\n`,
  );
  console.log(
    `Each volume holds ${gib} GiB of written data, ${(dailyChange * 100).toFixed(1)} % of it changed a day (distinct blocks: an upper bound). AWS bills the data transferred out of the source region and the copies' standard storage in the destination. The calls ebs-gens makes for them cost nothing (CopySnapshot, DescribeSnapshots, DeleteSnapshot); the few seconds of Lambda time they add per prune batch are left out (make efficiency counts the calls).\n`,
  );
  console.log(
    `| rules | copies / month | transferred / month | transfer | stored in the destination | storage | total / month | first copies (once) |`,
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const text of COPY_EXAMPLES) {
    const c = copyCost(parseCopyRules(text), { gib, dailyChange });
    console.log(
      `| \`${text}\` | ${fmt(c.copiesPerMonth * PER)} | ${fmt(c.transferGib * PER)} GiB | ${dollars(c.transfer * PER)} | ${fmt(c.storedGib * PER)} GiB | ${dollars(c.storage * PER)} | **${dollars(c.total * PER)}** | ${dollars(c.firstCopy * PER)} |`,
    );
  }
}

/** Seconds in the month AWS bills by (730 hours). */
const MONTH_SECONDS = 730 * 3600;

/**
 * What restore drills cost a month: each drill volume is gp3 storage billed per second with a
 * 60-second minimum, for the minutes it lives (create → available → deleted); each drill is a
 * Standard execution of about 8 transitions plus 3 per 30-second poll, and one Lambda call plus one
 * per poll. Volumes and GiB are per drill; `drillsPerMonth` defaults to weekly.
 */
export function drillCost({ volumes, gib, minutes, drillsPerMonth = 365.25 / 12 / 7, priceOf = price }) {
  if (!(volumes >= 0 && gib > 0 && minutes > 0))
    throw new Error(`drillCost: volumes >= 0, gib > 0, minutes > 0 (got ${volumes}, ${gib}, ${minutes})`);
  const seconds = Math.max(60, minutes * 60);
  const polls = Math.ceil((minutes * 60) / 30);
  const storage = volumes * gib * priceOf('ebs_gp3_gb_month') * (seconds / MONTH_SECONDS) * drillsPerMonth;
  const transitions = (8 + 3 * polls) * drillsPerMonth;
  const orchestration = transitions * priceOf('sfn_standard_transition') + (1 + polls) * drillsPerMonth * priceOf('lambda_request');
  return { storage, transitions, orchestration, total: storage + orchestration };
}

export function reportDrillCost() {
  console.log('\n## Restore drills (a model: weekly, each drill volume living the minutes given)\n');
  console.log('| volumes per drill | GiB each | minutes each | drill volumes / month | transitions / month | total / month |');
  console.log('|---:|---:|---:|---:|---:|---:|');
  for (const [volumes, gib, minutes] of [
    [3, 100, 5],
    [100, 100, 5],
    [100, 1000, 15],
  ]) {
    const c = drillCost({ volumes, gib, minutes });
    console.log(
      `| ${volumes} | ${gib} | ${minutes} | ${fmt(volumes * (365.25 / 12 / 7))} | ${fmt(c.transitions)} | **${dollars(c.total)}** |`,
    );
  }
}

/** `make cost`: run → model → price → report. */
async function main() {
  console.log(
    `ebs-gens cost model: measured on the local stack (moto, cargo lambda watch, aws-local-stepfunctions), priced with scripts/prices.json (${PRICES.sfn_standard_transition.read})\n`,
  );
  const tap = logTap();
  const measured = await measureAll(tap);
  const model = sweepModel(measured);
  reportMeasured(measured, model);
  const rows = measured.runs.map((r) => priceFleet(r, model));
  reportMonthly(rows, model);
  reportVariable(rows);
  reportFreeTiers(rows[0].usage);
  reportFixedCost(tap);
  reportCopyCost();
  reportDrillCost();
}

function fmt(x) {
  return Math.round(x).toLocaleString('en-US');
}

// --- the fixed cost ----------------------------------------------------------------------------
/** What a deployment may cost a month before its first snapshot, whatever its size (USD). */
export const FIXED_TARGET = 2;
/** CloudWatch: the first 3 dashboards of an account are free ($3 a month each beyond; not in prices.json). */
const FREE_DASHBOARDS = 3;

/**
 * The metric names the functions publish on every run, zeros included (contract.json
 * metrics.always_emitted); every other metric is published only when non-zero. A contract without
 * the list (older) means VolumesManaged, the one gauge the sweep publishes each hour.
 */
export function alwaysEmitted(contract = CONTRACT) {
  return contract.metrics.always_emitted ?? ['VolumesManaged'];
}

/**
 * What a deployment pays a month before its first snapshot, from what the functions published
 * (`metricsSeen`, `zerosSeen`: `namespace|name|dimension=value,…` keys, logTap) and the synthesized
 * template. Every price from prices.json (`priceOf`).
 * - custom metrics: each always-emitted name × dimension values seen is billed every hour (the
 *   sweep is hourly); the rest only in hours they are non-zero, so not here — unless one was
 *   published at 0, which would bill an idle deployment too: listed in `zeroEmitted`, and `ok` is false;
 * - alarms: one alarm metric each; a Metrics Insights alarm is billed per metric its query reads,
 *   counted as one per EventBridge rule of the template (the account's other default-bus rules add theirs);
 * - customer managed KMS keys; dashboards (free up to 3 per account); the rest of the stack bills
 *   nothing while idle (SSM Standard parameter, schedule group, an empty queue, IAM, log groups
 *   without logs, state machines and functions that do not run).
 */
export function fixedCost({ metricsSeen, zerosSeen = new Set(), template, contract = CONTRACT, priceOf = price }) {
  const always = alwaysEmitted(contract);
  const ours = (key) => key.split('|')[0] === contract.metrics.namespace;
  const nameOf = (key) => key.split('|')[1];
  const hourly = [...metricsSeen].filter((k) => ours(k) && always.includes(nameOf(k))).sort();
  const zeroEmitted = [...zerosSeen].filter((k) => ours(k) && !always.includes(nameOf(k))).sort();
  const missing = always.filter((name) => !hourly.some((k) => nameOf(k) === name));
  const resources = Object.values(template.Resources ?? {});
  const ofType = (type) => resources.filter((r) => r.Type === type);
  const insights = (a) => (a.Properties.Metrics ?? []).some((m) => /^\s*SELECT\b/i.test(m.Expression ?? ''));
  const alarms = ofType('AWS::CloudWatch::Alarm');
  const rules = ofType('AWS::Events::Rule').length;
  const alarmMetrics = sum(alarms.map((a) => (insights(a) ? Math.max(1, rules) : 1)));
  const keys = ofType('AWS::KMS::Key').length;
  const dashboards = ofType('AWS::CloudWatch::Dashboard').length;
  const items = [
    {
      what: `custom metrics published every sweep (${always.join(', ')}): ${hourly.length ? hourly.map((k) => k.split('|').slice(1).join(' ')).join('; ') : 'none seen'}`,
      count: hourly.length,
      each: priceOf('cloudwatch_custom_metric_month'),
    },
    {
      what: `alarms: ${alarms.length} (${alarms.filter(insights).length} on a Metrics Insights query, billed per metric it reads: counted as ${Math.max(1, rules)}, one per rule of the stack; the account's other default-bus rules, and the rules backend's schedule rules, add theirs)`,
      count: alarmMetrics,
      each: priceOf('cloudwatch_alarm_month'),
    },
    { what: "customer managed KMS keys (the alarm topic's, with alarmEmail)", count: keys, each: priceOf('kms_key_month') },
    { what: `dashboards (the first ${FREE_DASHBOARDS} of an account are free)`, count: dashboards, each: 0 },
  ].map((i) => ({ ...i, cost: i.count * i.each }));
  const total = sum(items.map((i) => i.cost));
  const problems = [
    ...(total > FIXED_TARGET ? [`the fixed cost ${money(total)} a month exceeds the target ${money(FIXED_TARGET)}`] : []),
    ...zeroEmitted.map(
      (k) =>
        `${k.split('|').slice(1).join(' ')} was published at 0: outside metrics.always_emitted a metric must be published only when non-zero (CloudWatch bills every hour it is published)`,
    ),
    ...missing.map((name) => `${name} is in metrics.always_emitted but no run published it`),
  ];
  return { items, total, target: FIXED_TARGET, hourly, zeroEmitted, ok: problems.length === 0, problems };
}

/** The fixed-cost section of the report. */
export function renderFixed(f) {
  const lines = ['| item | count | each / month | per month |', '|---|---:|---:|---:|'];
  for (const i of f.items) lines.push(`| ${i.what} | ${i.count} | ${money(i.each)} | ${money(i.cost)} |`);
  lines.push(`| **total** | | | **${money(f.total)}** |`);
  lines.push('', `Target: ≤ $${f.target} a month: ${f.total <= f.target ? 'MET' : 'NOT MET'} (${money(f.total)}).`);
  if (f.problems.length) lines.push('FAILED:', ...f.problems.map((p) => `- ${p}`));
  return lines.join('\n');
}

/**
 * The synthesized stack: cdk/cdk.out's template when it is newer than the CDK app, the contract
 * and the state machines; otherwise synthesized now (bundling skipped, offline), as `make test-cdk` does.
 */
export function deployedTemplate() {
  const out = resolve(ROOT, 'cdk/cdk.out');
  const find = () =>
    existsSync(out)
      ? readdirSync(out)
          .filter((f) => f.endsWith('.template.json'))
          .map((f) => join(out, f))
      : [];
  const newest = (p) => (statSync(p).isDirectory() ? Math.max(0, ...readdirSync(p).map((e) => newest(join(p, e)))) : statSync(p).mtimeMs);
  const sources = Math.max(
    ...['cdk/lib', 'cdk/bin', 'contract.json', 'statemachine/sweep.asl.json', 'statemachine/snapshot-completed.asl.json'].map((p) =>
      newest(resolve(ROOT, p)),
    ),
  );
  let templates = find();
  if (templates.length !== 1 || statSync(templates[0]).mtimeMs < sources) {
    process.stderr.write('synthesizing the stack (cdk synth, bundling skipped) to count its alarms…\n');
    // Its output only on failure (execFileSync's error carries it).
    execFileSync('npx', ['--no-install', 'cdk', 'synth', '--no-notices', '-q'], {
      cwd: resolve(ROOT, 'cdk'),
      env: { ...process.env, EBS_GENS_SKIP_BUNDLING: '1', CDK_DISABLE_CLI_TELEMETRY: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    templates = find();
  }
  if (templates.length !== 1) throw new Error(`${out}: expected one stack template, found ${templates.length}`);
  return { file: templates[0].slice(ROOT.length + 1), template: JSON.parse(readFileSync(templates[0], 'utf8')) };
}

// Imported (the fixed-cost check on its own) it only defines; run, it measures.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
