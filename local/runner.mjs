// Runs an ebs-gens state machine locally: the ASL from statemachine/, executed by
// aws-local-stepfunctions, with every Lambda task sent to the Lambda Invoke API served by
// `cargo lambda watch` (functions are named by their binary names).
import './polyfill.mjs';
import { readFileSync } from 'node:fs';
import { StateMachine } from 'aws-local-stepfunctions';
import { FUNCTIONS } from './contract.mjs';

/** `${...}` substitutions of the ASL: the function each placeholder names (from contract.json). */
export { FUNCTIONS };

export function loadDefinition(file, substitutions = FUNCTIONS) {
  let text = readFileSync(file, 'utf8');
  for (const [key, value] of Object.entries(substitutions)) {
    text = text.replaceAll(`\${${key}}`, value);
  }
  const left = text.match(/\$\{[A-Za-z]+\}/);
  if (left) throw new Error(`${file}: no substitution for ${left[0]}`);
  return JSON.parse(text);
}

/** Every Task state's name, including those inside Map and Parallel states. */
export function taskStates(definition) {
  return statesOfType(definition, 'Task');
}

/** The names of every Wait state in a definition. */
export function waitStates(definition) {
  return statesOfType(definition, 'Wait');
}

function statesOfType(definition, type) {
  const names = [];
  const walk = (machine) => {
    for (const [name, state] of Object.entries(machine.States)) {
      if (state.Type === type) names.push(name);
      const inner = state.ItemProcessor ?? state.Iterator;
      if (inner) walk(inner);
      for (const branch of state.Branches ?? []) walk(branch);
    }
  };
  walk(definition);
  return names;
}

/**
 * Invokes a function through the Lambda Invoke API. A function error becomes a thrown Error whose
 * `name` is the function's `errorType` — what `ErrorEquals` matches in AWS.
 */
export async function invoke(endpoint, functionName, payload) {
  const url = `${endpoint}/2015-03-31/functions/${encodeURIComponent(functionName)}/invocations`;
  let res;
  try {
    res = await fetch(url, { method: 'POST', body: JSON.stringify(payload ?? {}), headers: { 'content-type': 'application/json' } });
  } catch (e) {
    const err = new Error(`cannot reach the Lambda endpoint ${endpoint}: ${e.message}`);
    err.name = 'Lambda.ServiceException';
    throw err;
  }
  const text = await res.text();
  // Real Lambda answers 200 with X-Amz-Function-Error; cargo lambda watch answers 500.
  if (res.status >= 400 || res.headers.get('x-amz-function-error')) {
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      // An empty 408 is cargo lambda watch's --timeout (stack.mjs startWatch): reported, like a
      // timed-out function in AWS, as Lambda.Unknown.
      const why = res.status === 408 && !text ? `HTTP 408: no response within cargo lambda watch --timeout` : text;
      body = { errorType: res.status === 429 ? 'Lambda.TooManyRequestsException' : 'Lambda.Unknown', errorMessage: why };
    }
    const err = new Error(body.errorMessage ?? text);
    err.name = body.errorType ?? 'Lambda.Unknown';
    throw err;
  }
  return text ? JSON.parse(text) : null;
}

/**
 * Runs `file` with `input`. Returns `{ ok, output, error, cause, invocations }` — `invocations`
 * lists every Lambda call ({ state, function, input, output, error, ms }) so callers can see
 * retries. Wait states wait `waitMs` (moto completes copies at once: nothing to wait for).
 */
export async function runStateMachine(file, input, { endpoint, retryDelayMs = 0, waitMs = 0, onEvent } = {}) {
  if (!endpoint) throw new Error('a Lambda endpoint is required (cargo lambda watch)');
  const definition = loadDefinition(file);
  const machine = new StateMachine(definition, { validationOptions: { checkPaths: true, checkArn: false } });
  const invocations = [];
  const taskResourceLocalHandlers = {};
  const retryIntervalOverrides = {};
  for (const state of taskStates(definition)) {
    retryIntervalOverrides[state] = retryDelayMs;
    taskResourceLocalHandlers[state] = async (params) => {
      const record = { state, function: params.FunctionName, input: params.Payload, error: null, output: null, ms: 0 };
      invocations.push(record);
      const t0 = Date.now();
      try {
        const Payload = await invoke(endpoint, params.FunctionName, params.Payload);
        record.output = Payload;
        return { Payload, StatusCode: 200 };
      } catch (e) {
        record.error = e.name;
        throw e;
      } finally {
        record.ms = Date.now() - t0;
      }
    };
  }
  const waitTimeOverrides = Object.fromEntries(waitStates(definition).map((state) => [state, waitMs]));
  const execution = machine.run(input, { overrides: { taskResourceLocalHandlers, retryIntervalOverrides, waitTimeOverrides } });
  const events = (async () => {
    for await (const ev of execution.eventLogs) onEvent?.(ev);
  })();
  try {
    const output = await execution.result;
    await events.catch(() => {});
    return { ok: true, output, invocations };
  } catch (e) {
    await events.catch(() => {});
    const failure = e.cause ?? e;
    return { ok: false, error: failure.name, cause: failure.message, invocations };
  }
}
