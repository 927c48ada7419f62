"""Sends errors, a transaction and a session through the real Python sentry-sdk.

Usage: python_traffic.py DSN
The same ZeroDivisionError from one place 3 times, a KeyError once, one transaction
with a child span, and one session.
"""
import sys

import sentry_sdk


def divide(a, b):
    return a / b


def lookup(table, key):
    return table[key]


def main():
    sentry_sdk.init(
        dsn=sys.argv[1],
        debug=True,
        release="e2e-py@1.0.0",
        environment="e2e",
        traces_sample_rate=1.0,
    )
    for i in range(3):
        try:
            divide(i, 0)
        except ZeroDivisionError:
            sentry_sdk.capture_exception()
    try:
        lookup({}, "missing")
    except KeyError:
        sentry_sdk.capture_exception()
    with sentry_sdk.start_transaction(name="checkout", op="task"):
        with sentry_sdk.start_span(op="db.query", name="load cart"):
            pass
    scope = sentry_sdk.get_isolation_scope()
    scope.start_session(session_mode="application")
    scope.end_session()
    sentry_sdk.flush(timeout=10)


if __name__ == "__main__":
    main()
