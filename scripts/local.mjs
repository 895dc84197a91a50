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
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { TAGS, fn, stateMachineFile } from '../statemachine/runner/contract.mjs';
import { completionEvent } from '../statemachine/runner/fixtures.mjs';
import { runStateMachine } from '../statemachine/runner/local.mjs';
import { startStack, startWatch, ACCOUNT, DEPLOYMENT, ROOT } from '../statemachine/runner/stack.mjs';

const SWEEP = stateMachineFile('sweep.asl.json');
const COMPLETED = stateMachineFile('snapshot-completed.asl.json');
// Function names, checked against contract.json.
const ENSURE_RULES = fn('ensure-rules');
const PRUNE_VOLUMES = fn('prune-volumes');
const TAG_SNAPSHOT = fn('tag-snapshot');
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
  console.error(`${name}: ${r.ok ? 'succeeded' : `FAILED (${r.error})`}; ${r.invocations.length} Lambda invocations, ${failedAttempts} failed attempts`);
  process.exitCode = r.ok ? 0 : 1;
}

async function sweep() {
  const input = inputOption() ?? { dry_run: dryRun };
  if (dryRun && lambdaEndpoint() && input?.dry_run !== true) {
    usage('--dry-run with --lambda-endpoint: the functions there run with their own environment, so the sweep input must be {"dry_run": true}');
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
    usage('--dry-run with --lambda-endpoint: snapshot-completed has no dry-run input; serve the functions with EBS_GENS_DRY_RUN=true instead');
  }
  const input = given ?? JSON.parse(readFileSync(file, 'utf8'));
  const options = runOptions();
  await withWatch(async (endpoint) => finish('snapshot-completed', await runStateMachine(COMPLETED, input, { ...options, endpoint })));
}

const pad = (s, n) => String(s).padEnd(n);

