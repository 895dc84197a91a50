// `make demo` in three parts, each usable on its own:
// - runDemo drives the local stack through the system's day — seed the demo fleet, reconcile the
//   schedules, the schedules fire, one snapshot-completed per snapshot, the hourly sweep,
//   `ebs-gens status` — and returns what happened (a plain object, no printing);
// - DEMO_REPORT prints that result, one section per step (runDemo's onStep calls it as each step
//   ends, so the report appears as the demo runs);
// - DEMO_CHECKS compare the result with the emulator, each check returning its failures as
//   sentences (checkDemo runs them all). tests/statemachine/demo-checks.test.mjs runs them on
//   made-up results.
// scripts/local.mjs demo puts the three together.
import { spawnSync } from 'node:child_process';
import { fn, stateMachineFile, TAGS } from '../local/contract.mjs';
import { completionEvent, setCompletionEvent } from '../local/fixtures.mjs';
import { runStateMachine } from '../local/runner.mjs';
import { ACCOUNT, DEPLOYMENT, ROOT } from '../local/stack.mjs';

const SWEEP = stateMachineFile('sweep.asl.json');
const COMPLETED = stateMachineFile('snapshot-completed.asl.json');
const DRILL = stateMachineFile('restore-drill.asl.json');
// Function names, checked against contract.json.
const ENSURE_SCHEDULES = fn('ensure-schedules');
const PRUNE_VOLUMES = fn('prune-volumes');
const TAG_SNAPSHOT = fn('tag-snapshot');

export const BACKENDS = ['scheduler', 'rules'];

/** Where the demo copies to, and the deployment's copy rule (db01's volumes carry their own, fleet.py). */
export const COPY_REGION = 'us-west-2';
/** The settings the demo's functions run with, beyond the stack's (local/stack.mjs lambdaEnv). */
export const DEMO_ENV = {
  EBS_GENS_COPIES: `weekly:${COPY_REGION}=4`,
  EBS_GENS_LOCKS: 'daily=governance weekly=compliance',
  EBS_GENS_DRILL_VOLUMES: '25%',
};

/** The demo's settings on `backend`: with the scheduler, instance sets too (the rules backend cannot take them). */
export const demoEnv = (backend) => ({
  EBS_GENS_BACKEND: backend,
  ...DEMO_ENV,
  ...(backend === 'scheduler' ? { EBS_GENS_SETS: 'on' } : {}),
});

// --- run ------------------------------------------------------------------------------------

/** The demo fleet (fleet.py seed-demo) and the emulator's state before anything runs. */
function seed(stack, backend) {
  // The schedule group the stack creates in AWS.
  if (backend === 'scheduler') stack.fleet('create-group');
  const sets = backend === 'scheduler' ? ['--with-sets'] : [];
  const seeded = stack.fleet('seed-demo', '--with-copies', '--with-locks', ...sets);
  return { seeded, managed: Object.keys(seeded.volumes), before: stack.fleet('state') };
}

/** The first reconcile creates the schedules or rules (the hourly sweep does this in AWS). */
async function ensureSchedules(stack) {
  const url = `${stack.lambdaEndpoint}/2015-03-31/functions/${ENSURE_SCHEDULES}/invocations`;
  const ensure = await (await fetch(url, { method: 'POST', body: '{}' })).json();
  if (ensure.errorType) throw new Error(`${ENSURE_SCHEDULES}: ${ensure.errorType}: ${ensure.errorMessage}`);
  return ensure;
}

/**
 * The schedules (or rules) fire. moto never fires them: fleet.py does what Scheduler (CreateSnapshot
 * with the target's Input, tags included) or the built-in target does.
 */
function fire(stack, backend) {
  return stack.fleet(backend === 'scheduler' ? 'fire-schedules' : 'fire');
}

/** `items` by `key(item)` (Object.groupBy, which Node 20 lacks). */
const groupBy = (items, key) => {
  const out = {};
  for (const x of items) {
    const k = key(x);
    out[k] = [...(out[k] ?? []), x];
  }
  return out;
};

/**
 * EBS reports each completion: snapshot-completed tags the snapshot (if needed) and prunes its
 * volume; one event per set (its members together) tags the members and prunes the instance.
 */
async function completions(stack, fired, firedSets = []) {
  const runs = [];
  const sets = Object.values(groupBy(firedSets, (f) => f.set));
  const events = [
    ...fired.map(({ volume, snapshot }) => ({ snapshot, event: completionEvent(snapshot, volume) })),
    ...sets.map((members) => ({ snapshot: members.map((m) => m.snapshot).join('+'), event: setCompletionEvent(members) })),
  ];
  for (const { snapshot, event } of events) {
    const r = await runStateMachine(COMPLETED, event, { endpoint: stack.lambdaEndpoint, retryDelayMs: 200 });
    runs.push({
      snapshot,
      ok: r.ok,
      error: r.error,
      cause: r.cause,
      adopted: r.output?.tag?.results?.filter((x) => x.action === 'adopted').length ?? 0,
      // Each prune-volumes report: deletions and adoptions on the event, before the sweep.
      prunes: r.invocations.filter((i) => i.function === PRUNE_VOLUMES && i.output).flatMap((i) => i.output.volumes),
    });
  }
  return runs;
}

