#!/usr/bin/env node
// Size and local start-up time of each release Lambda binary (what `make coldstart` prints).
//
// Init time is measured as Lambda sees it: from spawning the binary to its first
// `GET /2018-06-01/runtime/invocation/next` on a Runtime API served here on 127.0.0.1 — settings
// read, the AWS SDK configuration loaded and the clients built. Median (and min/max) of RUNS
// starts per function, one at a time. Nothing leaves the machine: the Runtime API is local and no
// AWS call is made before the first invocation.
//
//   node scripts/coldstart.mjs [--runs 20] [--dir TARGET/release]
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { CONTRACT } from '../local/contract.mjs';
import { ROOT } from '../local/stack.mjs';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '20' }, dir: { type: 'string' } } });
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1 || runs > 1000) {
  console.error(`--runs ${values.runs}: a whole number 1..1000`);
  process.exit(2);
}
const dir = values.dir ?? `${process.env.CARGO_TARGET_DIR ?? `${ROOT}/target`}/release`;

/** A Runtime API that resolves `waitNext()` when the binary first asks for an invocation. */
async function runtimeApi() {
  let waiter = null;
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/2018-06-01/runtime/invocation/next') {
      const t = process.hrtime.bigint();
      waiter?.(t);
      waiter = null;
      // Never answer: the process is killed once the time is taken.
      req.on('close', () => res.destroy());
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    address: `127.0.0.1:${server.address().port}`,
    waitNext: () =>
      new Promise((ok) => {
        waiter = ok;
      }),
    close: () => new Promise((ok) => server.close(ok)),
  };
}

async function once(bin, name, memoryMb, api) {
  const next = api.waitNext();
  const t0 = process.hrtime.bigint();
  const child = spawn(bin, [], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      PATH: process.env.PATH,
      AWS_LAMBDA_RUNTIME_API: api.address,
      AWS_LAMBDA_FUNCTION_NAME: name,
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(memoryMb),
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${name}`,
      AWS_LAMBDA_LOG_STREAM_NAME: 'coldstart',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'coldstart',
      AWS_SECRET_ACCESS_KEY: 'coldstart',
      EBS_GENS_ACCOUNT_ID: '123456789012',
      EBS_GENS_DEPLOYMENT: 'coldstart',
      // No profile files: the SDK must not read the operator's ~/.aws.
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      AWS_EC2_METADATA_DISABLED: 'true',
    },
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise((ok) => child.on('exit', (code) => ok(code)));
  const t1 = await Promise.race([
    next,
    exited.then((code) => {
      throw new Error(`${name} exited ${code} before asking for an invocation: ${stderr.trim()}`);
    }),
  ]);
  child.kill('SIGKILL');
  await exited;
  return Number(t1 - t0) / 1e6;
}

const api = await runtimeApi();
const rows = [];
try {
  for (const f of CONTRACT.functions) {
    const bin = `${dir}/${f.name}`;
    const size = statSync(bin).size;
    await once(bin, f.name, f.memory_mb, api); // warm the page cache: every start after this is comparable
    const ms = [];
    for (let i = 0; i < runs; i++) ms.push(await once(bin, f.name, f.memory_mb, api));
    ms.sort((a, b) => a - b);
    rows.push({ name: f.name, size, median: ms[Math.floor(ms.length / 2)], min: ms[0], max: ms.at(-1) });
  }
} finally {
  await api.close();
}
console.log(`| function | binary | init median (${runs} starts) | min | max |`);
console.log('|---|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(
    `| ${r.name} | ${(r.size / 1e6).toFixed(1)} MB | ${r.median.toFixed(1)} ms | ${r.min.toFixed(1)} ms | ${r.max.toFixed(1)} ms |`,
  );
}
console.log(`\nRelease profile: ${dir}; init = spawn → first GET /runtime/invocation/next on 127.0.0.1.`);
