"""Sends an error full of secrets through the real Python sentry-sdk.

Usage: SCRUB_PASSWORD=… SCRUB_BEARER=… SCRUB_CARD=… python_scrub.py DSN
(The secrets come from the environment, not argv: the SDK reports `sys.argv`.)
A request to a tiny WSGI app (wrapped by the SDK's WSGI middleware, with
send_default_pii=True and an empty client-side denylist, so the SDK itself scrubs
nothing and only the server stands between the secrets and the disk) fails: the request carries
`Authorization: Bearer <SCRUB_BEARER>`, the failing frame holds SCRUB_PASSWORD in a
local variable, and the exception message contains SCRUB_CARD. `before_send` only checks that
the event leaving the SDK really carries all three, and says so.
"""
import io
import os
import sys

import sentry_sdk
from sentry_sdk.integrations.wsgi import SentryWsgiMiddleware
from sentry_sdk.scrubber import EventScrubber

DSN = sys.argv[1]
PASSWORD, BEARER, CARD = (os.environ[name] for name in ("SCRUB_PASSWORD", "SCRUB_BEARER", "SCRUB_CARD"))


def charge(card, amount):
    password = PASSWORD  # noqa: F841 -- a local the SDK reports with the frame
    raise ValueError(f"payment declined for card {card} (amount {amount})")


def app(environ, start_response):
    charge(CARD, 42)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def before_send(event, hint):
    text = repr(event)
    carried = [name for name, secret in (("password", PASSWORD), ("bearer", BEARER), ("card", CARD)) if secret in text]
    print("SDK event carries: " + ",".join(sorted(carried)), flush=True)
    return event


def main():
    sentry_sdk.init(
        dsn=DSN,
        send_default_pii=True,
        event_scrubber=EventScrubber(denylist=[], send_default_pii=True),
        include_local_variables=True,
        before_send=before_send,
        debug=True,
    )
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/checkout",
        "QUERY_STRING": "step=pay",
        "SERVER_NAME": "shop.test",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "shop.test",
        "HTTP_AUTHORIZATION": f"Bearer {BEARER}",
        "REMOTE_ADDR": "198.51.100.7",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
    }
    try:
        SentryWsgiMiddleware(app)(environ, lambda status, headers: None)
    except ValueError:
        pass
    sentry_sdk.flush(timeout=10)


if __name__ == "__main__":
    main()