/** The hourly sweep, then the emulator's state (and, on the scheduler backend, its schedules). */
async function sweep(stack, backend) {
  const run = await runStateMachine(SWEEP, { dry_run: false }, { endpoint: stack.lambdaEndpoint, retryDelayMs: 200 });
  const all = run.invocations.filter((i) => i.state === 'PruneBatch' && i.output).flatMap((i) => i.output.volumes);
  // An instance's report (its sets) apart from the volumes'.
  const reports = all.filter((rep) => !rep.volume_id.startsWith('i-'));
  const setReports = all.filter((rep) => rep.volume_id.startsWith('i-'));
  const after = stack.fleet('state');
  const schedules = backend === 'scheduler' ? stack.fleet('schedules') : undefined;
  const copies = stack.fleet('copies', '--region', COPY_REGION);
  const locks = stack.fleet('locks');
  return { sweep: run, reports, setReports, after, schedules, copies, locks };
}

/** `ebs-gens ARGS…` against the emulator: its exit status and output. */
function cli(stack, args) {
  const bin = `${process.env.CARGO_TARGET_DIR ?? `${ROOT}/target`}/debug/ebs-gens`;
  const common = ['--endpoint-url', stack.motoUrl, '--region', 'us-east-1', '--deployment', DEPLOYMENT, '--account-id', ACCOUNT];
  const st = spawnSync(bin, [...args, ...common], {
    encoding: 'utf8',
    env: { ...process.env, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', NO_COLOR: '1' },
  });
  if (st.error) throw new Error(`${bin}: ${st.error.message} (build it with cargo build --workspace --bins)`);
  return { status: st.status, stdout: st.stdout, stderr: st.stderr };
}

/** A restore drill over the demo fleet (the drill state machine; its waits skipped), and what it left. */
async function drill(stack) {
  const run = await runStateMachine(DRILL, {}, { endpoint: stack.lambdaEndpoint, retryDelayMs: 200, waitMs: 0 });
  const left = Object.entries(stack.fleet('state').volumes).filter(([, tags]) => 'ebs-gens:drill' in tags);
  return { ok: run.ok, error: run.error, cause: run.cause, output: run.output, left: left.map(([id]) => id) };
}

/** The operator's view: `ebs-gens status` against the emulator. */
const status = (stack) => cli(stack, ['status']);

/**
 * `ebs-gens restore VOLUME --at <yesterday> --apply` on one healthy managed volume: the
 * command's JSON result, and the emulator's volumes after it.
 */
function restore(stack, r) {
  const volume = r.managed.find((v) => ![...r.seeded.stale, ...r.seeded.held].includes(v));
  const at = new Date(Date.now() - 86_400_000).toISOString().replace(/\.\d+Z$/, 'Z');
  const st = cli(stack, ['restore', volume, '--at', at, '--apply', '--output', 'json']);
  const result = st.status === 0 ? JSON.parse(st.stdout) : undefined;
  return { volume, at, status: st.status, stderr: st.stderr, result, volumes: stack.fleet('state').volumes };
}

/**
 * Runs the demo on a started stack (local/stack.mjs startStack, with EBS_GENS_BACKEND=`backend`).
 * `onStep(step, result)` is called as each step ends, with the result so far; steps are the keys of
 * DEMO_REPORT, in order. Returns `{ backend, seeded, managed, before, ensure, fired, completions,
 * sweep, reports, after, schedules, copies, locks, status, restore }` (`copies`: our copies in COPY_REGION by
 * volume; `locks`: every snapshot lock in moto, by snapshot).
 */
export async function runDemo(stack, backend, onStep = () => {}) {
  const r = { backend, ...seed(stack, backend) };
  onStep('seeded', r);
  r.ensure = await ensureSchedules(stack);
  onStep('ensured', r);
  const fired = fire(stack, backend);
  r.fired = fired.filter((f) => !f.set);
  r.firedSets = fired.filter((f) => f.set);
  onStep('fired', r);
  r.completions = await completions(stack, r.fired, r.firedSets);
  onStep('completed', r);
  Object.assign(r, await sweep(stack, backend));
  onStep('swept', r);
  r.status = status(stack);
  onStep('status', r);
  r.restore = restore(stack, r);
  onStep('restored', r);
  r.drill = await drill(stack);
  onStep('drilled', r);
  return r;
}

// --- what the result adds up to (shared by the report and the checks) ------------------------

/** Snapshots the emulator holds for `volumes` in `state` (fleet.py state). */
export const countSnapshots = (state, volumes) => volumes.reduce((n, v) => n + (state.snapshots[v]?.length ?? 0), 0);

/** Snapshots tag-snapshot adopted on their completion events. */
const adoptedOnEvents = (completions) => completions.reduce((n, c) => n + c.adopted, 0);

/** A reason without its period ("daily 2026-11-01" → "daily"), to count reasons by kind. */
const reasonKind = (reason) => reason.replace(/ \d{4}-W?\d\d(-\d\d)?$/, '');

/**
 * One row per volume the sweep reported (sorted by instance name, then volume): adoptions and
 * deletions of both phases (completion events and the sweep), what it keeps (held deletions
 * included) and why; and the totals.
 */
export function tally(r) {
  // Deletions and adoptions happened in both phases: on each completion event and in the sweep.
  const earlier = {};
  for (const rep of r.completions.flatMap((c) => c.prunes)) {
    earlier[rep.volume_id] ??= { adopted: 0, deleted: 0 };
    earlier[rep.volume_id].adopted += rep.adopted.length;
    earlier[rep.volume_id].deleted += rep.deleted.length;
  }
  const instanceOf = (v) => r.seeded.instances[r.seeded.volumes[v]?.instance] ?? 'unattached';
  const byInstance = (a, b) => instanceOf(a.volume_id).localeCompare(instanceOf(b.volume_id)) || a.volume_id.localeCompare(b.volume_id);
  const rows = [...r.reports].sort(byInstance).map((rep) => {
    const why = {};
    for (const reason of rep.kept.flatMap((k) => k.reasons)) {
      const kind = reasonKind(reason);
      why[kind] = (why[kind] ?? 0) + 1;
    }
    const e = earlier[rep.volume_id] ?? { adopted: 0, deleted: 0 };
    const whyText = Object.entries(why)
      .map(([k, n]) => `${k} ×${n}`)
      .join(', ');
    return {
      report: rep,
      instance: instanceOf(rep.volume_id),
      adopted: e.adopted + rep.adopted.length,
      deleted: e.deleted + rep.deleted.length,
      // Held deletions (the fuse) stay too.
      kept: rep.kept.length + (rep.held_back?.length ?? 0),
      note: rep.held ? `HELD: ${rep.held.why}` : rep.stale ? `STALE: ${rep.stale}` : whyText,
    };
  });
  const total = (key) => rows.reduce((n, row) => n + row[key], 0);
  return {
    rows,
    kept: total('kept'),
    deleted: total('deleted'),
    adopted: total('adopted'),
    adoptedByEvent: adoptedOnEvents(r.completions),
  };
}

// --- report -----------------------------------------------------------------------------------

const pad = (s, n) => String(s).padEnd(n);

/** The first lines, printed before the stack starts. */
export const demoHeader = (backend) =>
  `ebs-gens demo (backend ${backend}): moto (EC2, EventBridge, Scheduler), cargo lambda watch, aws-local-stepfunctions — all on 127.0.0.1\n`;

function reportSeeded({ seeded, managed, before }) {
  const all = [...managed, ...seeded.misconfigured];
  console.log(
    `Seeded ${Object.keys(seeded.instances).length} instances, ${managed.length} managed volumes and ${seeded.misconfigured.length} misconfigured one,`,
  );
  console.log(`${countSnapshots(before, all)} snapshots: 5 weeks of daily history (some completion events "missed", so untagged),`);
  console.log(`a pinned snapshot (${TAGS.keep}) and one owned by another deployment. On purpose: "reports" (Daily_Gens=3 after 30:`);
  console.log(`its bulk deletion is held), "stale-data" (its schedule never fires) and "retired" (deleted, its snapshots orphaned).\n`);
}

function reportSchedules({ backend, schedules, after }) {
  if (backend === 'scheduler') {
    console.log(`Schedules (EventBridge Scheduler, group ebs-gens-${DEPLOYMENT}, target aws-sdk:ec2:createSnapshot with our tags):`);
    for (const [name, sch] of Object.entries(schedules)) {
      console.log(`  ${pad(name, 45)} ${pad(sch.expression, 20)} ${sch.time_zone}`);
    }
  } else {
    console.log('Rules (EventBridge, built-in create-snapshot target, RoleArn set, created enabled):');
    for (const rule of after.rules) {
      console.log(`  ${pad(rule.name, 38)} ${pad(rule.schedule, 22)} ${pad(rule.state, 8)} ${rule.targets.length} targets`);
    }
  }
}

function reportVolumes(r, t) {
  console.log('\nPer volume (after the sweep):');
  console.log(
    `  ${pad('volume', 22)} ${pad('instance', 14)} ${pad('policy', 18)} ${pad('adopted', 8)} ${pad('deleted', 8)} ${pad('kept', 5)} why kept`,
  );
  for (const row of t.rows) {
    const v = row.report.volume_id;
    console.log(
      `  ${pad(v, 22)} ${pad(row.instance, 14)} ${pad(row.report.policy, 18)} ${pad(row.adopted, 8)} ${pad(row.deleted, 8)} ${pad(row.kept, 5)} ${row.note}`,
    );
  }
  for (const v of r.seeded.misconfigured) {
    const held = r.after.snapshots[v]?.length ?? 0;
    const why = `tag ${TAGS.generation_keys.daily}="seven": reported, nothing deleted`;
    console.log(`  ${pad(v, 22)} ${pad('unattached', 14)} ${pad('MISCONFIGURED', 18)} ${pad(0, 8)} ${pad(0, 8)} ${pad(held, 5)} ${why}`);
  }
}

/** Each volume's copies in COPY_REGION: its rules, what the destination keeps, its recovery point. */
export function copyRows(r) {
  return r.reports
    .filter((rep) => rep.copies?.some((d) => d.region === COPY_REGION))
    .map((rep) => {
      const d = rep.copies.find((x) => x.region === COPY_REGION);
      const made = r.completions.flatMap((c) => c.prunes).filter((p) => p.volume_id === rep.volume_id);
      const copied = [...made.flatMap((p) => p.copies ?? []), d].filter((x) => x.region === COPY_REGION).flatMap((x) => x.copied ?? []);
      return {
        volume: rep.volume_id,
        rules: r.seeded.copies?.[rep.volume_id] ?? DEMO_ENV.EBS_GENS_COPIES,
        report: d,
        copied: copied.length,
        held: r.copies[rep.volume_id] ?? [],
      };
    });
}

function reportCopies(r) {
  const rows = copyRows(r);
  console.log(`\nCopies in ${COPY_REGION}: the deployment's rule ${DEMO_ENV.EBS_GENS_COPIES} copies every volume's weekly generations`);
  console.log("(the newest snapshot of each closed week, whatever classes the volume keeps itself); db01's volumes tag their own.");
  console.log('"copied": on completion events and in the sweep; "kept": what the sweep found there and keeps.');
  console.log(`  ${pad('volume', 22)} ${pad('rules', 36)} ${pad('copied', 7)} ${pad('kept', 5)} ${pad('recovery point', 26)} classes kept`);
  for (const row of rows) {
    const classes = {};
    for (const c of row.held) classes[c.class] = (classes[c.class] ?? 0) + 1;
    const kinds = Object.entries(classes)
      .map(([k, n]) => `${k} ×${n}`)
      .join(', ');
    const point = row.report.newest_source ?? 'none';
    const note = row.report.stale ? `STALE: ${row.report.stale}` : kinds;
    console.log(
      `  ${pad(row.volume, 22)} ${pad(row.rules, 36)} ${pad(row.copied, 7)} ${pad(row.report.kept?.length ?? 0, 5)} ${pad(point, 26)} ${note}`,
    );
  }
}

/** Every lock the runs set (completion events and the sweep), by volume: `{ locked, extended }` item lists. */
export function lockRows(r) {
  const rows = {};
  const reports = [...r.completions.flatMap((c) => c.prunes), ...r.reports];
  for (const rep of reports) {
    for (const item of rep.locked ?? []) {
      rows[rep.volume_id] ??= { locked: [], extended: [] };
      (item.reasons[0].endsWith('(extended)') ? rows[rep.volume_id].extended : rows[rep.volume_id].locked).push(item);
    }
  }
  return rows;
}

/** The snapshots the sweep kept only because their lock holds. */
const heldByLock = (r) => r.reports.flatMap((rep) => rep.kept.filter((k) => k.reasons[0]?.startsWith('surplus held by its snapshot lock')));

function reportLocks(r) {
  const rows = lockRows(r);
  const total = (k) => Object.values(rows).reduce((n, x) => n + x[k].length, 0);
  console.log(`\nSnapshot locks (${DEMO_ENV.EBS_GENS_LOCKS}): each generation locked as long as it is kept:`);
  console.log(`  ${total('locked')} snapshots locked, ${total('extended')} locks extended, ${heldByLock(r).length} surplus held by a lock`);
  const d = r.seeded.locks?.daily_locked;
  for (const item of rows[d]?.extended ?? [])
    console.log(`  ${pad(d, 22)} ${item.snapshot_id}  ${item.reasons[0]}: now a closed week's keeper`);
  for (const k of heldByLock(r))
    console.log(`  ${pad(r.reports.find((x) => x.kept.includes(k)).volume_id, 22)} ${k.snapshot_id}  ${k.reasons[0]}`);
}

function reportSets(r) {
  for (const rep of r.setReports ?? []) {
    console.log(`\nInstance ${rep.volume_id} (${rep.policy}): its data volumes snapshotted together, kept and deleted as whole sets:`);
    for (const s of rep.sets) console.log(`  ${s.set}  ${s.members.length} members  ${s.action}: ${s.reasons.join(', ')}`);
  }
}

function reportTotals(r, t) {
  const s = r.sweep.output?.summary ?? {};
  const { before, after, managed, fired } = r;
  console.log('\nTotals');
  console.log(
    `  sweep summary: volumes ${s.volumes}, misconfigured ${s.misconfigured}, adopted ${s.adopted}, kept ${s.kept}, deleted ${s.deleted}, failed batches ${s.failed_batches}`,
  );
  console.log(
    `  health: stale ${s.stale}, held ${s.held} (${s.deletions_held} deletions), orphaned ${s.orphaned} snapshots of ${s.orphan_volumes} former volumes`,
  );
  console.log(
    `  copies (sweep): copied ${s.copied ?? 0}, deferred ${s.copies_deferred ?? 0}, deleted ${s.copies_deleted ?? 0}, failed ${s.copies_failed ?? 0}, stale ${s.copies_stale ?? 0}`,
  );
  console.log(
    `  all runs: adopted ${t.adopted} whose completion events were missed (${PRUNE_VOLUMES}) + ${t.adoptedByEvent} on their events (${TAG_SNAPSHOT}), deleted ${t.deleted}, kept ${t.kept}`,
  );
  console.log(
    `  emulator: ${countSnapshots(before, managed)} snapshots of managed volumes before, ${fired.length} taken by the schedule, ${countSnapshots(after, managed)} now`,
  );
}

/** The report, one printer per step of runDemo (in order). */
export const DEMO_REPORT = {
  seeded: reportSeeded,
  ensured: ({ ensure }) =>
    console.log(
      `${ENSURE_SCHEDULES}: ${ensure.changes} changes, ${ensure.rule_count} rules, ${ensure.schedules.created.length} schedules created`,
    ),
  fired: ({ backend, fired, firedSets = [] }) =>
    console.log(
      `Schedule fired: ${fired.length} new snapshots${backend === 'scheduler' ? ', born tagged' : ', untagged'}` +
        (firedSets.length ? `; one instance set of ${firedSets.length} volumes (CreateSnapshots), born tagged with its set` : ''),
    ),
  completed: ({ fired, completions }) =>
    console.log(`Completion events: ${fired.length} executions of snapshot-completed, ${adoptedOnEvents(completions)} snapshots adopted\n`),
  swept: (r) => {
    const t = tally(r);
    reportSchedules(r);
    reportVolumes(r, t);
    reportCopies(r);
    reportLocks(r);
    reportSets(r);
    reportTotals(r, t);
  },
  status: ({ status: st }) => console.log(`\n$ ebs-gens status\n${st.stdout}${st.stderr}`),
  drilled: ({ drill: d }) => {
    console.log(
      `\nRestore drill (${DEMO_ENV.EBS_GENS_DRILL_VOLUMES} of the candidates — each volume's newest generation here and its newest copy in ${COPY_REGION} — never proven first):`,
    );
    if (!d.ok) return console.log(`  FAILED: ${d.error}: ${d.cause}`);
    for (const p of d.output.proven)
      console.log(`  ${p.volume_id} (${p.region}): ${p.snapshot_id} restored, available in ${p.seconds} s, proven, deleted`);
    for (const f of d.output.failed) console.log(`  FAILED: ${f}`);
  },
  restored: ({ restore: x }) => {
    console.log(`\n$ ebs-gens restore ${x.volume} --at ${x.at} --apply`);
    if (!x.result) return console.log(`exit ${x.status}: ${x.stderr}`);
    const { plan: p } = x.result;
    console.log(`${p.chosen.snapshot_id}: ${p.chosen.why}`);
    console.log(`created ${x.result.volume_id} (${p.spec}, ${p.zone}), ${x.result.state}; to undo: ${x.result.undo.join('; ')}`);
  },
};

/** The last lines: the failures, or that all is well. */
export function reportVerdict(failures) {
  if (failures.length) {
    console.log('\nFAILED:');
    for (const f of failures) console.log(`  - ${f}`);
  } else {
    console.log(`\nOK: the report matches the emulator; deployment "${DEPLOYMENT}" stopped every process it started.`);
  }
}

// --- checks -----------------------------------------------------------------------------------
// Each takes the result of runDemo and its tally, and returns its failures (sentences; none when
// all is well). In the order the demo has always listed them.

/** The volume's row of `ebs-gens status` ('' when it has none). */
const statusRow = (r, v) => r.status.stdout.split('\n').find((l) => l.includes(v)) ?? '';
const attention = (r, v, state) => r.sweep.output?.summary?.attention?.some((a) => a.volume_id === v && a.state === state);

export const DEMO_CHECKS = {
  completionsSucceeded: (r) => r.completions.filter((c) => !c.ok).map((c) => `snapshot-completed ${c.snapshot}: ${c.error}: ${c.cause}`),

  scheduledSnapshotsBornTagged: (r, t) =>
    r.backend === 'scheduler' && t.adoptedByEvent !== 0 ? [`${t.adoptedByEvent} snapshots born of a schedule needed adoption`] : [],

  sweepSucceeded: (r) => (r.sweep.ok ? [] : [`sweep: ${r.sweep.error}: ${r.sweep.cause}`]),

  oneSchedulePerManagedVolume(r) {
    if (r.backend !== 'scheduler') return [];
    const failures = [];
    const n = Object.keys(r.schedules).length;
    const instances = r.seeded.sets ? 1 : 0;
    if (n !== r.managed.length + instances)
      failures.push(`${n} schedules for ${r.managed.length} managed volumes and ${instances} instance`);
    if (r.after.rules.length) failures.push(`${r.after.rules.length} EventBridge rules on the scheduler backend`);
    return failures;
  },

  /** The report must match what the emulator holds: what it keeps (held deletions too), not what it deleted. */
  reportMatchesEmulator(r, t) {
    const failures = [];
    for (const { report: rep } of t.rows) {
      const held = (r.after.snapshots[rep.volume_id] ?? []).map((s) => s.id).sort();
      const kept = [...rep.kept, ...(rep.held_back ?? [])].map((k) => k.snapshot_id).sort();
      if (JSON.stringify(held) !== JSON.stringify(kept)) {
        failures.push(`${rep.volume_id}: moto holds ${held.length} snapshots, the report kept ${kept.length}`);
      }
      for (const d of rep.deleted) if (held.includes(d.snapshot_id)) failures.push(`${d.snapshot_id} reported deleted but still exists`);
    }
    return failures;
  },

  /**
   * The database instance: one CreateSnapshots schedule, its set taken whole (the boot volume
   * left out), and after the events and the sweep exactly its Daily_Gens newest sets, each
   * whole, every member tagged with its volume, Name and the set's size.
   */
  setsKeptWhole(r) {
    const s = r.seeded.sets;
    if (!s) return [];
    const failures = [];
    const schedule = Object.entries(r.schedules ?? {}).filter(([name]) => name.startsWith(`${s.instance}.`));
    if (schedule.length !== 1) failures.push(`${s.instance}: ${schedule.length} schedules, expected one (CreateSnapshots)`);
    if (r.firedSets.length !== s.volumes.length)
      failures.push(`the set's firing made ${r.firedSets.length} snapshots, expected ${s.volumes.length} (the boot volume left out)`);
    const members = s.volumes.flatMap((v) => (r.after.snapshots[v] ?? []).map((snap) => ({ ...snap, volume: v })));
    const bySet = groupBy(members, (m) => m.tags[TAGS.set] ?? '(none)');
    const sets = Object.keys(bySet);
    if (sets.length !== s.gens) failures.push(`${s.instance}: ${sets.length} sets kept, expected ${s.gens}: ${sets.join(', ')}`);
    for (const [set, m] of Object.entries(bySet)) {
      if (m.length !== s.volumes.length) failures.push(`${set}: ${m.length} of ${s.volumes.length} members (a partial set)`);
      for (const x of m) {
        if (x.tags[TAGS.volume] !== x.volume) failures.push(`${x.id}: ${TAGS.volume} is ${x.tags[TAGS.volume]}, not ${x.volume}`);
        if (x.tags[TAGS.set_size] !== String(s.volumes.length)) failures.push(`${x.id}: no ${TAGS.set_size}`);
      }
    }
    if (!r.status.stdout.includes('Instance sets')) failures.push('ebs-gens status shows no instance sets');
    return failures;
  },

  misconfiguredKeepsItsSnapshots: (r) =>
    r.seeded.misconfigured
      .filter((v) => (r.after.snapshots[v]?.length ?? 0) !== r.before.snapshots[v].length)
      .map((v) => `${v}: misconfigured volume lost snapshots`),

  pinnedAndForeignKept(r) {
    const left = new Set(Object.values(r.after.snapshots).flatMap((snaps) => snaps.map((s) => s.id)));
    return [...r.seeded.pinned, ...r.seeded.foreign].filter((id) => !left.has(id)).map((id) => `${id} (pinned / not ours) was deleted`);
  },

  /** A held volume loses nothing (its fired snapshot is added) and the summary lists it. */
  heldDeletesNothing(r) {
    const failures = [];
    for (const v of r.seeded.held) {
      const expected = (r.before.snapshots[v]?.length ?? 0) + r.fired.filter((f) => f.volume === v).length;
      const now = r.after.snapshots[v]?.length;
      if (now !== expected) failures.push(`${v}: held, yet ${expected - (now ?? 0)} snapshots were deleted`);
      if (!attention(r, v, 'held')) failures.push(`${v}: not listed as held in the sweep summary`);
    }
    return failures;
  },

  staleReported(r) {
    const s = r.sweep.output?.summary ?? {};
    const failures = r.seeded.stale.filter((v) => !attention(r, v, 'stale')).map((v) => `${v}: not listed as stale in the sweep summary`);
    if (s.stale !== r.seeded.stale.length) failures.push(`sweep counted ${s.stale} stale volumes, seeded ${r.seeded.stale.length}`);
    return failures;
  },

  /** The orphans are found and, under EBS_GENS_ORPHANS=keep, kept. */
  orphansFoundAndKept(r) {
    const s = r.sweep.output?.summary ?? {};
    const failures = [];
    const seeded = countSnapshots(r.before, r.seeded.orphaned);
    if (s.orphaned !== seeded || s.orphan_volumes !== r.seeded.orphaned.length) {
      failures.push(
        `sweep found ${s.orphaned} orphaned snapshots of ${s.orphan_volumes} volumes, seeded ${seeded} of ${r.seeded.orphaned.length}`,
      );
    }
    if (countSnapshots(r.after, r.seeded.orphaned) !== seeded) failures.push('orphaned snapshots were deleted under EBS_GENS_ORPHANS=keep');
    return failures;
  },

  /** Before + fired − deleted = now = what the reports keep, and every managed volume reported. */
  snapshotsAddUp(r, t) {
    const failures = [];
    const before = countSnapshots(r.before, r.managed);
    const now = countSnapshots(r.after, r.managed);
    const fired = r.fired.length;
    if (before + fired - t.deleted !== now) failures.push(`before ${before} + fired ${fired} - deleted ${t.deleted} != now ${now}`);
    if (now !== t.kept) failures.push(`moto holds ${now} snapshots of managed volumes, report kept ${t.kept}`);
    if (r.reports.length !== r.managed.length)
      failures.push(`the sweep reported ${r.reports.length} of ${r.managed.length} managed volumes`);
    return failures;
  },

  /**
   * Copies: every volume with a rule has its copies in COPY_REGION, none failed or stale; the
   * destination holds exactly what the sweep's report keeps, one copy per source, each born
   * tagged with its source and class; no copy of a volume without a rule.
   */
  copiesKeptAsPlanned(r) {
    const failures = [];
    const rows = copyRows(r);
    for (const v of r.managed)
      if (!rows.some((row) => row.volume === v)) failures.push(`${v}: its copies to ${COPY_REGION} were not planned`);
    const rule = (rules, cls) => Number(new RegExp(`${cls}:${COPY_REGION}=(\\d+)`).exec(rules)?.[1] ?? 0);
    for (const row of rows) {
      const { report: d, held, volume } = row;
      if (d.failed?.length || d.error) failures.push(`${volume}: copies failed: ${[...(d.failed ?? []), d.error ?? ''].join('; ')}`);
      if (d.stale) failures.push(`${volume}: copies in ${COPY_REGION} stale: ${d.stale}`);
      if (d.deferred?.length) failures.push(`${volume}: ${d.deferred.length} copies deferred in a fleet this small`);
      // The sweep's plan counts the copies it listed; the copies it started come on top.
      const there = (d.kept?.length ?? 0) + (d.copied?.length ?? 0);
      if (held.length !== there)
        failures.push(`${volume}: moto holds ${held.length} copies in ${COPY_REGION}, the sweep kept and made ${there}`);
      if (new Set(held.map((c) => c.copy_of)).size !== held.length) failures.push(`${volume}: two copies of one source in ${COPY_REGION}`);
      if (held.some((c) => !c.class || !c.source_start)) failures.push(`${volume}: a copy without its class or source start tag`);
      for (const cls of ['daily', 'weekly']) {
        const n = held.filter((c) => c.class === cls).length;
        if (n > rule(row.rules, cls))
          failures.push(`${volume}: ${n} ${cls} copies in ${COPY_REGION}, its rules (${row.rules}) keep ${rule(row.rules, cls)}`);
      }
      // The finest class is copied when its snapshot completes: today's snapshot is there.
      if (rule(row.rules, 'daily')) {
        const fired = r.fired.find((f) => f.volume === volume)?.snapshot;
        if (rule(row.rules, 'daily') !== held.filter((c) => c.class === 'daily').length)
          failures.push(`${volume}: not ${rule(row.rules, 'daily')} daily copies in ${COPY_REGION}`);
        if (fired && !held.some((c) => c.copy_of === fired)) failures.push(`${volume}: today's snapshot ${fired} was not copied`);
      }
    }
    for (const v of Object.keys(r.copies)) if (!r.managed.includes(v)) failures.push(`${v}: copied to ${COPY_REGION}, yet not managed`);
    return failures;
  },

  /**
   * Locks: generations were locked; web02's first volume, locked all along for its daily keep
   * time, had a closed week's keeper extended to compliance; the snapshot locked by hand was held
   * by the planner, not deleted; every lock reported is in moto as reported.
   */
  locksAsPlanned(r) {
    const failures = [];
    const rows = lockRows(r);
    const seeded = r.seeded.locks;
    if (!seeded) return failures;
    const all = Object.values(rows).flatMap((x) => [...x.locked, ...x.extended]);
    if (all.length === 0) failures.push('no snapshot was locked');
    const extended = rows[seeded.daily_locked]?.extended ?? [];
    if (!extended.some((i) => i.reasons[0].startsWith('compliance until')))
      failures.push(`${seeded.daily_locked}: no closed week's keeper had its lock extended to compliance`);
    const stillThere = Object.values(r.after.snapshots).some((snaps) => snaps.some((x) => x.id === seeded.held));
    if (!stillThere) failures.push(`${seeded.held} was locked, yet deleted`);
    if (!heldByLock(r).some((k) => k.snapshot_id === seeded.held))
      failures.push(`${seeded.held}: not reported as surplus held by its lock`);
    for (const i of all) {
      const lock = r.locks[i.snapshot_id];
      const mode = i.reasons[0].split(' ')[0];
      if (!lock) failures.push(`${i.snapshot_id}: reported locked, not locked in moto`);
      else if (!lock.state.startsWith(mode)) failures.push(`${i.snapshot_id}: reported ${mode}, moto says ${lock.state}`);
    }
    return failures;
  },

  /**
   * Restore: exit 0; the generation is the volume's newest snapshot of ours at or before
   * yesterday; the emulator holds the new volume, tagged as restored from it, never managed.
   */
  restoredAsOfYesterday({ restore: x, after }) {
    if (!x.result) return [`ebs-gens restore ${x.volume} exited ${x.status}: ${x.stderr.trim()}`];
    const failures = [];
    const newest = (after.snapshots[x.volume] ?? [])
      .filter((s) => s.tags?.['ebs-gens:managed-by'] === DEPLOYMENT && new Date(s.start) <= new Date(x.at))
      .sort((a, b) => new Date(a.start) - new Date(b.start))
      .at(-1);
    const chosen = x.result.plan.chosen.snapshot_id;
    if (newest?.id !== chosen) failures.push(`restore chose ${chosen}, the newest at or before ${x.at} is ${newest?.id}`);
    const tags = x.volumes[x.result.volume_id];
    if (!tags) failures.push(`restore: ${x.result.volume_id} is not in the emulator`);
    else {
      if (tags['ebs-gens:restored-from'] !== chosen) failures.push(`restore: ${x.result.volume_id} not tagged as restored from ${chosen}`);
      if (Object.keys(tags).some((k) => k.endsWith('_Gens'))) failures.push(`restore: ${x.result.volume_id} carries a *_Gens tag`);
    }
    if (x.result.state !== 'available') failures.push(`restore: the volume is ${x.result.state}, not available`);
    return failures;
  },

  /** Drill: it succeeded, proved at least one generation restorable, and left no drill volume. */
  drilledAndCleanedUp({ drill: d }) {
    if (!d.ok) return [`restore drill failed: ${d.error}: ${d.cause}`];
    const failures = [];
    if (!d.output.proven.length) failures.push('restore drill proved nothing');
    if (d.output.failures) failures.push(`restore drill: ${d.output.failed.join('; ')}`);
    if (d.left.length) failures.push(`restore drill left volumes behind: ${d.left.join(', ')}`);
    return failures;
  },

  /** Exit 2 (critical): one volume is stale and one misconfigured. */
  statusCritical: (r) =>
    r.status.status === 2 ? [] : [`ebs-gens status exited ${r.status.status}, expected 2 (critical: one stale, one misconfigured volume)`],

  /** Each volume's row says what it is: stale, held, misconfigured, an orphan's former volume, or ok. */
  statusRows(r) {
    const { seeded } = r;
    const unless = (volumes, pattern, message) => volumes.filter((v) => !pattern.test(statusRow(r, v))).map(message);
    const healthy = r.managed.filter((v) => ![...seeded.stale, ...seeded.held].includes(v));
    return [
      ...unless(seeded.stale, /\bstale\b/, (v) => `ebs-gens status: ${v} not shown stale`),
      ...unless(seeded.held, /\bheld\b/, (v) => `ebs-gens status: ${v} not shown held`),
      ...unless(seeded.misconfigured, /misconfigured/, (v) => `ebs-gens status: ${v} not shown misconfigured`),
      ...unless(seeded.orphaned, /volume deleted/, (v) => `ebs-gens status: ${v} not listed among the orphans`),
      ...unless(healthy, /\bok\b/, (v) => `ebs-gens status: ${v} is not ok: ${statusRow(r, v)}`),
    ];
  },
};

/** Every check's failures, in order (none: the demo agrees with the emulator). */
export function checkDemo(r) {
  const t = tally(r);
  return Object.values(DEMO_CHECKS).flatMap((check) => check(r, t));
}
