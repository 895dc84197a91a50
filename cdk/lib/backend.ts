// How snapshots are born: the EventBridge Scheduler schedule group, the role Scheduler assumes and
// its dead-letter queue (in both backends: after a switch to rules, the schedules an earlier
// scheduler deployment left keep working until ensure-schedules has removed them), and the role of
// EventBridge's built-in create-snapshot target (rules backend only).
import { Aws, Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { skipCheckov } from './checkov';
import { type EbsGensSettings, MANAGED_BY, OUR_TAG_KEYS, requiredSetting, scheduleGroupName, settingOf } from './config';
import { layoutOnly } from './logical-ids';

/** Every volume of the account and region (CreateSnapshot's source). */
export const VOLUMES = `arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${Aws.ACCOUNT_ID}:volume/*`;
/** Every snapshot of the region (snapshot ARNs carry no account). */
export const INSTANCES = `arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${Aws.ACCOUNT_ID}:instance/*`;
export const SNAPSHOTS = `arn:${Aws.PARTITION}:ec2:${Aws.REGION}::snapshot/*`;

export interface BackendProps {
  readonly settings: EbsGensSettings;
}

export class Backend extends Construct {
  /** `ebs-gens-<deployment>`: fixed by the deployment. */
  readonly scheduleGroupName: string;
  /** The schedules of this deployment's group, and only those: `schedule/<group>/*`. */
  readonly scheduleArns: string;
  readonly scheduleGroup: scheduler.ScheduleGroup;
  /** Where Scheduler puts a snapshot it could not take after its retries. */
  readonly deadLetterQueue: sqs.Queue;
  /** The execution role of every schedule. */
  readonly schedulerRole: iam.Role;
  /** The built-in create-snapshot target's role (rules backend only). */
  readonly snapshotRole?: iam.Role;
  /** ensure-schedules' own environment: the roles and the queue it hands to Scheduler or EventBridge. */
  readonly environment: Record<string, string>;

  constructor(scope: Construct, id: string, props: BackendProps) {
    super(scope, id);
    layoutOnly(this);
    const s = props.settings;
    const rulesBackend = requiredSetting(s, 'backend') === 'rules';

    // The schedule group: ensure-schedules keeps one schedule per managed volume in it (scheduler
    // backend) or empties it (rules backend), so it exists in both. DESTROY: deleting the group
    // deletes its schedules (docs/deploy.md#iam-schedule-group).
    this.scheduleGroupName = scheduleGroupName(s);
    this.scheduleGroup = new scheduler.ScheduleGroup(this, 'ScheduleGroup', {
      scheduleGroupName: this.scheduleGroupName,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // Built from the name, not the resource's Arn attribute, so the role's trust and ensure-schedules'
    // policy can name it exactly (the name is fixed by the deployment).
    const groupArn = `arn:${Aws.PARTITION}:scheduler:${Aws.REGION}:${Aws.ACCOUNT_ID}:schedule-group/${this.scheduleGroupName}`;
    this.scheduleArns = `arn:${Aws.PARTITION}:scheduler:${Aws.REGION}:${Aws.ACCOUNT_ID}:schedule/${this.scheduleGroupName}/*`;

    // Where Scheduler puts an invocation it could not deliver after its retries (the schedules'
    // DeadLetterConfig): SQS-managed encryption, so the execution role needs no KMS grant to send;
    // the longest retention SQS allows, so an operator has two weeks to look at a missed snapshot.
    this.deadLetterQueue = new sqs.Queue(this, 'ScheduleDeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: RemovalPolicy.DESTROY,
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions::AwsSolutions-SQS3',
      reason:
        'This queue IS the dead-letter queue of the snapshot schedules; nothing consumes it, so it needs no dead-letter queue of its own.',
    });
    skipCheckov(
      this.deadLetterQueue,
      'CKV_AWS_27',
      'Encrypted at rest with SQS-managed keys (SqsManagedSseEnabled), which CKV_AWS_27 does not recognise ' +
        '(it looks only for KmsMasterKeyId); a KMS key would need a grant for the Scheduler role and cost $1 a month.',
    );

    // The execution role Scheduler assumes to call EC2 CreateSnapshot for our schedules.
    // IAM rationale: docs/deploy.md#iam-scheduler-role
    this.schedulerRole = new iam.Role(this, 'SchedulerRole', {
      assumedBy: new iam.PrincipalWithConditions(new iam.ServicePrincipal('scheduler.amazonaws.com'), {
        StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
        ArnEquals: { 'aws:SourceArn': groupArn },
      }),
      description: `ebs-gens ${s.deployment}: EventBridge Scheduler create-snapshot target`,
    });
    this.schedulerRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'CreateSnapshot',
        actions: ['ec2:CreateSnapshot'],
        resources: [VOLUMES, SNAPSHOTS],
      }),
    );
    // Instance sets (sets=on): CreateSnapshots of an instance's volumes together, born tagged.
    // IAM rationale: docs/deploy.md#iam-scheduler-role
    const setsOn = settingOf(s, 'sets') === 'on';
    if (setsOn) {
      this.schedulerRole.addToPolicy(
        new iam.PolicyStatement({
          sid: 'CreateSnapshotsOfInstances',
          actions: ['ec2:CreateSnapshots'],
          resources: [INSTANCES, VOLUMES, SNAPSHOTS],
        }),
      );
    }
    this.schedulerRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'TagOnlyNewSnapshotsWithOurKeys',
        actions: ['ec2:CreateTags'],
        resources: [SNAPSHOTS],
        conditions: {
          StringEquals: {
            'ec2:CreateAction': setsOn ? ['CreateSnapshot', 'CreateSnapshots'] : 'CreateSnapshot',
            [`aws:RequestTag/${MANAGED_BY}`]: s.deployment,
          },
          'ForAllValues:StringEquals': { 'aws:TagKeys': OUR_TAG_KEYS },
          Null: { 'aws:TagKeys': 'false' },
        },
      }),
    );
    // Scheduler sends undeliverable invocations to the dead-letter queue with the execution role.
    this.schedulerRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'SendToTheDeadLetterQueue',
        actions: ['sqs:SendMessage'],
        resources: [this.deadLetterQueue.queueArn],
      }),
    );

    // The role EventBridge's built-in create-snapshot target assumes (rules backend only):
    // CreateSnapshot, nothing else. IAM rationale (a trust without conditions): docs/deploy.md#iam-snapshot-role
    if (rulesBackend) {
      this.snapshotRole = new iam.Role(this, 'SnapshotRole', {
        assumedBy: new iam.ServicePrincipal('events.amazonaws.com'),
        description: `ebs-gens ${s.deployment}: EventBridge create-snapshot target`,
      });
      this.snapshotRole.addToPolicy(
        new iam.PolicyStatement({
          actions: ['ec2:CreateSnapshot'],
          resources: [VOLUMES, SNAPSHOTS],
        }),
      );
    }

    this.environment = {
      EBS_GENS_SCHEDULER_ROLE_ARN: this.schedulerRole.roleArn,
      EBS_GENS_SCHEDULE_DLQ_ARN: this.deadLetterQueue.queueArn,
      ...(this.snapshotRole ? { EBS_GENS_SNAPSHOT_ROLE_ARN: this.snapshotRole.roleArn } : {}),
    };
  }
}
