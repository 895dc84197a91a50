// Starts the local stack the state machines run on, all on 127.0.0.1: a moto server (EC2,
// EventBridge, Scheduler, SSM; moto_server.py), a small fault-injecting proxy in front of it, and
// `cargo lambda watch` serving the five functions with AWS_ENDPOINT_URL pointed at the proxy. Like
// the CDK stack, it publishes the deployment's configuration in SSM (/ebs-gens/<deployment>/config),
// where the `ebs-gens` CLI reads it. `stop()` ends all of them; `fleet(...)` runs fleet.py against
// the emulator (seed a fleet, fire schedules, read its state).
//
// The rest of local/: runner.mjs runs a state machine's ASL on this stack (aws-local-stepfunctions);
// contract.mjs reads contract.json; fixtures.mjs builds EBS events; package.json pins the Node tools.
import { spawn, execFileSync } from 'node:child_process';
import { createServer, request } from 'node:http';
import { createServer as createNetServer, connect } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONTRACT, MAX_TIMEOUT_SECONDS } from './contract.mjs';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const ACCOUNT = '123456789012';
export const DEPLOYMENT = 'demo';
export const SNAPSHOT_ROLE = `arn:aws:iam::${ACCOUNT}:role/ebs-gens-${DEPLOYMENT}-snapshot`;
export const SCHEDULER_ROLE = `arn:aws:iam::${ACCOUNT}:role/ebs-gens-${DEPLOYMENT}-scheduler`;
export const SCHEDULE_GROUP = `ebs-gens-${DEPLOYMENT}`;

