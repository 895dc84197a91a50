import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AssetHashType, Aws, CfnElement, CfnOutput, CfnResource, Duration, RemovalPolicy, Stack, StackProps, Token, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { RustFunction } from 'cargo-lambda-cdk';
import { Construct, IConstruct } from 'constructs';
import {
  CONFIG_SCHEMA, DEFAULT_BACKEND, DEFAULT_TRACING, EbsGensSettings, KEEP_TAG, MANAGED_BY, OUR_TAG_KEYS, configParameterName, functionEnvironment, parseBooleanSetting,
  parseReservedConcurrency, parseStateMachineLogLevel, ruleArnPatterns, rulePrefix, scheduleGroupName, validate,
} from './config';
import { CONTRACT, contractFunction, metricDimension, metricName } from './contract';

const ROOT = resolve(__dirname, '../..');
/** The functions this stack grants permissions to; contract.json must list exactly these. */
const KNOWN_FUNCTIONS = ['discover-volumes', 'ensure-rules', 'tag-snapshot', 'prune-volumes'] as const;
export type FunctionName = (typeof KNOWN_FUNCTIONS)[number];
/** The functions, in contract.json's order. */
export const FUNCTION_NAMES: readonly FunctionName[] = CONTRACT.functions.map((fn) => {
  if (!(KNOWN_FUNCTIONS as readonly string[]).includes(fn.name)) {
    throw new Error(`contract.json function ${fn.name} is unknown to the CDK app (it would get no permissions)`);
  }
  return fn.name as FunctionName;
});
for (const name of KNOWN_FUNCTIONS) contractFunction(name); // each one the stack wires must be in the contract

/**
 * The functions' asset hash: the Rust sources and lockfile only, so CDK neither fingerprints nor
 * re-uploads the whole repository (venv, node_modules) and the asset changes only with the code.
 * Read once per process: every stack one process builds (the tests build dozens) names the same
 * sources, even while someone edits them, and the tree is not walked again for each.
 */
let sourceHash: string | undefined;
export function rustSourceHash(): string {
  sourceHash ??= hashRustSources();
  return sourceHash;
}

function hashRustSources(): string {
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

/**
 * The deployment's CloudWatch dashboard: `ebs-gens-<deployment>`. Dashboard names allow only
 * [A-Za-z0-9_-] while a deployment may contain `.`: such a name has its dots replaced and a short
 * hash of the deployment appended, so "prod.eu" cannot take "prod_eu"'s or "prod-eu"'s dashboard.
 */
export function dashboardName(deployment: string): string {
  if (/^[A-Za-z0-9_-]+$/.test(deployment)) return `ebs-gens-${deployment}`;
  return `ebs-gens-${deployment.replace(/[^A-Za-z0-9_-]/g, '_')}-${createHash('sha256').update(deployment).digest('hex').slice(0, 8)}`;
}

/** The published configuration (`/ebs-gens/<deployment>/config`), as the CLI reads it. */
export interface DeploymentConfig {
  readonly schema: number;
  readonly deployment: string;
  readonly region: string;
  readonly account_id: string;
  /** Every EBS_GENS_* variable the functions are given, exactly as given. */
  readonly environment: Record<string, string>;
  readonly state_machines: { readonly sweep: string; readonly snapshot_completed: string };
}

export function deploymentConfig(deployment: string, environment: Record<string, string>, stateMachines: DeploymentConfig['state_machines']): DeploymentConfig {
  return { schema: CONFIG_SCHEMA, deployment, region: Aws.REGION, account_id: Aws.ACCOUNT_ID, environment, state_machines: stateMachines };
}

/** A Standard-tier SSM parameter holds at most 4 KB (Advanced, 8 KB, is billed per parameter-month). */
export const MAX_CONFIG_BYTES = 4096;
/**
 * The longest a token in the configuration can resolve to: the region, the account, and ARNs of
 * resources CloudFormation names (IAM roles ≤ 64 characters, queues and state machines ≤ 80), each
 * under 150 characters with the longest partition and region.
 */
const LONGEST_TOKEN = 150;

/**
 * Stops the synth when the configuration could exceed a Standard parameter (long tag keys or crons):
 * CloudFormation would only fail at deploy time. Every token is counted at its longest.
 */
export function checkConfigSize(config: DeploymentConfig): number {
  const worst = JSON.stringify(config, (_k, v) =>
    typeof v === 'string' && Token.isUnresolved(v) ? v.replace(/\$\{Token\[[^\]]*\]\}/g, 'x'.repeat(LONGEST_TOKEN)) : v);
  const bytes = Buffer.byteLength(worst, 'utf8');
  if (bytes > MAX_CONFIG_BYTES) {
    throw new Error(
      `the published configuration ${configParameterName(config.deployment)} could be ${bytes} bytes, over the ${MAX_CONFIG_BYTES} ` +
        'a Standard SSM parameter holds: shorten the tag keys or crons',
    );
  }
  return bytes;
}

/**
 * Acknowledges a checkov finding on one resource, with its reason, in the template itself (the
 * resource's Metadata `checkov.skip`, which checkov reads), as Validations.acknowledge does for
 * cdk-nag: `make test-cdk` runs checkov on the synthesized template and fails on any other finding.
 */
export function skipCheckov(scope: IConstruct, id: string, comment: string): void {
  const resource = (scope instanceof CfnResource ? scope : scope.node.defaultChild) as CfnResource;
  const skip = (resource.getMetadata('checkov')?.skip ?? []) as { id: string; comment: string }[];
  resource.addMetadata('checkov', { skip: [...skip, { id, comment }] });
}

