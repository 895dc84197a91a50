// Least privilege, per function: what each function's role may do beyond writing its own logs. No
// resources of its own: the statements go into the functions' roles' default policies.
import { Aws } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { type Backend, SNAPSHOTS } from './backend';
import {
  COPY_TAG_KEYS,
  copyKeys,
  copyRegions,
  type EbsGensSettings,
  KEEP_TAG,
  MANAGED_BY,
  OUR_TAG_KEYS,
  ruleArnPatterns,
  requiredSetting,
  settingOf,
} from './config';
import { CONTRACT } from './contract';
import type { FunctionName } from './functions';
import { layoutOnly } from './logical-ids';

export interface FunctionPoliciesProps {
  readonly settings: EbsGensSettings;
  readonly functions: Record<FunctionName, lambda.Function>;
  readonly backend: Backend;
}

export class FunctionPolicies extends Construct {
  constructor(scope: Construct, id: string, props: FunctionPoliciesProps) {
    super(scope, id);
    layoutOnly(this);
    const { settings: s, functions: f, backend } = props;
    const rulesBackend = requiredSetting(s, 'backend') === 'rules';
    const ruleArns = ruleArnPatterns(s, Aws.PARTITION, Aws.REGION, Aws.ACCOUNT_ID);
    const describe = (...actions: string[]) => new iam.PolicyStatement({ actions, resources: ['*'] });

    // CreateTags: only our keys, only managed-by = this deployment, and only on snapshots untagged
    // by any deployment or already ours. IAM rationale: docs/deploy.md#iam-create-tags
    const tagConditions = (owner: Record<string, Record<string, string>>) => ({
      'ForAllValues:StringEquals': { 'aws:TagKeys': OUR_TAG_KEYS },
      Null: { 'aws:TagKeys': 'false' },
      StringEqualsIfExists: { [`aws:RequestTag/${MANAGED_BY}`]: s.deployment },
      ...owner,
    });
    const createOurTags = [
      new iam.PolicyStatement({
        sid: 'TagUnownedSnapshotsWithOurKeysOnly',
        actions: ['ec2:CreateTags'],
        resources: [SNAPSHOTS],
        conditions: tagConditions({ Null: { 'aws:TagKeys': 'false', [`aws:ResourceTag/${MANAGED_BY}`]: 'true' } }),
      }),
      new iam.PolicyStatement({
        sid: 'RetagOurSnapshotsWithOurKeysOnly',
        actions: ['ec2:CreateTags'],
        resources: [SNAPSHOTS],
        conditions: { ...tagConditions({}), StringEquals: { [`aws:ResourceTag/${MANAGED_BY}`]: s.deployment } },
      }),
    ];
    // DescribeInstances (sets=on): the tagged instances and their attached volumes.
    const setsOn = settingOf(s, 'sets') === 'on';
    const instances = setsOn ? ['ec2:DescribeInstances'] : [];
    f['discover-volumes'].addToRolePolicy(describe('ec2:DescribeVolumes', ...instances));
    f['tag-snapshot'].addToRolePolicy(describe('ec2:DescribeVolumes', 'ec2:DescribeSnapshots', 'ec2:DescribeTags'));
    for (const st of createOurTags) f['tag-snapshot'].addToRolePolicy(st);
    // DescribeVolumes: prune re-reads each volume's tags (policy, ebs-gens:allow-bulk-delete) and creation
    // time before deciding, and the sweep's orphan scan (ScanOrphans) asks which volumes still exist.
    // DescribeLockedSnapshots: a locked snapshot is never deleted (nor attempted), so prune reads
    // the locks of what it would delete (and, with `locks`, of what it keeps).
    f['prune-volumes'].addToRolePolicy(
      describe('ec2:DescribeVolumes', 'ec2:DescribeSnapshots', 'ec2:DescribeTags', 'ec2:DescribeLockedSnapshots', ...instances),
    );
    for (const st of createOurTags) f['prune-volumes'].addToRolePolicy(st);
    // Recycle Bin, read only: a delete a retention rule covers stays billed, and the report says
    // so. ListRules has no resource-level permissions; GetRule is scoped to this region's rules.
    // IAM rationale: docs/deploy.md#iam-recycle-bin
    f['prune-volumes'].addToRolePolicy(
      new iam.PolicyStatement({ sid: 'ListRecycleBinRules', actions: ['rbin:ListRules'], resources: ['*'] }),
    );
    f['prune-volumes'].addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'ReadRecycleBinRules',
        actions: ['rbin:GetRule'],
        resources: [`arn:${Aws.PARTITION}:rbin:${Aws.REGION}:${Aws.ACCOUNT_ID}:rule/*`],
      }),
    );
    const destinations = copyRegions(s).map((r) => `arn:${Aws.PARTITION}:ec2:${r}::snapshot/*`);
    // Snapshot locks: lock (or extend the lock of) only our snapshots; no function may unlock.
    // IAM rationale: docs/deploy.md#iam-locks
    if ((settingOf(s, 'locks') ?? 'off') !== 'off') {
      f['prune-volumes'].addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'LockOnlyOurSnapshots',
          actions: ['ec2:LockSnapshot'],
          resources: [SNAPSHOTS],
          conditions: { StringEquals: { [`aws:ResourceTag/${MANAGED_BY}`]: s.deployment } },
        }),
      );
    }
    // Copies are locked in their destinations on the same terms: only copies this stack made.
    if ((settingOf(s, 'locks') ?? 'off') !== 'off' && destinations.length > 0) {
      f['prune-volumes'].addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'LockOnlyOurCopies',
          actions: ['ec2:LockSnapshot'],
          resources: destinations,
          conditions: {
            StringEquals: {
              [`aws:ResourceTag/${MANAGED_BY}`]: s.deployment,
              [`aws:ResourceTag/${CONTRACT.tags.source_region}`]: Aws.REGION,
            },
          },
        }),
      );
    }
    // Copies in other regions: copy only our snapshots, only to the configured regions, born with
    // our tags and this deployment's managed-by; delete there on the same terms as here.
    // IAM rationale: docs/deploy.md#iam-copies
    if (destinations.length > 0) {
      f['prune-volumes'].addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'CopyOnlyOurSnapshots',
          actions: ['ec2:CopySnapshot'],
          resources: [SNAPSHOTS],
          conditions: { StringEquals: { [`aws:ResourceTag/${MANAGED_BY}`]: s.deployment } },
        }),
      );
      f['prune-volumes'].addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'CopiesBornOursInOurDestinations',
          actions: ['ec2:CopySnapshot'],
          resources: destinations,
          conditions: {
            StringEquals: { [`aws:RequestTag/${MANAGED_BY}`]: s.deployment },
            'ForAllValues:StringEquals': { 'aws:TagKeys': COPY_TAG_KEYS },
          },
        }),
      );
      f['prune-volumes'].addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'TagCopiesOnlyAsTheyAreMade',
          actions: ['ec2:CreateTags'],
          resources: destinations,
          conditions: {
            StringEquals: { 'ec2:CreateAction': 'CopySnapshot', [`aws:RequestTag/${MANAGED_BY}`]: s.deployment },
            'ForAllValues:StringEquals': { 'aws:TagKeys': COPY_TAG_KEYS },
          },
        }),
      );
    }
    // Customer managed keys for copies: only the listed keys, grants only for AWS resources (EBS).
    const keys = Object.values(copyKeys(s));
    if (keys.length > 0) {
      f['prune-volumes'].addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'EncryptCopiesWithTheirKeys',
          actions: ['kms:DescribeKey', 'kms:GenerateDataKeyWithoutPlaintext', 'kms:ReEncryptFrom', 'kms:ReEncryptTo', 'kms:Decrypt'],
          resources: keys,
        }),
      );
      f['prune-volumes'].addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'GrantOnlyToEbs',
          actions: ['kms:CreateGrant'],
          resources: keys,
          conditions: { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
        }),
      );
    }
    f['prune-volumes'].addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'DeleteOnlyOurSnapshots',
        actions: ['ec2:DeleteSnapshot'],
        resources: [SNAPSHOTS],
        conditions: { StringEquals: { [`aws:ResourceTag/${MANAGED_BY}`]: s.deployment } },
      }),
    );
    // In a destination only copies this stack made: ours, and copied from this region (a
    // deployment of the same name in that region owns the rest).
    if (destinations.length > 0) {
      f['prune-volumes'].addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'DeleteOnlyOurCopies',
          actions: ['ec2:DeleteSnapshot'],
          resources: destinations,
          conditions: {
            StringEquals: {
              [`aws:ResourceTag/${MANAGED_BY}`]: s.deployment,
              [`aws:ResourceTag/${CONTRACT.tags.source_region}`]: Aws.REGION,
            },
          },
        }),
      );
    }
    // A pin holds even against a bug. IAM rationale: docs/deploy.md#iam-pin
    f['prune-volumes'].addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'NeverDeletePinnedSnapshots',
        effect: iam.Effect.DENY,
        actions: ['ec2:DeleteSnapshot'],
        resources: [SNAPSHOTS, ...destinations],
        conditions: {
          StringNotEqualsIgnoreCase: { [`aws:ResourceTag/${KEEP_TAG}`]: 'false' },
          Null: { [`aws:ResourceTag/${KEEP_TAG}`]: 'false' },
        },
      }),
    );

    // Restore drills: create volumes only from our snapshots (here and in the destinations), each
    // born with the drill tag (tags written only as it is created); delete only volumes born with
    // it and made from a snapshot; never attach; record the proof on our snapshots only.
    // IAM rationale: docs/drills.md#iam
    const drill = f['restore-drill'];
    const volumes = [Aws.REGION, ...copyRegions(s)].map((r) => `arn:${Aws.PARTITION}:ec2:${r}:${Aws.ACCOUNT_ID}:volume/*`);
    const snapshotsEverywhere = [SNAPSHOTS, ...destinations];
    drill.addToRolePolicy(describe('ec2:DescribeVolumes', 'ec2:DescribeSnapshots', 'ec2:DescribeAvailabilityZones', ...instances));
    drill.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'DrillVolumesBornTagged',
        actions: ['ec2:CreateVolume'],
        resources: volumes,
        conditions: { StringEquals: { [`aws:RequestTag/${CONTRACT.tags.drill}`]: s.deployment } },
      }),
    );
    drill.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'DrillOnlyFromOurSnapshots',
        actions: ['ec2:CreateVolume'],
        resources: snapshotsEverywhere,
        conditions: { StringEquals: { [`aws:ResourceTag/${MANAGED_BY}`]: s.deployment } },
      }),
    );
    drill.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'TagDrillVolumesOnlyAsCreated',
        actions: ['ec2:CreateTags'],
        resources: volumes,
        conditions: { StringEquals: { 'ec2:CreateAction': 'CreateVolume', [`aws:RequestTag/${CONTRACT.tags.drill}`]: s.deployment } },
      }),
    );
    drill.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'DeleteOnlyDrillVolumes',
        actions: ['ec2:DeleteVolume'],
        resources: volumes,
        conditions: {
          StringEquals: { [`aws:ResourceTag/${CONTRACT.tags.drill}`]: s.deployment },
          Null: { 'ec2:ParentSnapshot': 'false' },
        },
      }),
    );
    drill.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'RecordProofOnOurSnapshots',
        actions: ['ec2:CreateTags'],
        resources: snapshotsEverywhere,
        conditions: {
          StringEquals: { [`aws:ResourceTag/${MANAGED_BY}`]: s.deployment },
          'ForAllValues:StringEquals': { 'aws:TagKeys': [CONTRACT.tags.restore_proven] },
        },
      }),
    );
    const drillKeys = String(settingOf(s, 'drillKmsKeys') ?? '')
      .split(/[ ,]+/)
      .filter((k) => k);
    if (drillKeys.length > 0) {
      drill.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'RestoreEncryptedSnapshots',
          actions: ['kms:DescribeKey', 'kms:Decrypt', 'kms:GenerateDataKeyWithoutPlaintext', 'kms:ReEncryptFrom', 'kms:ReEncryptTo'],
          resources: drillKeys,
        }),
      );
      drill.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'DrillGrantsOnlyToEbs',
          actions: ['kms:CreateGrant'],
          resources: drillKeys,
          conditions: { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
        }),
      );
    }

    const ensure = f['ensure-schedules'];
    // DescribeTags: the instances' Name tags, for the Name each scheduled snapshot is born with.
    ensure.addToRolePolicy(describe('ec2:DescribeVolumes', 'ec2:DescribeTags', 'events:ListRules', ...instances));
    // IAM rationale (no resource-level permission): docs/deploy.md#iam-list-schedules
    ensure.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'ListSchedulesSupportsNoResourceLevelPermissions',
        actions: ['scheduler:ListSchedules'],
        resources: ['*'],
      }),
    );
    // Only this deployment's schedules; Create and Update only where schedules are made.
    // IAM rationale: docs/deploy.md#iam-schedule-scope
    ensure.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'OnlyOurScheduleGroup',
        actions: rulesBackend
          ? ['scheduler:GetSchedule', 'scheduler:DeleteSchedule']
          : ['scheduler:CreateSchedule', 'scheduler:UpdateSchedule', 'scheduler:GetSchedule', 'scheduler:DeleteSchedule'],
        resources: [backend.scheduleArns],
      }),
    );
    // CreateSchedule and UpdateSchedule both name the execution role in their target: iam:PassRole.
    if (!rulesBackend) {
      ensure.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'PassOnlyTheSchedulerRole',
          actions: ['iam:PassRole'],
          resources: [backend.schedulerRole.roleArn],
          conditions: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
        }),
      );
    }
    // Only this deployment's rules, one ARN pattern per class; creating them only on the rules
    // backend. IAM rationale: docs/deploy.md#iam-rule-scope
    ensure.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'OnlyOurRules',
        actions: rulesBackend
          ? ['events:ListTargetsByRule', 'events:PutRule', 'events:RemoveTargets', 'events:DeleteRule', 'events:DescribeRule']
          : ['events:ListTargetsByRule', 'events:RemoveTargets', 'events:DeleteRule', 'events:DescribeRule'],
        resources: ruleArns,
      }),
    );
    if (backend.snapshotRole) {
      // ...and on them only the built-in create-snapshot target. IAM rationale: docs/deploy.md#iam-rule-scope
      ensure.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'OnlyTheCreateSnapshotTarget',
          actions: ['events:PutTargets'],
          resources: ruleArns,
          conditions: {
            'ForAllValues:ArnEquals': {
              'events:TargetArn': `arn:${Aws.PARTITION}:events:${Aws.REGION}:${Aws.ACCOUNT_ID}:target/create-snapshot`,
            },
            Null: { 'events:TargetArn': 'false' },
          },
        }),
      );
      ensure.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'PassOnlyTheSnapshotRole',
          actions: ['iam:PassRole'],
          resources: [backend.snapshotRole.roleArn],
          conditions: { StringEquals: { 'iam:PassedToService': 'events.amazonaws.com' } },
        }),
      );
    }
  }
}
