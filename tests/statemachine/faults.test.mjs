// Faults end to end: both state machines through the local runner while the proxy in front of
// moto fails a seeded fraction of *all* AWS calls (half throttling, half 5xx, shaped as EC2's XML
// and EventBridge's JSON errors). At 20 % the functions' SDK retries and the state machines'
// Retry must win: the sweep succeeds in one execution and leaves exactly the fault-free end state,
// and snapshot-completed succeeds on every event. At 90 % the execution must fail visibly and
// still delete nothing the fault-free run keeps.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { runStateMachine } from '../../local/runner.mjs';
import { completionEvent } from '../../local/fixtures.mjs';
import { startStack, ROOT } from '../../local/stack.mjs';

const SWEEP = resolve(ROOT, 'statemachine/sweep.asl.json');
const COMPLETED = resolve(ROOT, 'statemachine/snapshot-completed.asl.json');
let stack;
let faultFree;

before(async () => {
  // moto stamps new snapshots "now": a schedule firing every minute makes them adoptable.
  stack = await startStack({ env: { EBS_GENS_BACKEND: 'rules', EBS_GENS_CRON_DAILY: 'cron(0/1 * * * ? *)' } });
});

after(async () => {
  await stack?.stop();
});

const run = (file, input) => runStateMachine(file, input, { endpoint: stack.lambdaEndpoint, retryDelayMs: 0 });

/** The end state without emulator ids: per volume Name, each snapshot's start, owner and pin; rules by shape. */
function normal(state) {
  const name = Object.fromEntries(Object.entries(state.volumes).map(([id, tags]) => [id, tags.Name ?? id]));
  const snapshots = {};
  for (const [vol, snaps] of Object.entries(state.snapshots)) {
    snapshots[name[vol] ?? vol] = snaps
      .map((s) => `${s.start} ${s.tags['ebs-gens:managed-by'] ?? '(untagged)'}${s.tags['ebs-gens:keep'] ? ' pinned' : ''}`)
      .sort();
  }
  const rules = state.rules.map((r) => `${r.schedule} ${r.state} ${r.targets.length}`).sort();
  return { snapshots, rules };
}

async function seededFleet() {
  await stack.reset();
  return stack.fleet('seed-faults');
}

test('faults: the fault-free sweep, for reference', async () => {
  stack.proxy.chaos(null);
  await seededFleet();
  const r = await run(SWEEP, {});
  assert.ok(r.ok, `${r.error}: ${r.cause}`);
  assert.equal(r.output.summary.volumes, 20);
  assert.equal(r.output.summary.failed_batches, 0);
  assert.equal(r.output.summary.contested, 20, "each volume also carries another deployment's snapshot");
  faultFree = normal(stack.fleet('state'));
  for (const [vol, snaps] of Object.entries(faultFree.snapshots)) {
    assert.ok(snaps.filter((s) => / demo$/.test(s)).length >= 3, `${vol}: never below N`);
    assert.ok(
      snaps.some((s) => s.endsWith('pinned')),
      `${vol}: the pinned snapshot stays`,
    );
    assert.ok(
      snaps.some((s) => / other$/.test(s)),
      `${vol}: the other deployment's snapshot stays`,
    );
  }
});

test('faults: at 20 % the sweep converges in one execution to the fault-free end state', async () => {
  assert.ok(faultFree, 'needs the reference run');
  await seededFleet();
  stack.proxy.chaos({ rate: 0.2, seed: 20261125 });
  const t0 = Date.now();
  const r = await run(SWEEP, {});
  const injected = stack.proxy.stats.injected;
  stack.proxy.chaos(null);
  assert.ok(r.ok, `one execution must succeed: ${r.error}: ${r.cause}`);
  assert.equal(r.output.summary.failed_batches, 0);
  assert.ok(injected > 10, `only ${injected} faults were injected`);
  assert.deepEqual(normal(stack.fleet('state')), faultFree);
  const longest = Math.max(...r.invocations.map((i) => i.ms ?? 0));
  console.log(
    `# 20 %: ${stack.proxy.seen.length} AWS calls seen by the proxy, ${injected} injected faults, ${r.invocations.length} Lambda invocations (${r.invocations.filter((i) => i.error).length} failed and retried by the state machine), 1 execution, ${Date.now() - t0} ms, longest invocation ${longest} ms`,
  );
});

test('faults: at 20 % snapshot-completed succeeds on every event', async () => {
  const seeded = await seededFleet();
  stack.proxy.chaos({ rate: 0.2, seed: 7 });
  try {
    for (const vol of seeded.volumes.slice(0, 8)) {
      // fleet.py talks to moto directly, not through the proxy.
      const { snapshot } = stack.fleet('snapshot', vol);
      const r = await run(COMPLETED, completionEvent(snapshot, vol));
      assert.ok(r.ok, `${vol}: ${r.error}: ${r.cause}`);
    }
  } finally {
    stack.proxy.chaos(null);
  }
});

test('faults: at 90 % the sweep fails visibly and deletes nothing the fault-free run keeps', async () => {
  assert.ok(faultFree, 'needs the reference run');
  await seededFleet();
  stack.proxy.chaos({ rate: 0.9, seed: 90 });
  const r = await run(SWEEP, {});
  stack.proxy.chaos(null);
  assert.equal(r.ok, false, 'retries cannot win at 90 %: the execution must fail');
  assert.ok(
    ['Transient', 'DeleteFailed', 'AccessDenied', 'Internal', 'InvalidInput'].includes(r.error),
    `failed with ${r.error}: ${r.cause}`,
  );
  // An adoption the faults prevented leaves a snapshot untagged; it is the same snapshot.
  const key = (x) => x.replace(' (untagged)', ' demo');
  const after = normal(stack.fleet('state'));
  for (const [vol, kept] of Object.entries(faultFree.snapshots)) {
    const left = (after.snapshots[vol] ?? []).map(key);
    for (const s of kept.map(key)) assert.ok(left.includes(s), `${vol}: ${s} was kept by the fault-free run but is gone`);
  }
});
