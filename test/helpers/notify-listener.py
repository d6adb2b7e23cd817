#!/usr/bin/env python3
"""Stand-in for systemd's notification socket: bind a datagram socket at argv[1] and print each
datagram received as one JSON line (a list of its KEY=VALUE lines) on stdout, flushed, so a
test can wait on READY=1 / STOPPING=1 / WATCHDOG=1 as events. Prints "listening" once bound."""
import json
import socket
import sys

s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening", flush=True)
while True:
    data = s.recv(8192)
    print(json.dumps(data.decode("utf-8", "replace").split("\n")), flush=True)