/**
 * Log groups: CloudWatch Logs encrypts every log group at rest (service-managed keys). A customer
 * managed key would cost $1 a month — half of the ≤ $2 a deployment may cost before its first
 * snapshot (`make cost`) — and a key policy for logs.<region>.amazonaws.com, to protect volume and
 * snapshot ids, error messages and counts: no secret is ever logged.
 */
const LOG_GROUP_KMS = 'Encrypted at rest by CloudWatch Logs (service-managed keys). A customer managed key ($1 a month, half the deployment\'s '
  + '$2 fixed-cost budget) would protect only volume/snapshot ids, counts and error messages: no secret is logged.';

export interface EbsGensStackProps extends StackProps {
  readonly settings: EbsGensSettings;
}

export { KEEP_TAG };

/**
 * The Rust functions: arm64, provided.al2023, JSON logs with retention, one role each; timeout and
 * memory from contract.json (the same the local runner and the state machines' Task timeouts use).
 */
class Functions extends Construct {
  readonly fns = {} as Record<FunctionName, lambda.Function>;

  constructor(scope: Construct, id: string, settings: EbsGensSettings, environment: Record<string, string>) {
    super(scope, id);
    const reservedConcurrency = parseReservedConcurrency('reservedConcurrency', settings.reservedConcurrency);
    const assetHash = rustSourceHash();
    for (const name of FUNCTION_NAMES) {
      const logGroup = new logs.LogGroup(this, `${name}-logs`, {
        retention: settings.logRetentionDays ?? logs.RetentionDays.ONE_MONTH,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      skipCheckov(logGroup, 'CKV_AWS_158', LOG_GROUP_KMS);
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
        memorySize: contractFunction(name).memory_mb,
        timeout: Duration.seconds(contractFunction(name).timeout_seconds),
        loggingFormat: lambda.LoggingFormat.JSON,
        // Pinned, not left to the account default: Lambda treats a JSON line without a `level` — every
        // EMF metric line — as INFO, so any level above INFO would silently drop all our metrics and
        // the alarms built on them.
        applicationLogLevelV2: lambda.ApplicationLogLevel.INFO,
        logGroup,
        role,
        environment,
        description: `ebs-gens ${name} (${settings.deployment})`,
        reservedConcurrentExecutions: reservedConcurrency,
      });
      Functions.acknowledgeCheckov(this.fns[name], reservedConcurrency);
    }
  }

