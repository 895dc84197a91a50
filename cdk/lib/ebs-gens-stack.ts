import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AssetHashType, Aws, CfnElement, CfnOutput, Duration, RemovalPolicy, Stack, StackProps, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import { RustFunction } from 'cargo-lambda-cdk';
import { Construct } from 'constructs';
import { EbsGensSettings, MANAGED_BY, OUR_TAG_KEYS, functionEnvironment, rulePrefix, validate } from './config';

const ROOT = resolve(__dirname, '../..');
export const FUNCTION_NAMES = ['discover-volumes', 'ensure-rules', 'tag-snapshot', 'prune-volumes'] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

/**
 * The functions' asset hash: the Rust sources and lockfile only, so CDK neither fingerprints nor
 * re-uploads the whole repository (venv, node_modules) and the asset changes only with the code.
 */
export function rustSourceHash(): string {
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

export interface EbsGensStackProps extends StackProps {
  readonly settings: EbsGensSettings;
}

/** The four Rust functions: arm64, provided.al2023, JSON logs with retention, one role each. */
class Functions extends Construct {
  readonly fns = {} as Record<FunctionName, lambda.Function>;

  constructor(scope: Construct, id: string, settings: EbsGensSettings, extraEnv: Record<string, string>) {
    super(scope, id);
    const environment = { ...functionEnvironment(settings), EBS_GENS_ACCOUNT_ID: Aws.ACCOUNT_ID, ...extraEnv };
    const assetHash = rustSourceHash();
    for (const name of FUNCTION_NAMES) {
      const logGroup = new logs.LogGroup(this, `${name}-logs`, {
        retention: settings.logRetentionDays ?? logs.RetentionDays.ONE_MONTH,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      const role = new iam.Role(this, `${name}-role`, {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        description: `ebs-gens ${settings.deployment} ${name}`,
      });
      role.addToPolicy(new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn, `${logGroup.logGroupArn}:*`],
      }));
      this.fns[name] = new RustFunction(this, name, {
        manifestPath: resolve(ROOT, 'Cargo.toml'),
        binaryName: name,
        runtime: 'provided.al2023',
        architecture: lambda.Architecture.ARM_64,
        bundling: { assetHashType: AssetHashType.CUSTOM, assetHash: `${assetHash}-${name}` },
        memorySize: 256,
        timeout: name === 'prune-volumes' ? Duration.minutes(15) : Duration.minutes(2),
        loggingFormat: lambda.LoggingFormat.JSON,
        logGroup,
        role,
        environment,
        description: `ebs-gens ${name} (${settings.deployment})`,
      });
    }
  }
}

export class EbsGensStack extends Stack {
  readonly functions: Record<FunctionName, lambda.Function>;
  readonly snapshotCompleted: sfn.StateMachine;
  readonly sweep: sfn.StateMachine;

