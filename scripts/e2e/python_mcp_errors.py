"""Sends the errors the MCP server test browses, through the real Python sentry-sdk.

Usage: python_mcp_errors.py DSN
One ValueError raised from `charge_card` three times (twice in environment `production`,
once in `staging`), each with a breadcrumb, a user and a `checkout.step` tag; the SDK is
re-initialised per environment, as two deployments would be.
"""
import sys

import sentry_sdk


def charge_card(amount):
    raise ValueError(f"card declined for amount {amount}")


def send(dsn, environment, step, user_id):
    sentry_sdk.init(dsn=dsn, debug=True, release="shop@2.1.0", environment=environment)
    sentry_sdk.set_user({"id": user_id, "email": f"{user_id}@example.com"})
    sentry_sdk.set_tag("checkout.step", step)
    sentry_sdk.add_breadcrumb(category="checkout", message=f"user reached {step}", level="info")
    try:
        charge_card(42)
    except ValueError:
        sentry_sdk.capture_exception()
    sentry_sdk.flush(timeout=10)


def main():
    dsn = sys.argv[1]
    send(dsn, "production", "payment", "user-1")
    send(dsn, "production", "payment", "user-2")
    send(dsn, "staging", "review", "user-3")


if __name__ == "__main__":
    main()
