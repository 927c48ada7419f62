"""Raises errors through the real Python sentry-sdk against an Errata DSN.

Usage: python_errors.py DSN
The same ZeroDivisionError from one place 5 times, and a KeyError once.
"""
import sys

import sentry_sdk


def divide(a, b):
    return a / b


def lookup(table, key):
    return table[key]


def main():
    sentry_sdk.init(dsn=sys.argv[1], debug=True, release="e2e@1.0.0", environment="e2e")
    for i in range(5):
        try:
            divide(i, 0)
        except ZeroDivisionError:
            sentry_sdk.capture_exception()
    try:
        lookup({}, "missing")
    except KeyError:
        sentry_sdk.capture_exception()
    sentry_sdk.flush(timeout=10)


if __name__ == "__main__":
    main()
