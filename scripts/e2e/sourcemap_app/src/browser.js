// The browser entry: @sentry/browser is bundled in; the page sets the DSN and release.
import * as Sentry from "@sentry/browser";
import { checkout, CART } from "./checkout.js";

Sentry.init({ dsn: window.ERRATA_DSN, release: window.ERRATA_RELEASE });
try {
  checkout(CART);
} catch (error) {
  Sentry.captureException(error);
}
Sentry.flush(10000).then((flushed) => {
  window.errataFlushed = flushed;
});
