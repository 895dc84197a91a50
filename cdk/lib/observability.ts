// What an operator sees: alarms on what finally failed or was refused for good, the alarm topic
// (with alarmEmail), and the deployment's dashboard.
import { createHash } from 'node:crypto';
import { Aws, Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { copyRegions, settingOf, type EbsGensSettings, rulePrefix, requiredSetting } from './config';
import { CONTRACT, metricDimension, metricName } from './contract';
import { type FunctionName, contractEntry } from './functions';
import { layoutOnly } from './logical-ids';

/**
 * The deployment's CloudWatch dashboard: `ebs-gens-<deployment>`. Dashboard names allow only
 * [A-Za-z0-9_-] while a deployment may contain `.`: such a name has its dots replaced and a short
 * hash of the deployment appended, so "prod.eu" cannot take "prod_eu"'s or "prod-eu"'s dashboard.
 */
export function dashboardName(deployment: string): string {
  if (/^[A-Za-z0-9_-]+$/.test(deployment)) return `ebs-gens-${deployment}`;
  return `ebs-gens-${deployment.replace(/[^A-Za-z0-9_-]/g, '_')}-${createHash('sha256').update(deployment).digest('hex').slice(0, 8)}`;
}

export interface ObservabilityProps {
  readonly settings: EbsGensSettings;
  readonly snapshotCompleted: sfn.StateMachine;
  readonly sweep: sfn.StateMachine;
  readonly scheduleDeadLetterQueue: sqs.IQueue;
}

export class Observability extends Construct {
  readonly alarms: cloudwatch.Alarm[];
  /** With alarmEmail only: the topic every alarm notifies. */
  readonly alarmTopic?: sns.Topic;
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    layoutOnly(this);
    const { settings: s, snapshotCompleted, sweep } = props;
    const rulesBackend = requiredSetting(s, 'backend') === 'rules';

    // Alarms, only on what finally failed or was refused for good. A DeleteFailed or Transient error is
    // retried by the state machines and often made good, so per-invocation failure metrics are not
    // alarmed: what a retry could not fix ends the execution as failed (ExecutionsFailed, per state
    // machine). Permanent refusals, which no retry changes, are alarmed on their EMF metrics.
    const notBreaching = cloudwatch.TreatMissingData.NOT_BREACHING;
    // Namespace, metric and dimension names from contract.json: an alarm or a graph on a metric the
    // functions do not emit would never show anything, so such a name stops the synth (metricName throws).
    // The Function dimension is the function's name in contract.json (its binary's).
    const emfMetric = (name: string, fn: FunctionName, statistic: 'Sum' | 'Maximum', period: Duration, label?: string) =>
      new cloudwatch.Metric({
        namespace: CONTRACT.metrics.namespace,
        metricName: metricName(name),
        statistic,
        period,
        label,
        dimensionsMap: { [metricDimension('Deployment')]: s.deployment, [metricDimension('Function')]: contractEntry(fn).name },
      });
    // Counts of events (a snapshot failed, a delete was refused): Sum over 5 minutes, >= 1.
    const emf = (name: string, fn: FunctionName, why: string) =>
      new cloudwatch.Alarm(this, `${name}Alarm`, {
        alarmDescription: `ebs-gens ${s.deployment}: ${name} > 0 (${contractEntry(fn).name}): ${why}`,
        metric: emfMetric(name, fn, 'Sum', Duration.minutes(5)),
        threshold: 1,
        evaluationPeriods: 1,
        treatMissingData: notBreaching,
      });
    // States that last until someone acts (a volume without a recent snapshot, deletions held by the
    // fuse): every prune-volumes run reports them again — each hourly sweep batch, and the one-volume
    // prune after each snapshot — so a Sum would add the same volumes up. Maximum over an hour, > 0:
    // one run seeing it is enough, and with the hourly sweep reporting it each period the alarm stays
    // in ALARM (one notification) until it is fixed, rather than flapping between sweeps.
    const gauge = (name: string, fn: FunctionName, why: string) =>
      new cloudwatch.Alarm(this, `${name}Alarm`, {
        alarmDescription: `ebs-gens ${s.deployment}: ${name} > 0 (${contractEntry(fn).name}): ${why}`,
        metric: emfMetric(name, fn, 'Maximum', Duration.hours(1)),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: notBreaching,
      });
    const alarms = [
      // Express state machines publish ExecutionsFailed (and ExecutionsTimedOut) per
      // StateMachineArn like Standard ones: "All state machines emit metrics ... The following
      // metrics can be filtered with a StateMachineArn" (Step Functions developer guide, Monitoring
      // Step Functions metrics using Amazon CloudWatch, "Execution metrics for all state machines",
      // https://docs.aws.amazon.com/step-functions/latest/dg/procedure-cw-metrics.html).
      new cloudwatch.Alarm(this, 'SnapshotCompletedFailed', {
        alarmDescription: 'snapshot-completed executions failed (a snapshot failed, or tagging/pruning failed after retries)',
        metric: snapshotCompleted.metricFailed({ period: Duration.minutes(5), statistic: 'Sum' }),
        threshold: 1,
        evaluationPeriods: 1,
        treatMissingData: notBreaching,
      }),
      // Express only: an execution past the 5-minute limit ends as timed out, not failed.
      new cloudwatch.Alarm(this, 'SnapshotCompletedTimedOut', {
        alarmDescription:
          'snapshot-completed executions timed out (Express: 5 minutes); prune-volumes ran on to its own deadline and the next sweep prunes the rest',
        metric: snapshotCompleted.metricTimedOut({ period: Duration.minutes(5), statistic: 'Sum' }),
        threshold: 1,
        evaluationPeriods: 1,
        treatMissingData: notBreaching,
      }),
      new cloudwatch.Alarm(this, 'SweepFailed', {
        alarmDescription: 'sweep executions failed (rules or batches failed after retries)',
        metric: sweep.metricFailed({ period: Duration.hours(1), statistic: 'Sum' }),
        threshold: 1,
        evaluationPeriods: 1,
        treatMissingData: notBreaching,
      }),
      emf('SnapshotsFailed', 'tag-snapshot', 'EBS reported a snapshot failed'),
      emf(
        'SnapshotsBlocked',
        'prune-volumes',
        'a surplus snapshot cannot be deleted (an AMI uses it, AWS Backup manages it, or it is locked)',
      ),
      emf('DeleteDenied', 'prune-volumes', 'IAM refused a deletion (a deployment problem, or a snapshot pinned by policy)'),
      emf('VolumesDoubtful', 'prune-volumes', "a volume's snapshot listing looked wrong, so nothing was deleted for it"),
      emf('VolumesContested', 'prune-volumes', 'another deployment snapshots the volume too'),
      gauge(
        'VolumesStale',
        'prune-volumes',
        "a managed volume's newest completed snapshot is older than its schedule allows " +
          "(snapshots are not being taken: see the schedule dead-letter queue and SnapshotsFailed; the sweep output's attention list, " +
          'or `ebs-gens status`, names the volumes)',
      ),
      gauge(
        'DeletionsHeld',
        'prune-volumes',
        'the bulk-deletion fuse held planned deletions (nothing is deleted for those volumes ' +
          `until acknowledged: check the plan with \`ebs-gens plan\`, then tag the volume ${CONTRACT.tags.allow_bulk_delete}=<today, YYYY-MM-DD in the deployment's time zone> ` +
          'or run `ebs-gens sweep --remote --apply --allow-bulk-delete`)',
      ),
      // The schedule rules are created at runtime by ensure-schedules, so they are not in this template.
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
        alarmDescription:
          `EventBridge FailedInvocations > 0 on a default-bus rule of this account and region: ` +
          (rulesBackend
            ? `look first at this deployment's schedule rules (${rulePrefix(s)}<class>-…); ` +
              'a failure there means a create-snapshot target could not take its snapshot'
            : "look first at this deployment's sweep and snapshot-completed rules " +
              "(snapshot schedules are EventBridge Scheduler's: their failures reach the schedule dead-letter queue)"),
        metric: new cloudwatch.MathExpression({
          expression: 'SELECT SUM(FailedInvocations) FROM SCHEMA("AWS/Events", RuleName)',
          period: Duration.minutes(5),
          label: 'FailedInvocations, default-bus rules',
        }),
        threshold: 1,
        evaluationPeriods: 1,
        treatMissingData: notBreaching,
      }),
      // A snapshot Scheduler could not take, even after its retries (the schedules' dead-letter
      // queue). Maximum over 5 minutes: one message is enough, and it stays until someone looks.
      new cloudwatch.Alarm(this, 'ScheduleDeadLetters', {
        alarmDescription:
          `ebs-gens ${s.deployment}: a scheduled CreateSnapshot could not be delivered after retries ` +
          '(messages in the schedule dead-letter queue; their attributes name the schedule and the error)',
        metric: props.scheduleDeadLetterQueue.metricApproximateNumberOfMessagesVisible({
          period: Duration.minutes(5),
          statistic: 'Maximum',
        }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: notBreaching,
      }),
    ];
    // Only a deployment that copies has a recovery point elsewhere to watch (and pays for the alarm).
    if (copyRegions(s).length > 0) {
      alarms.push(
        gauge(
          'CopiesStale',
          'prune-volumes',
          "a copy destination's newest copy is older than its class allows (copies deferred by 20 in flight for long, or refused: " +
            'see CopiesFailed, the sweep output, or `ebs-gens status`, which names the volume and region)',
        ),
      );
      // Time-based copies: AWS's missed-completion event arrives in the destination region, which
      // this stack does not watch; the sweep finds a copy still pending past its duration.
      if (Number(settingOf(s, 'copyCompletionMinutes') ?? '0') > 0) {
        alarms.push(
          gauge(
            'CopiesLate',
            'prune-volumes',
            'a time-based copy is still pending after its completion duration (copyCompletionMinutes); `ebs-gens status` names the copy, volume and region',
          ),
        );
      }
    }
    // Locks AWS refused, or a volume whose locks could not be planned (nothing of it deleted).
    if ((settingOf(s, 'locks') ?? 'off') !== 'off') {
      alarms.push(
        gauge(
          'LocksFailed',
          'prune-volumes',
          'a snapshot lock was refused (IAM, a compliance lock that cannot change) or could not be planned (longer than lockMaxDays: nothing of that volume is deleted); `ebs-gens status` and the prune output name the volume',
        ),
      );
    }
    // Restore drills that failed: a drill volume in error, gone, or still creating after 30 min.
    if ((settingOf(s, 'drillVolumes') ?? 'off') !== 'off') {
      alarms.push(
        gauge(
          'RestoreDrillsFailed',
          'restore-drill',
          "a restore drill failed: a generation could not be restored to an available volume; the restore-drill function's log names the snapshot, volume and region",
        ),
      );
    }
    this.alarms = alarms;
    if (s.alarmEmail) {
      // A customer managed key CloudWatch may use, and a topic policy letting this account's alarms
      // publish. IAM rationale: docs/deploy.md#iam-alarm-topic
      const key = new kms.Key(this, 'AlarmTopicKey', {
        description: `ebs-gens ${s.deployment}: encrypts the alarm topic`,
        enableKeyRotation: true,
        // It only protects alarm messages in transit; nothing to keep once the stack is gone.
        removalPolicy: RemovalPolicy.DESTROY,
      });
      key.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'CloudWatchAlarmsOfThisAccountPublishToTheTopic',
          principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
          actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          resources: ['*'],
          conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
        }),
      );
      const topic = new sns.Topic(this, 'AlarmTopic', {
        displayName: `ebs-gens ${s.deployment} alarms`,
        enforceSSL: true,
        masterKey: key,
      });
      topic.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'CloudWatchAlarmsOfThisAccountPublish',
          principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
          actions: ['sns:Publish'],
          resources: [topic.topicArn],
          conditions: { ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:*` } },
        }),
      );
      topic.addSubscription(new subs.EmailSubscription(s.alarmEmail));
      for (const a of alarms) a.addAlarmAction(new cwActions.SnsAction(topic));
      this.alarmTopic = topic;
    }

    // One dashboard per deployment: what was done (deleted, adopted), what waits for someone (held,
    // stale, orphaned, misconfigured), what failed. EMF names from contract.json (emfMetric), like the
    // alarms. Hourly points, the sweep's rhythm. Counts of events are summed; the states every
    // prune-volumes run reports again (stale, held, orphaned, doubtful...) are shown as the largest
    // count one run saw in the hour — one sweep batch holds at most 100 volumes, one discover page 250.
    const hour = Duration.hours(1);
    const graph = (title: string, metrics: cloudwatch.IMetric[], width = 8) =>
      new cloudwatch.GraphWidget({
        title,
        left: metrics,
        width,
        height: 6,
        period: hour,
        leftYAxis: { min: 0 },
        legendPosition: cloudwatch.LegendPosition.BOTTOM,
      });
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
      graph('Deletions held by the bulk-deletion fuse', [
        emfMetric('DeletionsHeld', 'prune-volumes', 'Maximum', hour, 'held (largest in one run)'),
      ]),
      graph('Stale volumes (no recent snapshot)', [
        emfMetric('VolumesStale', 'prune-volumes', 'Maximum', hour, 'stale (largest in one run)'),
        ...(copyRegions(s).length > 0
          ? [emfMetric('CopiesStale', 'prune-volumes', 'Maximum', hour, 'copies stale (largest in one run)')]
          : []),
      ]),
    );
    dashboard.addWidgets(
      // Only the sweep's orphan scan counts orphans; every other prune-volumes run publishes 0.
      graph('Orphaned snapshots (kept by default)', [
        emfMetric('SnapshotsOrphaned', 'prune-volumes', 'Maximum', hour, 'orphaned (orphan scan)'),
      ]),
      graph('Failed snapshots', [emfMetric('SnapshotsFailed', 'tag-snapshot', 'Sum', hour, 'failed (tag-snapshot)')]),
      graph('Volumes needing attention', [
        emfMetric('VolumesMisconfigured', 'discover-volumes', 'Maximum', hour, 'misconfigured (discover-volumes, largest page)'),
        emfMetric('VolumesDoubtful', 'prune-volumes', 'Maximum', hour, 'doubtful (prune-volumes)'),
        emfMetric('VolumesContested', 'prune-volumes', 'Maximum', hour, 'contested (prune-volumes)'),
      ]),
    );
    dashboard.addWidgets(
      graph(
        'State machine executions failed or timed out',
        [
          snapshotCompleted.metricFailed({ period: hour, statistic: 'Sum', label: 'snapshot-completed failed' }),
          snapshotCompleted.metricTimedOut({ period: hour, statistic: 'Sum', label: 'snapshot-completed timed out (Express)' }),
          sweep.metricFailed({ period: hour, statistic: 'Sum', label: 'sweep failed' }),
        ],
        24,
      ),
    );
    this.dashboard = dashboard;
  }
}
