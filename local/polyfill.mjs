// aws-local-stepfunctions 3 uses Promise.withResolvers (Node >= 22). On Node 20 every Task would
// fail with a TypeError that a `Catch: States.ALL` then hides, so provide it before loading it.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers() {
    let resolve;
    let reject;
    const promise = new Promise((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}
