"""Raises one error through the real Python sentry-sdk, after leaving a breadcrumb.

Usage: python_breadcrumb.py DSN
"""
import sys

import sentry_sdk


def checkout(cart):
    total = sum(cart)
    return total / len(cart[1:])


def main():
    sentry_sdk.init(dsn=sys.argv[1], debug=True, release="shop@2.1.0", environment="e2e")
    sentry_sdk.add_breadcrumb(category="cart", message="started checkout with 1 item", level="info")
    try:
        checkout([5])
    except ZeroDivisionError:
        sentry_sdk.capture_exception()
    sentry_sdk.flush(timeout=10)


if __name__ == "__main__":
    main()
