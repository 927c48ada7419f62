// The Node entry: reports the checkout's error through @sentry/node (left external).
import * as Sentry from "@sentry/node";
import { checkout, CART } from "./checkout.js";

Sentry.init({ dsn: process.env.ERRATA_DSN, release: process.env.ERRATA_RELEASE });
try {
  checkout(CART);
} catch (error) {
  Sentry.captureException(error);
}
Sentry.flush(10000).then((flushed) => console.log(`flushed: ${flushed}`));