  constructor(scope: Construct, id: string, props: EbsGensStackProps) {
    super(scope, id, props);
    const s = props.settings;
    validate(s);
    const prefix = rulePrefix(s);

    // The role EventBridge's built-in create-snapshot target assumes: CreateSnapshot, nothing else.
    const snapshotRole = new iam.Role(this, 'SnapshotRole', {
      assumedBy: new iam.ServicePrincipal('events.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
      description: `ebs-gens ${s.deployment}: EventBridge create-snapshot target`,
    });
    snapshotRole.addToPolicy(new iam.PolicyStatement({
      actions: ['ec2:CreateSnapshot'],
      resources: [
        `arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${Aws.ACCOUNT_ID}:volume/*`,
        `arn:${Aws.PARTITION}:ec2:${Aws.REGION}::snapshot/*`,
      ],
    }));

    const f = new Functions(this, 'Functions', s, {}).fns;
    f['ensure-rules'].addEnvironment('EBS_GENS_SNAPSHOT_ROLE_ARN', snapshotRole.roleArn);
    this.functions = f;

    // Least privilege, per function.
    const describe = (...actions: string[]) => new iam.PolicyStatement({ actions, resources: ['*'] });
    const snapshots = `arn:${Aws.PARTITION}:ec2:${Aws.REGION}::snapshot/*`;
    // CreateTags: only our keys, only managed-by = this deployment, and only on snapshots that are
    // untagged by any deployment or already ours — a bug cannot relabel another deployment's
    // snapshot into one this deployment may delete.
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
        resources: [snapshots],
        conditions: tagConditions({ Null: { 'aws:TagKeys': 'false', [`aws:ResourceTag/${MANAGED_BY}`]: 'true' } }),
      }),
      new iam.PolicyStatement({
        sid: 'RetagOurSnapshotsWithOurKeysOnly',
        actions: ['ec2:CreateTags'],
        resources: [snapshots],
        conditions: { ...tagConditions({}), StringEquals: { [`aws:ResourceTag/${MANAGED_BY}`]: s.deployment } },
      }),
    ];
    f['discover-volumes'].addToRolePolicy(describe('ec2:DescribeVolumes'));
    f['tag-snapshot'].addToRolePolicy(describe('ec2:DescribeVolumes', 'ec2:DescribeSnapshots', 'ec2:DescribeTags'));
    createOurTags.forEach((st) => f['tag-snapshot'].addToRolePolicy(st));
    f['prune-volumes'].addToRolePolicy(describe('ec2:DescribeSnapshots', 'ec2:DescribeTags'));
    createOurTags.forEach((st) => f['prune-volumes'].addToRolePolicy(st));
    f['prune-volumes'].addToRolePolicy(new iam.PolicyStatement({
      sid: 'DeleteOnlyOurSnapshots',
      actions: ['ec2:DeleteSnapshot'],
      resources: [snapshots],
      conditions: { StringEquals: { [`aws:ResourceTag/${MANAGED_BY}`]: s.deployment } },
    }));
    f['ensure-rules'].addToRolePolicy(describe('ec2:DescribeVolumes', 'events:ListRules'));
    f['ensure-rules'].addToRolePolicy(new iam.PolicyStatement({
      sid: 'OnlyOurRules',
      actions: ['events:ListTargetsByRule', 'events:PutRule', 'events:PutTargets', 'events:RemoveTargets', 'events:DeleteRule', 'events:DescribeRule'],
      resources: [`arn:${Aws.PARTITION}:events:${Aws.REGION}:${Aws.ACCOUNT_ID}:rule/${prefix}*`],
    }));
    f['ensure-rules'].addToRolePolicy(new iam.PolicyStatement({
      sid: 'PassOnlyTheSnapshotRole',
      actions: ['iam:PassRole'],
      resources: [snapshotRole.roleArn],
      conditions: { StringEquals: { 'iam:PassedToService': 'events.amazonaws.com' } },
    }));

    // The state machines, ASL loaded from statemachine/ with substitutions (visible to tests).
    const substitutions = {
      TagSnapshotFunctionArn: f['tag-snapshot'].functionArn,
      PruneVolumesFunctionArn: f['prune-volumes'].functionArn,
      EnsureRulesFunctionArn: f['ensure-rules'].functionArn,
      DiscoverVolumesFunctionArn: f['discover-volumes'].functionArn,
    };
    const machine = (id: string, file: string, uses: FunctionName[]) => {
      const sm = new sfn.StateMachine(this, id, {
        definitionBody: sfn.DefinitionBody.fromString(readFileSync(resolve(ROOT, 'statemachine', file), 'utf8')),
        definitionSubstitutions: substitutions,
        stateMachineType: sfn.StateMachineType.STANDARD,
        tracingEnabled: true,
        logs: {
          destination: new logs.LogGroup(this, `${id}Logs`, {
            retention: s.logRetentionDays ?? logs.RetentionDays.ONE_MONTH,
            removalPolicy: RemovalPolicy.DESTROY,
          }),
          level: sfn.LogLevel.ALL,
          includeExecutionData: true,
        },
      });
      for (const name of uses) f[name].grantInvoke(sm);
      return sm;
    };
    this.snapshotCompleted = machine('SnapshotCompleted', 'snapshot-completed.asl.json', ['tag-snapshot', 'prune-volumes']);
    this.sweep = machine('Sweep', 'sweep.asl.json', ['ensure-rules', 'discover-volumes', 'prune-volumes']);

    new events.Rule(this, 'SnapshotCompletedRule', {
      description: `ebs-gens ${s.deployment}: EBS createSnapshot completions start snapshot-completed`,
      eventPattern: {
        source: ['aws.ec2'],
        detailType: ['EBS Snapshot Notification'],
        detail: { event: ['createSnapshot'], result: ['succeeded', 'failed'] },
      },
      targets: [new targets.SfnStateMachine(this.snapshotCompleted)],
    });
    new events.Rule(this, 'SweepSchedule', {
      description: `ebs-gens ${s.deployment}: the sweep`,
      schedule: events.Schedule.expression(s.sweepSchedule ?? 'rate(1 hour)'),
      targets: [new targets.SfnStateMachine(this.sweep, { input: events.RuleTargetInput.fromObject({ dry_run: s.dryRun ?? false }) })],
    });

    // Alarms: failed executions, EBS-reported failed snapshots, deletions that kept failing.
    const alarms = [
      new cloudwatch.Alarm(this, 'SnapshotCompletedFailed', {
        alarmDescription: 'snapshot-completed executions failed (a snapshot failed, or tagging/pruning failed after retries)',
        metric: this.snapshotCompleted.metricFailed({ period: Duration.minutes(5), statistic: 'Sum' }),
        threshold: 1, evaluationPeriods: 1, treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, 'SweepFailed', {
        alarmDescription: 'sweep executions failed (rules or batches failed after retries)',
        metric: this.sweep.metricFailed({ period: Duration.hours(1), statistic: 'Sum' }),
        threshold: 1, evaluationPeriods: 1, treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      ...([['SnapshotsFailed', 'tag-snapshot'], ['DeleteFailed', 'prune-volumes']] as const).map(([metricName, fn]) =>
        new cloudwatch.Alarm(this, `${metricName}Alarm`, {
          alarmDescription: `ebs-gens ${metricName} > 0 (${fn})`,
          metric: new cloudwatch.Metric({
            namespace: 'ebs-gens', metricName, statistic: 'Sum', period: Duration.minutes(5),
            dimensionsMap: { Deployment: s.deployment, Function: fn },
          }),
          threshold: 1, evaluationPeriods: 1, treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        })),
    ];
    if (s.alarmEmail) {
      const topic = new sns.Topic(this, 'AlarmTopic', {
        displayName: `ebs-gens ${s.deployment} alarms`,
        enforceSSL: true,
        masterKey: kms.Alias.fromAliasName(this, 'SnsKey', 'alias/aws/sns'),
      });
      topic.addSubscription(new subs.EmailSubscription(s.alarmEmail));
      for (const a of alarms) a.addAlarmAction(new cwActions.SnsAction(topic));
    }

    // Every wildcard cdk-nag flags, acknowledged one by one with its reason.
    const ack = (resource: string, reason: string) =>
      Validations.of(this).acknowledge({ id: `AwsSolutions::AwsSolutions-IAM5[Resource::${resource}]`, reason });
    const lid = (c: Construct) => `<${this.getLogicalId(c.node.defaultChild as CfnElement)}.Arn>:*`;
    ack('*', 'ec2:DescribeVolumes/DescribeSnapshots/DescribeTags and events:ListRules support no resource-level permissions; they are read-only.');
    ack(`arn:<AWS::Partition>:ec2:<AWS::Region>::snapshot/*`,
      'Snapshot ids are not known in advance; DeleteSnapshot is conditioned on aws:ResourceTag/ebs-gens:managed-by = this deployment, CreateTags on aws:TagKeys = our keys, CreateSnapshot is the built-in target role\'s only action.');
    ack(`arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:volume/*`,
      'The built-in create-snapshot target snapshots whichever tagged volume a rule names; the role can only CreateSnapshot.');
    ack(`arn:<AWS::Partition>:events:<AWS::Region>:<AWS::AccountId>:rule/${prefix}*`,
      'ensure-rules creates and removes rules it names itself; the prefix limits it to this deployment\'s rules.');
    for (const name of FUNCTION_NAMES) {
      ack(lid(f[name]), 'CDK grantInvoke lets the state machine invoke the function\'s versions and aliases (<arn>:*).');
      const logGroup = f[name].logGroup.node.defaultChild ? f[name].logGroup : undefined;
      if (logGroup) ack(lid(logGroup as unknown as Construct), 'Log streams inside the function\'s own log group.');
    }

    new CfnOutput(this, 'SweepStateMachineArn', { value: this.sweep.stateMachineArn });
    new CfnOutput(this, 'SnapshotCompletedStateMachineArn', { value: this.snapshotCompleted.stateMachineArn });
    new CfnOutput(this, 'SnapshotRoleArn', { value: snapshotRole.roleArn });
  }
}