export async function freePort() {
  return new Promise((res, rej) => {
    const s = createNetServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

async function waitForPort(port, what, child, timeoutMs) {
  const t0 = Date.now();
  for (;;) {
    if (child && child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    const ok = await new Promise((res) => {
      const c = connect(port, '127.0.0.1', () => {
        c.end();
        res(true);
      });
      c.on('error', () => res(false));
    });
    if (ok) return;
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what} did not listen on ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** mulberry32: a small seeded PRNG, so a chaos run repeats. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The error a throttled or failing AWS service sends, shaped as each protocol sends it: EC2's
 * query protocol answers XML (`RequestLimitExceeded` with 503, `InternalError` with 500);
 * JSON-protocol services such as EventBridge answer `{"__type": …}` with `x-amzn-ErrorType`
 * (`ThrottlingException` with 400, `InternalException` with 500).
 */
function awsError(res, json, throttled) {
  if (json) {
    const type = throttled ? 'ThrottlingException' : 'InternalException';
    res.writeHead(throttled ? 400 : 500, {
      'content-type': 'application/x-amz-json-1.1',
      'x-amzn-errortype': type,
      'x-amzn-requestid': 'chaos',
    });
    res.end(JSON.stringify({ __type: type, message: throttled ? 'Rate exceeded' : 'Internal service error (injected)' }));
  } else {
    const [status, code, message] = throttled
      ? [503, 'RequestLimitExceeded', 'Request limit exceeded.']
      : [500, 'InternalError', 'An internal error has occurred.'];
    res.writeHead(status, { 'content-type': 'text/xml;charset=UTF-8' });
    res.end(
      `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${code}</Code><Message>${message}</Message></Error></Errors><RequestID>chaos</RequestID></Response>`,
    );
  }
}

/**
 * A proxy in front of moto.
 * - `faults.push({ action: 'DeleteSnapshot', times: 1 })` makes the next matching call(s) fail
 *   with an EC2 error that the SDK does not retry, so the failure reaches the state machine's Retry.
 * - `chaos({ rate: 0.2, seed: 7 })` fails that fraction of *all* AWS calls, seeded, half
 *   throttling and half 5xx, shaped as the real services send them (the SDK retries them);
 *   `chaos(null)` stops. `injected` counts the calls failed so far.
 */
async function startProxy(target) {
  const faults = [];
  const seen = [];
  let chaos = null;
  const stats = { injected: 0 };
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const amzTarget = req.headers['x-amz-target'];
      const action = /(?:^|&)Action=([A-Za-z]+)/.exec(body.toString())?.[1] ?? amzTarget ?? '';
      seen.push(action);
      if (chaos && chaos.next() < chaos.rate) {
        stats.injected += 1;
        awsError(res, Boolean(amzTarget), chaos.next() < 0.5);
        return;
      }
      const fault = faults.find((f) => f.times > 0 && action.endsWith(f.action));
      if (fault) {
        fault.times -= 1;
        res.writeHead(400, { 'content-type': 'text/xml' });
        res.end(
          `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>${fault.code ?? 'IncorrectState'}</Code><Message>injected by the test proxy</Message></Error></Errors><RequestID>proxy</RequestID></Response>`,
        );
        return;
      }
      const up = request(`${target}${req.url}`, { method: req.method, headers: { ...req.headers, host: new URL(target).host } }, (r) => {
        res.writeHead(r.statusCode, r.headers);
        r.pipe(res);
      });
      up.on('error', (e) => {
        res.writeHead(502);
        res.end(String(e));
      });
      up.end(body);
    });
  });
  const port = await freePort();
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${port}`,
    faults,
    seen,
    stats,
    chaos: (opts) => {
      chaos = opts ? { rate: opts.rate, next: prng(opts.seed ?? 1) } : null;
      stats.injected = 0;
      seen.length = 0;
    },
    close: () => new Promise((r) => server.close(r)),
  };
}

export function lambdaEnv(endpoint, extra = {}) {
  return {
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    EBS_GENS_ACCOUNT_ID: ACCOUNT,
    EBS_GENS_DEPLOYMENT: DEPLOYMENT,
    EBS_GENS_SNAPSHOT_ROLE_ARN: SNAPSHOT_ROLE,
    EBS_GENS_SCHEDULER_ROLE_ARN: SCHEDULER_ROLE,
    EBS_GENS_SCHEDULE_GROUP: SCHEDULE_GROUP,
    EBS_GENS_DELETE_BURST: '100',
    EBS_GENS_DELETES_PER_SECOND: '50',
    ...extra,
  };
}

/** The SSM parameter of a deployment's configuration (contract.json config_parameter, as the CDK stack names it). */
export const configParameterName = (deployment) => CONTRACT.config_parameter.name.replaceAll('{deployment}', deployment);

/**
 * The deployment's configuration as the CDK stack publishes it (cdk/lib/ebs-gens-stack.ts
 * deploymentConfig), from the variables the local functions get: `environment` is every EBS_GENS_*
 * one of them, exactly as given (the CLI builds its settings from it alone). The local runner has no
 * state machine ARNs (aws-local-stepfunctions runs the ASL files), so these are the names a
 * deployment's would have.
 */
export function deploymentConfig(vars) {
  const environment = Object.fromEntries(Object.entries(vars).filter(([k]) => k.startsWith('EBS_GENS_')));
  const deployment = environment.EBS_GENS_DEPLOYMENT;
  const region = vars.AWS_REGION;
  const account = environment.EBS_GENS_ACCOUNT_ID;
  const arn = (machine) => `arn:aws:states:${region}:${account}:stateMachine:ebs-gens-${deployment}-${machine}`;
  return {
    schema: CONTRACT.config_parameter.schema,
    deployment,
    region,
    account_id: account,
    environment,
    state_machines: { sweep: arn('sweep'), snapshot_completed: arn('snapshot-completed'), restore_drill: arn('restore-drill') },
  };
}

/**
 * Writes the configuration into the emulator's SSM (PutParameter, String, Overwrite). moto serves
 * every service on one port and routes a request by the credential scope of its Authorization
 * header, checking no signature, so a plain fetch does. Only ever an emulator on loopback.
 */
export async function publishConfig(motoUrl, vars) {
  if (!/^http:\/\/(127\.|localhost[:/])/.test(motoUrl)) throw new Error(`publishConfig: ${motoUrl} is not an emulator on loopback`);
  const config = deploymentConfig(vars);
  const name = configParameterName(config.deployment);
  const res = await fetch(motoUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': 'AmazonSSM.PutParameter',
      authorization: `AWS4-HMAC-SHA256 Credential=${vars.AWS_ACCESS_KEY_ID}/20260101/${config.region}/ssm/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: JSON.stringify({ Name: name, Type: 'String', Tier: 'Standard', Overwrite: true, Value: JSON.stringify(config) }),
  });
  if (!res.ok) throw new Error(`PutParameter ${name} on ${motoUrl}: HTTP ${res.status} ${await res.text()}`);
  return config;
}

