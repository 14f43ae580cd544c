"""Run `emovox demo` for the browser test with the network cut off beyond loopback.

An audit hook refuses (and reports on stderr, as ``BLOCKED NETWORK``) every DNS lookup and connection to a
host that is not this machine, so the test proves the demo works offline. Usage (from the repository root):
``python -m tests.browser.serve_demo --port 7860 [other emovox demo options]``.
"""

from __future__ import annotations

import ipaddress
import sys

LOCAL_NAMES = {"localhost", "localhost.localdomain", ""}


def is_local(host) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    host = str(host).strip("[]").split("%")[0]
    if host.lower() in LOCAL_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def guard(event: str, args: tuple) -> None:
    if event == "socket.getaddrinfo":
        host = args[0]
    elif event == "socket.connect" and isinstance(args[1], tuple):
        host = args[1][0]
    else:
        return
    if not is_local(host):
        print(f"BLOCKED NETWORK: {event} {host!r}", file=sys.stderr, flush=True)
        raise OSError(f"network access outside loopback is blocked in this test ({host!r})")


if __name__ == "__main__":
    sys.addaudithook(guard)
    from emovox.cli import main

    sys.exit(main(["demo", *sys.argv[1:]]))
