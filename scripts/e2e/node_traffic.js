// Sends errors, a transaction and a session through the real @sentry/node SDK to an Errata DSN.
//
// Usage: node node_traffic.js DSN   (with NODE_PATH pointing at the installed node_modules)
// A RangeError from one place 5 times (values differ, so the SDK's own de-duplication of
// identical consecutive errors keeps them all), a TypeError once, one transaction with a
// child span, and one session. Debug output goes to stdout/stderr for the caller to check.
const Sentry = require("@sentry/node");

function divide(a, b) {
  if (b === 0) {
    throw new RangeError(`cannot divide ${a} by zero`);
  }
  return a / b;
}

function lookup(table, key) {
  return table[key].value;
}

async function main() {
  Sentry.init({
    dsn: process.argv[2],
    debug: true,
    release: "e2e-node@1.0.0",
    environment: "e2e",
    tracesSampleRate: 1.0,
  });
  for (let i = 0; i < 5; i++) {
    try {
      divide(i, 0);
    } catch (e) {
      Sentry.captureException(e);
    }
  }
  try {
    lookup({}, "missing");
  } catch (e) {
    Sentry.captureException(e);
  }
  Sentry.startSpan({ name: "checkout", op: "task" }, () => {
    Sentry.startSpan({ name: "load cart", op: "db.query" }, () => {});
  });
  Sentry.startSession();
  Sentry.captureSession();
  Sentry.endSession();
  const flushed = await Sentry.flush(10000);
  await Sentry.close(10000);
  console.log(`flushed: ${flushed}`);
}

main().catch((e) => {
  console.error("sender failed:", e);
  process.exit(1);
});
