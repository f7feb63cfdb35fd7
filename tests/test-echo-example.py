#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The README's echo server (examples/echo-server.c) runs: 50 clients at once, 20 round trips each.
ARGS: the echo-server binary."""
import socket
import subprocess
import sys
import threading

proc = subprocess.Popen([sys.argv[1], "0"], stdout=subprocess.PIPE, universal_newlines=True)
try:
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        print(f"not ok - no 'listening on PORT' line: {line!r}")
        sys.exit(1)
    port = int(line.split()[2])
    bad = []

    def client(i):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                for k in range(20):
                    msg = f"client {i} message {k}\n".encode()
                    s.sendall(msg)
                    got = b""
                    while len(got) < len(msg):
                        b = s.recv(4096)
                        if not b:
                            break
                        got += b
                    if got != msg:
                        bad.append((i, k, got))
                        return
        except OSError as e:
            bad.append((i, str(e)))

    ts = [threading.Thread(target=client, args=(i,)) for i in range(50)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("ok - 50 clients x 20 echoes" if not bad else f"not ok - {bad[:3]}")
    sys.exit(1 if bad else 0)
finally:
    proc.kill()
    proc.wait()
