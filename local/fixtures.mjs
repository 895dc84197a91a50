// Event fixtures for the JS side (end-to-end tests, scripts/local.mjs demo), built from the same
// JSON files the Rust tests read (tests/fixtures/).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ROOT } from './stack.mjs';

const SUCCEEDED = resolve(ROOT, 'tests/fixtures/create-snapshot-succeeded.json');

/**
 * An EBS createSnapshot completion event (EventBridge "EBS Snapshot Notification") for
 * `snapshotId` of `volumeId`, with `result` 'succeeded' or 'failed'. A fresh object on each call:
 * tests/fixtures/create-snapshot-succeeded.json with detail.snapshot_id, detail.source, resources
 * and detail.result set; everything else (times, cause, account, region) as in the fixture.
 */
export function completionEvent(snapshotId, volumeId, result = 'succeeded') {
  const ev = JSON.parse(readFileSync(SUCCEEDED, 'utf8'));
  ev.detail.snapshot_id = `arn:aws:ec2::us-east-1:snapshot/${snapshotId}`;
  ev.detail.source = `arn:aws:ec2::us-east-1:volume/${volumeId}`;
  ev.detail.result = result;
  ev.resources = [ev.detail.snapshot_id];
  return ev;
}

const MULTI = resolve(ROOT, 'tests/fixtures/create-snapshots-multi.json');

/**
 * An EBS createSnapshots completion event (EventBridge "EBS Multi-Volume Snapshots Completion
 * Status") for one set: `members` as `{ snapshot, volume }`, each `completed`. A fresh object on
 * each call: tests/fixtures/create-snapshots-multi.json with detail.snapshots and resources set.
 */
export function setCompletionEvent(members) {
  const ev = JSON.parse(readFileSync(MULTI, 'utf8'));
  ev.detail.result = 'succeeded';
  ev.detail.snapshots = members.map(({ snapshot, volume }) => ({
    snapshot_id: `arn:aws:ec2::us-east-1:snapshot/${snapshot}`,
    source: `arn:aws:ec2::us-east-1:volume/${volume}`,
    status: 'completed',
  }));
  ev.resources = ev.detail.snapshots.map((s) => s.snapshot_id);
  return ev;
}