function stopChildren(children) {
  for (const c of [...children].reverse()) {
    if (c.exitCode === null) {
      try {
        process.kill(-c.pid, 'SIGTERM');
      } catch {
        c.kill('SIGTERM');
      }
    }
  }
}

/**
 * Starts `cargo lambda watch` on a free loopback port with `vars` for the functions.
 *
 * Timeouts: cargo lambda watch (1.9.2) cannot give a function its Lambda timeout or deadline.
 * - `--timeout <seconds>` is one value for the whole server (no per-function setting): a
 *   tower-http TimeoutLayer that answers any request still running after that long with an empty
 *   HTTP 408 (invoke() reports it as Lambda.Unknown, as Step Functions reports a timed-out
 *   function). It neither stops the function nor reaches its invocation context. We set it to the
 *   longest timeout in contract.json (prune-volumes, 900 s), so nothing waits longer than Lambda
 *   ever would. The shorter functions (120 s in AWS) are bounded locally only by their Task states'
 *   TimeoutSeconds (contract task_timeout_seconds, 30 s more), which aws-local-stepfunctions
 *   enforces as States.Timeout.
 * - The deadline each invocation carries (Lambda-Runtime-Deadline-Ms, lambda_runtime's
 *   Context::deadline) is a constant 600000 ms since the epoch, whatever --timeout says
 *   (crates/cargo-lambda-watch/src/runtime/functions_router.rs), and no AWS_LAMBDA_FUNCTION_TIMEOUT
 *   or similar variable is read. That deadline lies in 1970, so shared/src/app/runtime.rs
 *   deadline() falls back to the invocation's start plus the function's timeout from the contract:
 *   prune-volumes' deadline deferral (no delete started within 10 s of the deadline) works
 *   locally as in AWS.
 */
export async function startWatch(vars, log = () => {}) {
  const port = await freePort();
  const args = ['lambda', 'watch', '-A', '127.0.0.1', '-P', String(port), '--timeout', String(MAX_TIMEOUT_SECONDS)];
  for (const [k, v] of Object.entries(vars)) args.push('--env-var', `${k}=${v}`);
  const watch = spawn(`${ROOT}/.venv/bin/cargo-lambda`, args, {
    cwd: ROOT,
    env: { ...process.env, ...vars, CARGO_TERM_COLOR: 'never' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  watch.stdout.on('data', (d) => log(String(d)));
  watch.stderr.on('data', (d) => log(String(d)));
  try {
    await waitForPort(port, 'cargo lambda watch', watch, 120_000);
  } catch (e) {
    stopChildren([watch]);
    throw e;
  }
  return { endpoint: `http://127.0.0.1:${port}`, stop: () => stopChildren([watch]) };
}

/** Starts moto, the proxy and cargo lambda watch. `env` adds function settings. */
export async function startStack({ env = {}, log = () => {} } = {}) {
  const children = [];
  let proxy;
  let watch;
  const stopAll = async () => {
    watch?.stop();
    stopChildren(children);
    await proxy?.close();
  };
  const motoPort = await freePort();
  const moto = spawn(`${ROOT}/.venv/bin/python`, [`${ROOT}/local/moto_server.py`, '-H', '127.0.0.1', '-p', String(motoPort)], {
    env: { ...process.env, MOTO_EC2_LOAD_DEFAULT_AMIS: 'false' },
    stdio: 'ignore',
    detached: true,
  });
  children.push(moto);
  try {
    await waitForPort(motoPort, 'moto_server', moto, 60_000);
    const motoUrl = `http://127.0.0.1:${motoPort}`;
    proxy = await startProxy(motoUrl);
    const vars = lambdaEnv(proxy.url, env);
    const config = await publishConfig(motoUrl, vars);
    watch = await startWatch(vars, log);
    return {
      motoUrl,
      proxy,
      lambdaEndpoint: watch.endpoint,
      config,
      fleet: (...args) =>
        JSON.parse(
          execFileSync(`${ROOT}/.venv/bin/python`, [`${ROOT}/local/fleet.py`, '--endpoint', motoUrl, ...args], { encoding: 'utf8' }),
        ),
      // Resetting moto empties its SSM too: the configuration is published again, as a deployment keeps it.
      reset: async () => {
        await fetch(`${motoUrl}/moto-api/reset`, { method: 'POST' });
        await publishConfig(motoUrl, vars);
      },
      stop: stopAll,
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