async function demo() {
  const failures = [];
  const backend = opts.backend ?? 'scheduler';
  if (!['scheduler', 'rules'].includes(backend)) usage(`--backend ${backend} is not scheduler or rules`);
  console.log(`ebs-gens demo (backend ${backend}): moto (EC2, EventBridge, Scheduler), cargo lambda watch, aws-local-stepfunctions — all on 127.0.0.1\n`);
  const stack = await startStack({ env: { EBS_GENS_BACKEND: backend } });
  try {
    if (backend === 'scheduler') stack.fleet('create-group');
    const seeded = stack.fleet('seed-demo');
    const managed = Object.keys(seeded.volumes);
    const before = stack.fleet('state');
    const count = (st, vols) => vols.reduce((n, v) => n + (st.snapshots[v]?.length ?? 0), 0);
    console.log(`Seeded ${Object.keys(seeded.instances).length} instances, ${managed.length} managed volumes and ${seeded.misconfigured.length} misconfigured one,`);
    console.log(`${count(before, [...managed, ...seeded.misconfigured])} snapshots: 5 weeks of daily history (some completion events "missed", so untagged),`);
    console.log(`a pinned snapshot (${TAGS.keep}) and one owned by another deployment. On purpose: "reports" (Daily_Gens=3 after 30:`);
    console.log(`its bulk deletion is held), "stale-data" (its schedule never fires) and "retired" (deleted, its snapshots orphaned).\n`);

    // 1. The first reconcile creates the schedules or rules (the hourly sweep does this in AWS).
    const ensure = await (await fetch(`${stack.lambdaEndpoint}/2015-03-31/functions/${ENSURE_RULES}/invocations`, { method: 'POST', body: '{}' })).json();
    if (ensure.errorType) throw new Error(`${ENSURE_RULES}: ${ensure.errorType}: ${ensure.errorMessage}`);
    console.log(`${ENSURE_RULES}: ${ensure.changes} changes, ${ensure.rule_count} rules, ${ensure.schedules.created.length} schedules created`);

    // 2. The schedules (or rules) fire. moto never fires them: fleet.py does what Scheduler
    //    (CreateSnapshot with the target's Input, tags included) or the built-in target does.
    const fired = stack.fleet(backend === 'scheduler' ? 'fire-schedules' : 'fire');
    console.log(`Schedule fired: ${fired.length} new snapshots${backend === 'scheduler' ? ', born tagged' : ', untagged'}`);

    // 3. EBS reports each completion: snapshot-completed tags it (if needed) and prunes its volume.
    let adoptedByEvent = 0;
    const eventPrunes = [];
    for (const { volume, snapshot } of fired) {
      const r = await runStateMachine(COMPLETED, completionEvent(snapshot, volume), { endpoint: stack.lambdaEndpoint, retryDelayMs: 200 });
      if (!r.ok) failures.push(`snapshot-completed ${snapshot}: ${r.error}: ${r.cause}`);
      adoptedByEvent += r.output?.tag?.results?.filter((x) => x.action === 'adopted').length ?? 0;
      eventPrunes.push(...r.invocations.filter((i) => i.function === PRUNE_VOLUMES && i.output).flatMap((i) => i.output.volumes));
    }
    console.log(`Completion events: ${fired.length} executions of snapshot-completed, ${adoptedByEvent} snapshots adopted\n`);
    if (backend === 'scheduler' && adoptedByEvent !== 0) failures.push(`${adoptedByEvent} snapshots born of a schedule needed adoption`);

    // 4. The hourly sweep.
    const sweepRun = await runStateMachine(SWEEP, { dry_run: false }, { endpoint: stack.lambdaEndpoint, retryDelayMs: 200 });
    if (!sweepRun.ok) failures.push(`sweep: ${sweepRun.error}: ${sweepRun.cause}`);
    const reports = sweepRun.invocations.filter((i) => i.state === 'PruneBatch' && i.output).flatMap((i) => i.output.volumes);
    const after = stack.fleet('state');

    if (backend === 'scheduler') {
      const schedules = stack.fleet('schedules');
      console.log(`Schedules (EventBridge Scheduler, group ebs-gens-${DEPLOYMENT}, target aws-sdk:ec2:createSnapshot with our tags):`);
      for (const [name, sch] of Object.entries(schedules)) {
        console.log(`  ${pad(name, 45)} ${pad(sch.expression, 20)} ${sch.time_zone}`);
      }
      if (Object.keys(schedules).length !== managed.length) failures.push(`${Object.keys(schedules).length} schedules for ${managed.length} managed volumes`);
      if (after.rules.length) failures.push(`${after.rules.length} EventBridge rules on the scheduler backend`);
    } else {
      console.log('Rules (EventBridge, built-in create-snapshot target, RoleArn set, created enabled):');
      for (const r of after.rules) {
        console.log(`  ${pad(r.name, 38)} ${pad(r.schedule, 22)} ${pad(r.state, 8)} ${r.targets.length} targets`);
      }
    }
    console.log('\nPer volume (after the sweep):');
    console.log(`  ${pad('volume', 22)} ${pad('instance', 14)} ${pad('policy', 18)} ${pad('adopted', 8)} ${pad('deleted', 8)} ${pad('kept', 5)} why kept`);
    // Deletions and adoptions happened in both phases: on each completion event and in the sweep.
    const earlier = {};
    for (const rep of eventPrunes) {
      const e = (earlier[rep.volume_id] ??= { adopted: 0, deleted: 0 });
      e.adopted += rep.adopted.length;
      e.deleted += rep.deleted.length;
    }
    const instanceOf = (v) => seeded.instances[seeded.volumes[v]?.instance] ?? 'unattached';
    let keptTotal = 0;
    let deletedTotal = 0;
    let adoptedTotal = 0;
    for (const rep of reports.sort((a, b) => instanceOf(a.volume_id).localeCompare(instanceOf(b.volume_id)) || a.volume_id.localeCompare(b.volume_id))) {
      const why = {};
      for (const k of rep.kept) for (const reason of k.reasons) why[reason.replace(/ \d{4}-W?\d\d(-\d\d)?$/, '')] = (why[reason.replace(/ \d{4}-W?\d\d(-\d\d)?$/, '')] ?? 0) + 1;
      const whyText = Object.entries(why).map(([k, n]) => `${k} ×${n}`).join(', ');
      const e = earlier[rep.volume_id] ?? { adopted: 0, deleted: 0 };
      const adopted = e.adopted + rep.adopted.length;
      const deleted = e.deleted + rep.deleted.length;
      const note = rep.held ? `HELD: ${rep.held.why}` : rep.stale ? `STALE: ${rep.stale}` : whyText;
      console.log(`  ${pad(rep.volume_id, 22)} ${pad(instanceOf(rep.volume_id), 14)} ${pad(rep.policy, 18)} ${pad(adopted, 8)} ${pad(deleted, 8)} ${pad(rep.kept.length + (rep.held_back?.length ?? 0), 5)} ${note}`);
      keptTotal += rep.kept.length + (rep.held_back?.length ?? 0);
      deletedTotal += deleted;
      adoptedTotal += adopted;
      // The report must match what the emulator holds.
      const held = (after.snapshots[rep.volume_id] ?? []).map((s) => s.id).sort();
      // Held deletions (the fuse) stay too.
      const kept = [...rep.kept, ...(rep.held_back ?? [])].map((k) => k.snapshot_id).sort();
      if (JSON.stringify(held) !== JSON.stringify(kept)) failures.push(`${rep.volume_id}: moto holds ${held.length} snapshots, the report kept ${kept.length}`);
      for (const d of rep.deleted) if (held.includes(d.snapshot_id)) failures.push(`${d.snapshot_id} reported deleted but still exists`);
    }
    for (const v of seeded.misconfigured) {
      const held = after.snapshots[v]?.length ?? 0;
      console.log(`  ${pad(v, 22)} ${pad('unattached', 14)} ${pad('MISCONFIGURED', 18)} ${pad(0, 8)} ${pad(0, 8)} ${pad(held, 5)} tag ${TAGS.generation_keys.daily}="seven": reported, nothing deleted`);
      if (held !== before.snapshots[v].length) failures.push(`${v}: misconfigured volume lost snapshots`);
    }
    for (const id of [...seeded.pinned, ...seeded.foreign]) {
      if (!Object.values(after.snapshots).flat().some((s) => s.id === id)) failures.push(`${id} (pinned / not ours) was deleted`);
    }
    const s = sweepRun.output?.summary ?? {};
    console.log('\nTotals');
    console.log(`  sweep summary: volumes ${s.volumes}, misconfigured ${s.misconfigured}, adopted ${s.adopted}, kept ${s.kept}, deleted ${s.deleted}, failed batches ${s.failed_batches}`);
    console.log(`  health: stale ${s.stale}, held ${s.held} (${s.deletions_held} deletions), orphaned ${s.orphaned} snapshots of ${s.orphan_volumes} former volumes`);
    // The on-purpose cases: held deletes nothing, stale is reported, orphans are found and kept.
    for (const v of seeded.held) {
      const expected = (before.snapshots[v]?.length ?? 0) + fired.filter((f) => f.volume === v).length;
      if (after.snapshots[v]?.length !== expected) failures.push(`${v}: held, yet ${expected - (after.snapshots[v]?.length ?? 0)} snapshots were deleted`);
      if (!s.attention?.some((a) => a.volume_id === v && a.state === 'held')) failures.push(`${v}: not listed as held in the sweep summary`);
    }
    for (const v of seeded.stale) {
      if (!s.attention?.some((a) => a.volume_id === v && a.state === 'stale')) failures.push(`${v}: not listed as stale in the sweep summary`);
    }
    if (s.stale !== seeded.stale.length) failures.push(`sweep counted ${s.stale} stale volumes, seeded ${seeded.stale.length}`);
    const orphanCount = seeded.orphaned.reduce((n, v) => n + (before.snapshots[v]?.length ?? 0), 0);
    if (s.orphaned !== orphanCount || s.orphan_volumes !== seeded.orphaned.length) failures.push(`sweep found ${s.orphaned} orphaned snapshots of ${s.orphan_volumes} volumes, seeded ${orphanCount} of ${seeded.orphaned.length}`);
    if (count(after, seeded.orphaned) !== orphanCount) failures.push('orphaned snapshots were deleted under EBS_GENS_ORPHANS=keep');
    console.log(`  all runs: adopted ${adoptedTotal} whose completion events were missed (${PRUNE_VOLUMES}) + ${adoptedByEvent} on their events (${TAG_SNAPSHOT}), deleted ${deletedTotal}, kept ${keptTotal}`);
    console.log(`  emulator: ${count(before, managed)} snapshots of managed volumes before, ${fired.length} taken by the schedule, ${count(after, managed)} now`);
    if (count(before, managed) + fired.length - deletedTotal !== count(after, managed)) {
      failures.push(`before ${count(before, managed)} + fired ${fired.length} - deleted ${deletedTotal} != now ${count(after, managed)}`);
    }
    if (count(after, managed) !== keptTotal) failures.push(`moto holds ${count(after, managed)} snapshots of managed volumes, report kept ${keptTotal}`);
    if (reports.length !== managed.length) failures.push(`the sweep reported ${reports.length} of ${managed.length} managed volumes`);

    // 5. The operator's view: `ebs-gens status` against the emulator. Exit 2 (critical): one
    //    volume is stale and one misconfigured; "reports" is held; "retired" is orphaned.
    const cli = `${process.env.CARGO_TARGET_DIR ?? `${ROOT}/target`}/debug/ebs-gens`;
    const st = spawnSync(cli, ['status', '--endpoint-url', stack.motoUrl, '--region', 'us-east-1', '--deployment', DEPLOYMENT, '--account-id', ACCOUNT], {
      encoding: 'utf8',
      env: { ...process.env, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', NO_COLOR: '1' },
    });
    if (st.error) throw new Error(`${cli}: ${st.error.message} (build it with cargo build --workspace --bins)`);
    console.log(`\n$ ebs-gens status\n${st.stdout}${st.stderr}`);
    if (st.status !== 2) failures.push(`ebs-gens status exited ${st.status}, expected 2 (critical: one stale, one misconfigured volume)`);
    const row = (v) => st.stdout.split('\n').find((l) => l.includes(v)) ?? '';
    for (const v of seeded.stale) if (!/\bstale\b/.test(row(v))) failures.push(`ebs-gens status: ${v} not shown stale`);
    for (const v of seeded.held) if (!/\bheld\b/.test(row(v))) failures.push(`ebs-gens status: ${v} not shown held`);
    for (const v of seeded.misconfigured) if (!/misconfigured/.test(row(v))) failures.push(`ebs-gens status: ${v} not shown misconfigured`);
    for (const v of seeded.orphaned) if (!/volume deleted/.test(row(v))) failures.push(`ebs-gens status: ${v} not listed among the orphans`);
    const healthy = managed.filter((v) => ![...seeded.stale, ...seeded.held].includes(v));
    for (const v of healthy) if (!/\bok\b/.test(row(v))) failures.push(`ebs-gens status: ${v} is not ok: ${row(v)}`);
  } finally {
    await stack.stop();
  }
  if (failures.length) {
    console.log('\nFAILED:');
    for (const f of failures) console.log(`  - ${f}`);
    process.exitCode = 1;
  } else {
    console.log(`\nOK: the report matches the emulator; deployment "${DEPLOYMENT}" stopped every process it started.`);
  }
}

const commands = { demo, sweep, event };
if (!Object.hasOwn(commands, cmd ?? '')) usage();
await commands[cmd]();