  /** checkov's Lambda findings that do not apply here, each with its reason. */
  private static acknowledgeCheckov(fn: lambda.Function, reservedConcurrency: number | undefined) {
    skipCheckov(fn, 'CKV_AWS_116', 'Invoked only synchronously, by the state machines\' lambda:invoke Tasks, whose Retry and Catch handle '
      + 'every failure; a dead-letter queue applies only to asynchronous invocations.');
    skipCheckov(fn, 'CKV_AWS_117', 'The functions call only AWS APIs (EC2, EventBridge, Scheduler) and reach no private resource; a VPC '
      + 'would add NAT gateway or interface endpoint cost (more than the whole deployment) and protect nothing.');
    skipCheckov(fn, 'CKV_AWS_173', 'The environment holds settings and ARNs, no secret (the same values are published in the '
      + '/ebs-gens/<deployment>/config parameter for the CLI); Lambda encrypts it at rest with an AWS managed key.');
    if (reservedConcurrency === undefined) {
      skipCheckov(fn, 'CKV_AWS_115', 'Reserved concurrency is opt-in (-c reservedConcurrency=N): Lambda refuses a reservation that leaves '
        + 'the account fewer than 100 unreserved executions, so a default one could fail the deployment; the sweep\'s Map runs at most 2 prune batches at once.');
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
    const backend = s.backend ?? DEFAULT_BACKEND;
    const rulesBackend = backend === 'rules';
    const ruleArns = ruleArnPatterns(s, Aws.PARTITION, Aws.REGION, Aws.ACCOUNT_ID);
    const volumes = `arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${Aws.ACCOUNT_ID}:volume/*`;
    const snapshots = `arn:${Aws.PARTITION}:ec2:${Aws.REGION}::snapshot/*`;

    // The schedule group: ensure-rules keeps one schedule per managed volume in it (scheduler
    // backend) or empties it (rules backend), so it exists in both. DESTROY: "Deleting a schedule
    // group results in EventBridge Scheduler deleting all schedules associated with the group"
    // (EventBridge Scheduler API reference, DeleteScheduleGroup), so `cdk destroy` also removes every
    // schedule ensure-rules created at runtime — none is left to fire with a deleted role. (The
    // deletion is eventually consistent: a schedule due while the group is DELETING may still fire.)
    const groupName = scheduleGroupName(s);
    new scheduler.ScheduleGroup(this, 'ScheduleGroup', { scheduleGroupName: groupName, removalPolicy: RemovalPolicy.DESTROY });
    // Built from the name, not the resource's Arn attribute, so the role's trust and ensure-rules'
    // policy can name it exactly (the name is fixed by the deployment).
    const groupArn = `arn:${Aws.PARTITION}:scheduler:${Aws.REGION}:${Aws.ACCOUNT_ID}:schedule-group/${groupName}`;
    const scheduleArns = `arn:${Aws.PARTITION}:scheduler:${Aws.REGION}:${Aws.ACCOUNT_ID}:schedule/${groupName}/*`;

    // Where Scheduler puts an invocation it could not deliver after its retries (the schedules'
    // DeadLetterConfig): SQS-managed encryption, so the execution role needs no KMS grant to send;
    // the longest retention SQS allows, so an operator has two weeks to look at a missed snapshot.
    const scheduleDlq = new sqs.Queue(this, 'ScheduleDeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: RemovalPolicy.DESTROY,
    });
    Validations.of(scheduleDlq).acknowledge({
      id: 'AwsSolutions::AwsSolutions-SQS3',
      reason: 'This queue IS the dead-letter queue of the snapshot schedules; nothing consumes it, so it needs no dead-letter queue of its own.',
    });
    skipCheckov(scheduleDlq, 'CKV_AWS_27', 'Encrypted at rest with SQS-managed keys (SqsManagedSseEnabled), which CKV_AWS_27 does not recognise '
      + '(it looks only for KmsMasterKeyId); a KMS key would need a grant for the Scheduler role and cost $1 a month.');

    // The execution role Scheduler assumes to call EC2 CreateSnapshot for our schedules. The trust is
    // scoped as the Scheduler user guide's confused-deputy guidance says: this account
    // (aws:SourceAccount) and this deployment's schedule group (aws:SourceArn) only.
    const schedulerRole = new iam.Role(this, 'SchedulerRole', {
      assumedBy: new iam.PrincipalWithConditions(new iam.ServicePrincipal('scheduler.amazonaws.com'), {
        StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
        ArnEquals: { 'aws:SourceArn': groupArn },
      }),
      description: `ebs-gens ${s.deployment}: EventBridge Scheduler create-snapshot target`,
    });
    schedulerRole.addToPolicy(new iam.PolicyStatement({
      sid: 'CreateSnapshot',
      actions: ['ec2:CreateSnapshot'],
      resources: [volumes, snapshots],
    }));
    // The snapshot is born with our tags (TagSpecifications): CreateTags, but only inside a
    // CreateSnapshot (ec2:CreateAction), only our keys, only managed-by = this deployment. The role
    // cannot tag anything after the fact.
    schedulerRole.addToPolicy(new iam.PolicyStatement({
      sid: 'TagOnlyNewSnapshotsWithOurKeys',
      actions: ['ec2:CreateTags'],
      resources: [snapshots],
      conditions: {
        StringEquals: { 'ec2:CreateAction': 'CreateSnapshot', [`aws:RequestTag/${MANAGED_BY}`]: s.deployment },
        'ForAllValues:StringEquals': { 'aws:TagKeys': OUR_TAG_KEYS },
        Null: { 'aws:TagKeys': 'false' },
      },
    }));
    // Scheduler sends undeliverable invocations to the dead-letter queue with the execution role.
    schedulerRole.addToPolicy(new iam.PolicyStatement({
      sid: 'SendToTheDeadLetterQueue',
      actions: ['sqs:SendMessage'],
      resources: [scheduleDlq.queueArn],
    }));

    // The role EventBridge's built-in create-snapshot target assumes (rules backend only): CreateSnapshot, nothing else.
    // The trust carries no aws:SourceAccount / aws:SourceArn condition on purpose. AWS documents those
    // keys for EventBridge only on what EventBridge sends to targets with resource policies
    // (EventBridge user guide, "Using IAM policy conditions in Amazon EventBridge", eb-use-conditions);
    // no AWS page says events.amazonaws.com sends them when it assumes a target's role, and the
    // built-in create-snapshot target is documented as console-only (PutTargets API reference). A
    // condition on a key that is not sent never matches: every schedule would silently stop taking
    // snapshots. The confused deputy is closed by iam:PassRole instead — a role can only be passed
    // within its own account, and here only by ensure-rules, only to events.amazonaws.com.
    let snapshotRole: iam.Role | undefined;
    if (rulesBackend) {
      snapshotRole = new iam.Role(this, 'SnapshotRole', {
        assumedBy: new iam.ServicePrincipal('events.amazonaws.com'),
        description: `ebs-gens ${s.deployment}: EventBridge create-snapshot target`,
      });
      snapshotRole.addToPolicy(new iam.PolicyStatement({
        actions: ['ec2:CreateSnapshot'],
        resources: [volumes, snapshots],
      }));
    }

    // Every function's environment: the settings and the account.
    const environment = { ...functionEnvironment(s), EBS_GENS_ACCOUNT_ID: Aws.ACCOUNT_ID };
    // ensure-rules' own: the scheduler role and queue exist in both backends (after a switch to rules,
    // the schedules an earlier scheduler deployment left keep working until ensure-rules has removed
    // them); the built-in-target role exists only for rules (and its ARN is set only then).
    const ensureRulesEnvironment: Record<string, string> = {
      EBS_GENS_SCHEDULER_ROLE_ARN: schedulerRole.roleArn,
      EBS_GENS_SCHEDULE_DLQ_ARN: scheduleDlq.queueArn,
      ...(snapshotRole ? { EBS_GENS_SNAPSHOT_ROLE_ARN: snapshotRole.roleArn } : {}),
    };
    const f = new Functions(this, 'Functions', s, environment).fns;
    for (const [k, v] of Object.entries(ensureRulesEnvironment)) f['ensure-rules'].addEnvironment(k, v);
    this.functions = f;

    // Least privilege, per function.
    const describe = (...actions: string[]) => new iam.PolicyStatement({ actions, resources: ['*'] });
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
    // DescribeVolumes: prune re-reads each volume's tags (policy, ebs-gens:allow-bulk-delete) and creation
    // time before deciding, and the sweep's orphan scan (ScanOrphans) asks which volumes still exist.
    f['prune-volumes'].addToRolePolicy(describe('ec2:DescribeVolumes', 'ec2:DescribeSnapshots', 'ec2:DescribeTags'));
    createOurTags.forEach((st) => f['prune-volumes'].addToRolePolicy(st));
    f['prune-volumes'].addToRolePolicy(new iam.PolicyStatement({
      sid: 'DeleteOnlyOurSnapshots',
      actions: ['ec2:DeleteSnapshot'],
      resources: [snapshots],
      conditions: { StringEquals: { [`aws:ResourceTag/${MANAGED_BY}`]: s.deployment } },
    }));
    // A pin holds even against a bug: an explicit Deny while ebs-gens:keep is present (Null = false)
    // with any value but "false". Negated operators also match an absent key, hence the Null guard.
    // IgnoreCase follows the planner (shared/src/snapshot.rs pin_value); IAM cannot trim, so a value
    // like " false" is pinned here although the planner would not pin it — stricter, never looser,
    // and the refusal is counted in DeleteDenied (alarmed below).
    f['prune-volumes'].addToRolePolicy(new iam.PolicyStatement({
      sid: 'NeverDeletePinnedSnapshots',
      effect: iam.Effect.DENY,
      actions: ['ec2:DeleteSnapshot'],
      resources: [snapshots],
      conditions: {
        StringNotEqualsIgnoreCase: { [`aws:ResourceTag/${KEEP_TAG}`]: 'false' },
        Null: { [`aws:ResourceTag/${KEEP_TAG}`]: 'false' },
      },
    }));
    // DescribeTags: the instances' Name tags, for the Name each scheduled snapshot is born with.
    f['ensure-rules'].addToRolePolicy(describe('ec2:DescribeVolumes', 'ec2:DescribeTags', 'events:ListRules'));
    // scheduler:ListSchedules lists no resource type (Service Authorization Reference, Amazon
    // EventBridge Scheduler — "If there is no value for this column, you must specify all resources";
    // the IAM action data cfn-lint ships agrees), so it cannot be narrowed to our group: Resource "*".
    // It is read-only and returns schedule summaries; ensure-rules passes GroupName, and everything
    // that changes a schedule is scoped to the group below.
    f['ensure-rules'].addToRolePolicy(new iam.PolicyStatement({
      sid: 'ListSchedulesSupportsNoResourceLevelPermissions',
      actions: ['scheduler:ListSchedules'],
      resources: ['*'],
    }));
    // Only this deployment's schedules: schedule/ebs-gens-<deployment>/* (the `/` pins the group).
    // Get and Delete in both backends: the rules backend deletes every schedule in the group, the
    // scheduler backend replaces changed ones. Create and Update only where schedules are made:
    // Update re-enables a schedule someone disabled (its name and hash unchanged, it would otherwise
    // stay off until VolumesStale fires), with the full definition, so it also passes the role below.
    f['ensure-rules'].addToRolePolicy(new iam.PolicyStatement({
      sid: 'OnlyOurScheduleGroup',
      actions: rulesBackend
        ? ['scheduler:GetSchedule', 'scheduler:DeleteSchedule']
        : ['scheduler:CreateSchedule', 'scheduler:UpdateSchedule', 'scheduler:GetSchedule', 'scheduler:DeleteSchedule'],
      resources: [scheduleArns],
    }));
    // CreateSchedule and UpdateSchedule both name the execution role in their target: iam:PassRole.
    if (!rulesBackend) {
      f['ensure-rules'].addToRolePolicy(new iam.PolicyStatement({
        sid: 'PassOnlyTheSchedulerRole',
        actions: ['iam:PassRole'],
        resources: [schedulerRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
      }));
    }
    // Only this deployment's rules: rule/ebs-gens-<deployment>-<class>-*, one ARN per class, so that
    // "prod" cannot touch "prod-eu"'s rules (validate() refuses the names that could still collide).
    // Removing rules in both backends (the scheduler backend deletes the rules of an earlier rules
    // deployment); creating them only in the rules backend.
    f['ensure-rules'].addToRolePolicy(new iam.PolicyStatement({
      sid: 'OnlyOurRules',
      actions: rulesBackend
        ? ['events:ListTargetsByRule', 'events:PutRule', 'events:RemoveTargets', 'events:DeleteRule', 'events:DescribeRule']
        : ['events:ListTargetsByRule', 'events:RemoveTargets', 'events:DeleteRule', 'events:DescribeRule'],
      resources: ruleArns,
    }));
    if (snapshotRole) {
      // ...and on them only the built-in create-snapshot target (events:TargetArn, eb-use-conditions):
      // a bug cannot point our rules at anything else. ForAllValues because one PutTargets carries up
      // to 10 targets; the Null guard because ForAllValues alone also matches a request without the key.
      f['ensure-rules'].addToRolePolicy(new iam.PolicyStatement({
        sid: 'OnlyTheCreateSnapshotTarget',
        actions: ['events:PutTargets'],
        resources: ruleArns,
        conditions: {
          'ForAllValues:ArnEquals': { 'events:TargetArn': `arn:${Aws.PARTITION}:events:${Aws.REGION}:${Aws.ACCOUNT_ID}:target/create-snapshot` },
          Null: { 'events:TargetArn': 'false' },
        },
      }));
      f['ensure-rules'].addToRolePolicy(new iam.PolicyStatement({
        sid: 'PassOnlyTheSnapshotRole',
        actions: ['iam:PassRole'],
        resources: [snapshotRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'events.amazonaws.com' } },
      }));
    }

    // The state machines, ASL loaded from statemachine/. Each gets exactly the placeholders
    // contract.json lists for it, substituted with its functions' ARNs, and may invoke exactly those
    // functions; an ASL whose `${…}` placeholders differ from the contract's stops the synth.
    // Observability is most of the deployment's cost (`make cost`): logging every execution's events
    // with their data was about 60 % of it, X-Ray about 7 %. So by default both machines log at level
    // ERROR and are not traced. ERROR logs only the error events (a task that failed, retried or not;
    // a failed, timed-out or aborted execution), with their data — the error and its cause, which for
    // our functions is their error message — and nothing of an execution that went well; the
    // functions' own JSON logs (INFO, always) say what each invocation did. `-c
    // stateMachineLogLevel=ALL` brings back every state's input and output, `-c tracing=true` the traces.
    const logLevel = parseStateMachineLogLevel('stateMachineLogLevel', s.stateMachineLogLevel);
    const tracing = parseBooleanSetting('tracing', s.tracing, DEFAULT_TRACING);
    const machine = (id: string, name: string, file: string, stateMachineType: sfn.StateMachineType) => {
      const entry = CONTRACT.state_machines.find((m) => m.file === file);
      if (!entry) throw new Error(`contract.json lists no state machine ${file}`);
      const definition = readFileSync(resolve(ROOT, 'statemachine', file), 'utf8');
      const inAsl = [...new Set([...definition.matchAll(/\$\{([A-Za-z0-9_]+)\}/g)].map((m) => m[1]))].sort();
      if (JSON.stringify(inAsl) !== JSON.stringify([...entry.placeholders].sort())) {
        throw new Error(`statemachine/${file} uses the placeholders ${inAsl.join(', ')}, contract.json lists ${entry.placeholders.join(', ')}`);
      }
      const uses = entry.placeholders.map((p) => {
        const fn = CONTRACT.functions.find((x) => x.placeholder === p)!;
        return [p, fn.name as FunctionName] as const;
      });
      const logGroup = new logs.LogGroup(this, `${id}Logs`, {
        logGroupName: `/aws/vendedlogs/states/ebs-gens-${s.deployment}-${name}`,
        retention: s.logRetentionDays ?? logs.RetentionDays.ONE_MONTH,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      skipCheckov(logGroup, 'CKV_AWS_158', LOG_GROUP_KMS);
      const sm = new sfn.StateMachine(this, id, {
        definitionBody: sfn.DefinitionBody.fromString(definition),
        definitionSubstitutions: Object.fromEntries(uses.map(([p, fn]) => [p, f[fn].functionArn])),
        stateMachineType,
        tracingEnabled: tracing,
        logs: {
          // Under /aws/vendedlogs/: Step Functions' log delivery otherwise adds every log group to the
          // account's CloudWatch Logs resource policy, which has a size limit (Step Functions
          // best practices, bp-cwl). The name is exact (no wildcard), so it cannot match another
          // deployment's log group. Always with execution data, whatever the level: an Express
          // execution keeps no execution history in Step Functions, so this log is the only place
          // its errors and their causes (at level ALL, also its states' inputs and outputs) can be
          // read afterwards — never OFF, for the same reason (parseStateMachineLogLevel refuses it).
          destination: logGroup,
          level: sfn.LogLevel[logLevel],
          includeExecutionData: true,
        },
      });
      for (const [, fn] of uses) f[fn].grantInvoke(sm);
      // cdk-nag's AwsSolutions-SF1 wants level ALL and SF2 X-Ray tracing: both are opt-in here, for
      // cost, so each is acknowledged on this state machine only, and only when it is off.
      if (logLevel !== 'ALL') {
        Validations.of(sm).acknowledge({
          id: 'AwsSolutions::AwsSolutions-SF1',
          reason: `cost: level ${logLevel} with execution data by default (error events with their error and cause; nothing of a successful execution); -c stateMachineLogLevel=ALL for full history`,
        });
      }
      if (!tracing) {
        Validations.of(sm).acknowledge({
          id: 'AwsSolutions::AwsSolutions-SF2',
          reason: 'cost: X-Ray records one billed trace per execution; tracing opt-in with -c tracing=true',
        });
      }
      return sm;
    };
    // snapshot-completed is an Express workflow: it runs once per snapshot taken (30 a month per
    // daily volume, 720 per hourly one), a few states and two short Lambda calls, so a request plus
    // 100 ms steps of 64 MB costs a fraction of Standard's per-transition price (`make cost`).
    // What Express changes, and why it is safe here:
    // - at-least-once: a duplicated execution (as a duplicated EventBridge delivery) adopts and
    //   deletes nothing more (tag-snapshot and prune-volumes are idempotent; tested end to end in
    //   tests/statemachine/statemachine.test.mjs);
    // - no execution history in Step Functions: the execution log is all there is (by default its
    //   error events, with their data; every event with -c stateMachineLogLevel=ALL) besides the
    //   functions' own logs;
    // - a 5-minute limit: a one-volume prune normally deletes one surplus snapshot. One that runs
    //   longer (a policy lowered by hundreds) ends the execution as timed out (alarmed below) while
    //   prune-volumes runs on to its own deadline; the hourly sweep finishes what is left.
    // EventBridge starts it as before (StartExecution, asynchronous; the rule's role is allowed
    // states:StartExecution on it).
    this.snapshotCompleted = machine('SnapshotCompleted', 'snapshot-completed', 'snapshot-completed.asl.json', sfn.StateMachineType.EXPRESS);
    // The sweep stays Standard: one execution runs ensure-rules, then every page's prune batches,
    // each of which may take up to prune-volumes' 900 s Lambda timeout (`make fault-budget`) —
    // longer than Express's 5-minute maximum. It runs 720 times a month whatever the fleet size,
    // its transitions growing only per page (250 volumes) and batch (100 volumes).
    this.sweep = machine('Sweep', 'sweep', 'sweep.asl.json', sfn.StateMachineType.STANDARD);

    // The deployment's configuration, published for the operator's command: `ebs-gens --deployment`
    // reads it (ssm:GetParameter) and builds its settings from `environment` only — every EBS_GENS_*
    // variable the functions run with, exactly as given — so it cannot act on an operator's own
    // settings (a different zone or cron would re-create every schedule; missing tag keys would find
    // no volume). No function reads it: none is granted ssm:*.
    const config = deploymentConfig(s.deployment, { ...environment, ...ensureRulesEnvironment }, {
      sweep: this.sweep.stateMachineArn,
      snapshot_completed: this.snapshotCompleted.stateMachineArn,
    });
    checkConfigSize(config);
    const configParameter = new ssm.StringParameter(this, 'ConfigParameter', {
      parameterName: configParameterName(s.deployment),
      description: `ebs-gens ${s.deployment}: the deployment's configuration, read by the ebs-gens CLI (schema ${CONFIG_SCHEMA})`,
      tier: ssm.ParameterTier.STANDARD,
      stringValue: this.toJsonString(config),
    });

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

    // Alarms, only on what finally failed or was refused for good. A DeleteFailed or Transient error is
    // retried by the state machines and often made good, so per-invocation failure metrics are not
    // alarmed: what a retry could not fix ends the execution as failed (ExecutionsFailed, per state
    // machine). Permanent refusals, which no retry changes, are alarmed on their EMF metrics.
    const notBreaching = cloudwatch.TreatMissingData.NOT_BREACHING;
    // Namespace, metric and dimension names from contract.json: an alarm or a graph on a metric the
    // functions do not emit would never show anything, so such a name stops the synth (metricName throws).
    const emfMetric = (name: string, fn: FunctionName, statistic: 'Sum' | 'Maximum', period: Duration, label?: string) =>
      new cloudwatch.Metric({
        namespace: CONTRACT.metrics.namespace, metricName: metricName(name), statistic, period, label,
        dimensionsMap: { [metricDimension('Deployment')]: s.deployment, [metricDimension('Function')]: fn },
      });
    // Counts of events (a snapshot failed, a delete was refused): Sum over 5 minutes, >= 1.
    const emf = (name: string, fn: FunctionName, why: string) =>
      new cloudwatch.Alarm(this, `${name}Alarm`, {
        alarmDescription: `ebs-gens ${s.deployment}: ${name} > 0 (${fn}): ${why}`,
        metric: emfMetric(name, fn, 'Sum', Duration.minutes(5)),
        threshold: 1, evaluationPeriods: 1, treatMissingData: notBreaching,
      });
    // States that last until someone acts (a volume without a recent snapshot, deletions held by the
    // fuse): every prune-volumes run reports them again — each hourly sweep batch, and the one-volume
    // prune after each snapshot — so a Sum would add the same volumes up. Maximum over an hour, > 0:
    // one run seeing it is enough, and with the hourly sweep reporting it each period the alarm stays
    // in ALARM (one notification) until it is fixed, rather than flapping between sweeps.
    const gauge = (name: string, fn: FunctionName, why: string) =>
      new cloudwatch.Alarm(this, `${name}Alarm`, {
        alarmDescription: `ebs-gens ${s.deployment}: ${name} > 0 (${fn}): ${why}`,
        metric: emfMetric(name, fn, 'Maximum', Duration.hours(1)),
        threshold: 0, comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1, treatMissingData: notBreaching,
      });
    const alarms = [
      // Express state machines publish ExecutionsFailed (and ExecutionsTimedOut) per
      // StateMachineArn like Standard ones: "All state machines emit metrics ... The following
      // metrics can be filtered with a StateMachineArn" (Step Functions developer guide, Monitoring
      // Step Functions metrics using Amazon CloudWatch, "Execution metrics for all state machines",
      // https://docs.aws.amazon.com/step-functions/latest/dg/procedure-cw-metrics.html).
      new cloudwatch.Alarm(this, 'SnapshotCompletedFailed', {
        alarmDescription: 'snapshot-completed executions failed (a snapshot failed, or tagging/pruning failed after retries)',
        metric: this.snapshotCompleted.metricFailed({ period: Duration.minutes(5), statistic: 'Sum' }),
        threshold: 1, evaluationPeriods: 1, treatMissingData: notBreaching,
      }),
      // Express only: an execution past the 5-minute limit ends as timed out, not failed.
      new cloudwatch.Alarm(this, 'SnapshotCompletedTimedOut', {
        alarmDescription: 'snapshot-completed executions timed out (Express: 5 minutes); prune-volumes ran on to its own deadline and the next sweep prunes the rest',
        metric: this.snapshotCompleted.metricTimedOut({ period: Duration.minutes(5), statistic: 'Sum' }),
        threshold: 1, evaluationPeriods: 1, treatMissingData: notBreaching,
      }),
      new cloudwatch.Alarm(this, 'SweepFailed', {
        alarmDescription: 'sweep executions failed (rules or batches failed after retries)',
        metric: this.sweep.metricFailed({ period: Duration.hours(1), statistic: 'Sum' }),
        threshold: 1, evaluationPeriods: 1, treatMissingData: notBreaching,
      }),
      emf('SnapshotsFailed', 'tag-snapshot', 'EBS reported a snapshot failed'),
      emf('SnapshotsBlocked', 'prune-volumes', 'a surplus snapshot cannot be deleted (an AMI uses it, AWS Backup manages it, or it is locked)'),
      emf('DeleteDenied', 'prune-volumes', 'IAM refused a deletion (a deployment problem, or a snapshot pinned by policy)'),
      emf('VolumesDoubtful', 'prune-volumes', 'a volume\'s snapshot listing looked wrong, so nothing was deleted for it'),
      emf('VolumesContested', 'prune-volumes', 'another deployment snapshots the volume too'),
      gauge('VolumesStale', 'prune-volumes', 'a managed volume\'s newest completed snapshot is older than its schedule allows '
        + '(snapshots are not being taken: see the schedule dead-letter queue and SnapshotsFailed; the sweep output\'s attention list, '
        + 'or `ebs-gens status`, names the volumes)'),
      gauge('DeletionsHeld', 'prune-volumes', 'the bulk-deletion fuse held planned deletions (nothing is deleted for those volumes '
        + `until acknowledged: check the plan with \`ebs-gens plan\`, then tag the volume ${CONTRACT.tags.allow_bulk_delete}=<today, YYYY-MM-DD in the deployment\'s time zone> `
        + 'or run `ebs-gens sweep --remote --apply --allow-bulk-delete`)'),
      // The schedule rules are created at runtime by ensure-rules, so they are not in this template.
      // AWS/Events FailedInvocations (which counts only invocations that failed for good, after
      // EventBridge's own retries) is published per RuleName only — no account-level series exists
      // (EventBridge user guide, eb-monitoring) — and an alarm cannot use a SEARCH expression, so
      // SEARCH over the rule prefix is out (CloudWatch user guide, using-search-expressions; CDK's
      // SearchExpression throws in an alarm). A Metrics Insights query sums the metric over every
      // rule of the default event bus (SCHEMA(..., RuleName) excludes custom buses) into one series:
      // the rules of this deployment plus any other of the account's default-bus rules, which the
      // description says. A narrower query would need a prefix match Metrics Insights does not
      // document.
      new cloudwatch.Alarm(this, 'ScheduleRulesFailed', {
        alarmDescription: `EventBridge FailedInvocations > 0 on a default-bus rule of this account and region: `
          + (rulesBackend
            ? `look first at this deployment's schedule rules (${rulePrefix(s)}<class>-…); `
              + 'a failure there means a create-snapshot target could not take its snapshot'
            : 'look first at this deployment\'s sweep and snapshot-completed rules '
              + '(snapshot schedules are EventBridge Scheduler\'s: their failures reach the schedule dead-letter queue)'),
        metric: new cloudwatch.MathExpression({
          expression: 'SELECT SUM(FailedInvocations) FROM SCHEMA("AWS/Events", RuleName)',
          period: Duration.minutes(5),
          label: 'FailedInvocations, default-bus rules',
        }),
        threshold: 1, evaluationPeriods: 1, treatMissingData: notBreaching,
      }),
      // A snapshot Scheduler could not take, even after its retries (the schedules' dead-letter
      // queue). Maximum over 5 minutes: one message is enough, and it stays until someone looks.
      new cloudwatch.Alarm(this, 'ScheduleDeadLetters', {
        alarmDescription: `ebs-gens ${s.deployment}: a scheduled CreateSnapshot could not be delivered after retries `
          + '(messages in the schedule dead-letter queue; their attributes name the schedule and the error)',
        metric: scheduleDlq.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1, treatMissingData: notBreaching,
      }),
    ];
    if (s.alarmEmail) {
      // A customer managed key: CloudWatch cannot publish to a topic encrypted with the AWS managed
      // aws/sns key, whose policy cannot be changed to let cloudwatch.amazonaws.com use it (SNS
      // developer guide, sns-key-management, "compatibility with AWS services") — the alarm would
      // fire and the e-mail would silently never be sent.
      const key = new kms.Key(this, 'AlarmTopicKey', {
        description: `ebs-gens ${s.deployment}: encrypts the alarm topic`,
        enableKeyRotation: true,
        // It only protects alarm messages in transit; nothing to keep once the stack is gone.
        removalPolicy: RemovalPolicy.DESTROY,
      });
      key.addToResourcePolicy(new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsOfThisAccountPublishToTheTopic',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }));
      const topic = new sns.Topic(this, 'AlarmTopic', {
        displayName: `ebs-gens ${s.deployment} alarms`,
        enforceSSL: true,
        masterKey: key,
      });
      // enforceSSL gives the topic a policy of its own (a Deny), which replaces SNS's default one:
      // without an explicit Allow, the alarm's publish is refused ("Resource: arn:…:alarm:… is not
      // authorized to perform: SNS:Publish"). The statement and its aws:SourceArn condition are the
      // ones AWS documents for cloudwatch.amazonaws.com (AWS Knowledge Center,
      // cloudwatch-receive-sns-for-alarm-trigger; SNS developer guide, sns-access-policy-use-cases),
      // scoped to the alarms of this account and region.
      topic.addToResourcePolicy(new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsOfThisAccountPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [topic.topicArn],
        conditions: { ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:*` } },
      }));
      topic.addSubscription(new subs.EmailSubscription(s.alarmEmail));
      for (const a of alarms) a.addAlarmAction(new cwActions.SnsAction(topic));
    }

    // One dashboard per deployment: what was done (deleted, adopted), what waits for someone (held,
    // stale, orphaned, misconfigured), what failed. EMF names from contract.json (emfMetric), like the
    // alarms. Hourly points, the sweep's rhythm. Counts of events are summed; the states every
    // prune-volumes run reports again (stale, held, orphaned, doubtful...) are shown as the largest
    // count one run saw in the hour — one sweep batch holds at most 100 volumes, one discover page 250.
    const hour = Duration.hours(1);
    const graph = (title: string, metrics: cloudwatch.IMetric[], width = 8) =>
      new cloudwatch.GraphWidget({ title, left: metrics, width, height: 6, period: hour, leftYAxis: { min: 0 }, legendPosition: cloudwatch.LegendPosition.BOTTOM });
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: dashboardName(s.deployment),
      defaultInterval: Duration.days(7),
    });
    dashboard.addWidgets(new cloudwatch.AlarmStatusWidget({ title: `ebs-gens ${s.deployment}: alarms`, alarms, width: 24, height: 3 }));
    dashboard.addWidgets(
      graph('Snapshots deleted and adopted', [
        emfMetric('SnapshotsDeleted', 'prune-volumes', 'Sum', hour, 'deleted (prune-volumes)'),
        emfMetric('SnapshotsAdopted', 'tag-snapshot', 'Sum', hour, 'adopted (tag-snapshot)'),
        emfMetric('SnapshotsAdopted', 'prune-volumes', 'Sum', hour, 'adopted (prune-volumes)'),
      ]),
      graph('Deletions held by the bulk-deletion fuse', [emfMetric('DeletionsHeld', 'prune-volumes', 'Maximum', hour, 'held (largest in one run)')]),
      graph('Stale volumes (no recent snapshot)', [emfMetric('VolumesStale', 'prune-volumes', 'Maximum', hour, 'stale (largest in one run)')]),
    );
    dashboard.addWidgets(
      // Only the sweep's orphan scan counts orphans; every other prune-volumes run publishes 0.
      graph('Orphaned snapshots (kept by default)', [emfMetric('SnapshotsOrphaned', 'prune-volumes', 'Maximum', hour, 'orphaned (orphan scan)')]),
      graph('Failed snapshots', [emfMetric('SnapshotsFailed', 'tag-snapshot', 'Sum', hour, 'failed (tag-snapshot)')]),
      graph('Volumes needing attention', [
        emfMetric('VolumesMisconfigured', 'discover-volumes', 'Maximum', hour, 'misconfigured (discover-volumes, largest page)'),
        emfMetric('VolumesDoubtful', 'prune-volumes', 'Maximum', hour, 'doubtful (prune-volumes)'),
        emfMetric('VolumesContested', 'prune-volumes', 'Maximum', hour, 'contested (prune-volumes)'),
      ]),
    );
    dashboard.addWidgets(graph('State machine executions failed or timed out', [
      this.snapshotCompleted.metricFailed({ period: hour, statistic: 'Sum', label: 'snapshot-completed failed' }),
      this.snapshotCompleted.metricTimedOut({ period: hour, statistic: 'Sum', label: 'snapshot-completed timed out (Express)' }),
      this.sweep.metricFailed({ period: hour, statistic: 'Sum', label: 'sweep failed' }),
    ], 24));

    // Every wildcard cdk-nag flags, acknowledged one by one with its reason.
    const ack = (resource: string, reason: string) =>
      Validations.of(this).acknowledge({ id: `AwsSolutions::AwsSolutions-IAM5[Resource::${resource}]`, reason });
    const lid = (c: Construct) => `<${this.getLogicalId(c.node.defaultChild as CfnElement)}.Arn>:*`;
    ack('*', 'ec2:DescribeVolumes/DescribeSnapshots/DescribeTags, events:ListRules and scheduler:ListSchedules support no resource-level permissions; they are read-only. '
      + 'The same holds for the CloudWatch Logs log-delivery actions CDK grants the state machines\' roles'
      + (tracing ? ', and for the X-Ray actions (PutTraceSegments, PutTelemetryRecords, GetSamplingRules, GetSamplingTargets) it grants them with tracing.' : '.'));
    ack(`arn:<AWS::Partition>:ec2:<AWS::Region>::snapshot/*`,
      'Snapshot ids are not known in advance; DeleteSnapshot is conditioned on aws:ResourceTag/ebs-gens:managed-by = this deployment (and denied on pinned snapshots), CreateTags on aws:TagKeys = our keys (and, for the Scheduler role, ec2:CreateAction = CreateSnapshot), CreateSnapshot is the target roles\' only other action.');
    ack(`arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:volume/*`,
      'The create-snapshot target (Scheduler schedule or built-in rule target) snapshots whichever tagged volume ensure-rules names; the role can only CreateSnapshot.');
    ack(`arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/${groupName}/*`,
      'ensure-rules creates, re-enables (UpdateSchedule) and deletes schedules it names itself (<volume>.<class>.<hash>); the group in the ARN limits it to this deployment\'s schedule group.');
    for (const pattern of ruleArnPatterns(s, '<AWS::Partition>', '<AWS::Region>', '<AWS::AccountId>')) {
      ack(pattern, 'ensure-rules creates and removes rules it names itself (<prefix><class>-<hash>-<nn>); the prefix and class limit it to this deployment\'s rules, PutTargets to the create-snapshot target.');
    }
    for (const name of FUNCTION_NAMES) {
      ack(lid(f[name]), 'CDK grantInvoke lets the state machine invoke the function\'s versions and aliases (<arn>:*).');
      const logGroup = f[name].logGroup.node.defaultChild ? f[name].logGroup : undefined;
      if (logGroup) ack(lid(logGroup as unknown as Construct), 'Log streams inside the function\'s own log group.');
    }

    // `ebs-gens sweep --remote --state-machine-arn` starts this one.
    new CfnOutput(this, 'SweepStateMachineArn', { value: this.sweep.stateMachineArn, description: 'The sweep state machine (ebs-gens sweep --remote --state-machine-arn)' });
    new CfnOutput(this, 'SnapshotCompletedStateMachineArn', { value: this.snapshotCompleted.stateMachineArn });
    if (snapshotRole) new CfnOutput(this, 'SnapshotRoleArn', { value: snapshotRole.roleArn });
    new CfnOutput(this, 'ScheduleGroupName', { value: groupName });
    new CfnOutput(this, 'SchedulerRoleArn', { value: schedulerRole.roleArn });
    new CfnOutput(this, 'ScheduleDeadLetterQueueUrl', { value: scheduleDlq.queueUrl });
    new CfnOutput(this, 'DashboardName', { value: dashboard.dashboardName });
    new CfnOutput(this, 'ConfigParameterName', {
      value: configParameter.parameterName,
      description: 'The deployment\'s configuration for the ebs-gens CLI (SSM String parameter, JSON)',
    });
  }
}
