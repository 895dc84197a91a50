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
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CONTRACT, TAGS, fn } from '../statemachine/runner/contract.mjs';
import { runStateMachine } from '../statemachine/runner/local.mjs';
import { startStack, startWatch, ROOT, DEPLOYMENT } from '../statemachine/runner/stack.mjs';

/** A state machine definition contract.json lists. */
const machine = (file) => {
  if (!CONTRACT.state_machines.some((m) => m.file === file)) throw new Error(`contract.json lists no state machine ${file}`);
  return resolve(ROOT, 'statemachine', file);
};
const SWEEP = machine('sweep.asl.json');
const COMPLETED = machine('snapshot-completed.asl.json');
// Function names, checked against contract.json.
const ENSURE_RULES = fn('ensure-rules');
const PRUNE_VOLUMES = fn('prune-volumes');
const TAG_SNAPSHOT = fn('tag-snapshot');
const [cmd, ...rest] = process.argv.slice(2);
const dryRun = rest.includes('--dry-run');

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
  const watch = await startWatch(passthroughEnv(), (line) => process.stderr.write(line));
  try {
    return await fn(watch.endpoint);
  } finally {
    watch.stop();
  }
}

function finish(name, r) {
  console.log(JSON.stringify(r.ok ? r.output : { error: r.error, cause: r.cause }, null, 2));
  console.error(`${name}: ${r.ok ? 'succeeded' : `FAILED (${r.error})`}; ${r.invocations.length} Lambda invocations`);
  process.exitCode = r.ok ? 0 : 1;
}

async function sweep() {
  await withWatch(async (endpoint) => finish('sweep', await runStateMachine(SWEEP, { dry_run: dryRun }, { endpoint, retryDelayMs: 1000 })));
}

async function event() {
  const file = rest.find((a) => !a.startsWith('--'));
  if (!file) {
    console.error('usage: local.mjs event FILE [--dry-run]');
    process.exit(2);
  }
  const input = JSON.parse(readFileSync(file, 'utf8'));
  await withWatch(async (endpoint) => finish('snapshot-completed', await runStateMachine(COMPLETED, input, { endpoint, retryDelayMs: 1000 })));
}

const pad = (s, n) => String(s).padEnd(n);

async function demo() {
  const failures = [];
  console.log('ebs-gens demo: moto (EC2 + EventBridge), cargo lambda watch, aws-local-stepfunctions — all on 127.0.0.1\n');
  const stack = await startStack();
  try {
    const seeded = stack.fleet('seed-demo');
    const managed = Object.keys(seeded.volumes);
    const before = stack.fleet('state');
    const count = (st, vols) => vols.reduce((n, v) => n + (st.snapshots[v]?.length ?? 0), 0);
    console.log(`Seeded ${Object.keys(seeded.instances).length} instances, ${managed.length} managed volumes and ${seeded.misconfigured.length} misconfigured one,`);
    console.log(`${count(before, [...managed, ...seeded.misconfigured])} snapshots: 5 weeks of daily history (some completion events "missed", so untagged),`);
    console.log(`a pinned snapshot (${TAGS.keep}) and one owned by another deployment.\n`);

    // 1. The first reconcile creates the schedule rules (the hourly sweep does this in AWS).
    const ensure = await (await fetch(`${stack.lambdaEndpoint}/2015-03-31/functions/${ENSURE_RULES}/invocations`, { method: 'POST', body: '{}' })).json();
    if (ensure.errorType) throw new Error(`${ENSURE_RULES}: ${ensure.errorType}: ${ensure.errorMessage}`);
    console.log(`${ENSURE_RULES}: ${ensure.changes} changes, ${ensure.rule_count} rules`);

    // 2. The rules fire: the built-in target snapshots each volume (untagged).
    const fired = stack.fleet('fire');
    console.log(`Schedule fired: ${fired.length} new untagged snapshots`);

    // 3. EBS reports each completion: snapshot-completed tags it and prunes its volume.
    const template = JSON.parse(readFileSync(resolve(ROOT, 'tests/fixtures/create-snapshot-succeeded.json'), 'utf8'));
    let adoptedByEvent = 0;
    const eventPrunes = [];
    for (const { volume, snapshot } of fired) {
      const ev = structuredClone(template);
      ev.detail.snapshot_id = `arn:aws:ec2::us-east-1:snapshot/${snapshot}`;
      ev.detail.source = `arn:aws:ec2::us-east-1:volume/${volume}`;
      ev.resources = [ev.detail.snapshot_id];
      const r = await runStateMachine(COMPLETED, ev, { endpoint: stack.lambdaEndpoint, retryDelayMs: 200 });
      if (!r.ok) failures.push(`snapshot-completed ${snapshot}: ${r.error}: ${r.cause}`);
      adoptedByEvent += r.output?.tag?.results?.filter((x) => x.action === 'adopted').length ?? 0;
      eventPrunes.push(...r.invocations.filter((i) => i.function === PRUNE_VOLUMES && i.output).flatMap((i) => i.output.volumes));
    }
    console.log(`Completion events: ${fired.length} executions of snapshot-completed, ${adoptedByEvent} snapshots adopted\n`);

    // 4. The hourly sweep.
    const sweepRun = await runStateMachine(SWEEP, { dry_run: false }, { endpoint: stack.lambdaEndpoint, retryDelayMs: 200 });
    if (!sweepRun.ok) failures.push(`sweep: ${sweepRun.error}: ${sweepRun.cause}`);
    const reports = sweepRun.invocations.filter((i) => i.function === PRUNE_VOLUMES && i.output).flatMap((i) => i.output.volumes);
    const after = stack.fleet('state');

    console.log('Rules (EventBridge, built-in create-snapshot target, RoleArn set, created enabled):');
    for (const r of after.rules) {
      console.log(`  ${pad(r.name, 38)} ${pad(r.schedule, 22)} ${pad(r.state, 8)} ${r.targets.length} targets`);
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
      console.log(`  ${pad(rep.volume_id, 22)} ${pad(instanceOf(rep.volume_id), 14)} ${pad(rep.policy, 18)} ${pad(adopted, 8)} ${pad(deleted, 8)} ${pad(rep.kept.length, 5)} ${whyText}`);
      keptTotal += rep.kept.length;
      deletedTotal += deleted;
      adoptedTotal += adopted;
      // The report must match what the emulator holds.
      const held = (after.snapshots[rep.volume_id] ?? []).map((s) => s.id).sort();
      const kept = rep.kept.map((k) => k.snapshot_id).sort();
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
    console.log(`  all runs: adopted ${adoptedTotal} whose completion events were missed (${PRUNE_VOLUMES}) + ${adoptedByEvent} on their events (${TAG_SNAPSHOT}), deleted ${deletedTotal}, kept ${keptTotal}`);
    console.log(`  emulator: ${count(before, managed)} snapshots of managed volumes before, ${fired.length} taken by the schedule, ${count(after, managed)} now`);
    if (count(before, managed) + fired.length - deletedTotal !== count(after, managed)) {
      failures.push(`before ${count(before, managed)} + fired ${fired.length} - deleted ${deletedTotal} != now ${count(after, managed)}`);
    }
    if (count(after, managed) !== keptTotal) failures.push(`moto holds ${count(after, managed)} snapshots of managed volumes, report kept ${keptTotal}`);
    if (reports.length !== managed.length) failures.push(`the sweep reported ${reports.length} of ${managed.length} managed volumes`);
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
if (!commands[cmd]) {
  console.error('usage: local.mjs demo | sweep [--dry-run] | event FILE [--dry-run]');
  process.exit(2);
}
await commands[cmd]();
