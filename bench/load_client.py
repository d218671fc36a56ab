# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""One kind of HTTP client under paced load, recording every request.

Run as a process of its own (one per client kind, so the kinds do not share a GIL):

    python bench/load_client.py --kind ka_retry --port 8080 --rate 400 --conns 16 --max-seconds 600 --out FILE

Kinds:
  new         a new connection per request (``Connection: close``)
  ka_retry    keepalive; a request that fails on a reused connection before any response byte
              arrived is retried once on a new connection (what browsers and most HTTP libraries do)
  ka_noretry  keepalive with no retry (what wrk does): every failure is counted

Every request becomes one CSV row ``t_send,t_done,colour,status,error,retried`` with times from
``time.monotonic()`` (CLOCK_MONOTONIC, shared by every process on the machine, so the rows line up
with the switch events the driver records). The process stops on SIGTERM/SIGINT, after
``--max-seconds`` or after ``--max-requests`` and then writes the file.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sys
import time

COLOURS = {b"blue": "blue", b"green": "green"}
READ_TIMEOUT = 3.0


class RequestFailedError(Exception):
    """A request got no complete response; ``kind`` is the error kind, ``fresh`` whether nothing was received."""

    def __init__(self, kind, fresh):
        super().__init__(kind)
        self.kind = kind
        self.fresh = fresh


def classify(exc):
    if isinstance(exc, RequestFailedError):
        return exc.kind
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return "reset"
    if isinstance(exc, asyncio.IncompleteReadError):
        return "eof" if not exc.partial else "eof_partial"
    if isinstance(exc, asyncio.TimeoutError):
        return "timeout"
    return type(exc).__name__


class Connection:
    def __init__(self, host, port):
        self.host = host
        self.port = port
        self.reader = None
        self.writer = None
        self.used = 0

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.used = 0

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, payload):
        """Send one GET; returns (status, colour, keep_open). RequestFailed/OSError on failure."""
        self.writer.write(payload)
        await self.writer.drain()
        try:
            head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
        except asyncio.IncompleteReadError as exc:
            raise RequestFailedError("eof" if not exc.partial else "eof_partial", not exc.partial) from None
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        status = int(parts[1])
        length = 0
        colour = ""
        keep_open = True
        for line in lines[1:]:
            name, _sep, value = line.partition(b":")
            name = name.strip().lower()
            value = value.strip()
            if name == b"content-length":
                length = int(value)
            elif name == b"x-app-color":
                colour = COLOURS.get(value, value.decode("ascii", "replace"))
            elif name == b"connection" and value.lower() == b"close":
                keep_open = False
        if length:
            try:
                await asyncio.wait_for(self.reader.readexactly(length), READ_TIMEOUT)
            except asyncio.IncompleteReadError:
                raise RequestFailedError("eof_partial", False) from None
        self.used += 1
        return status, colour, keep_open


async def client_loop(kind, host, port, interval, stop, rows, max_requests):  # noqa: PLR0912, PLR0917
    payload_close = f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
    payload_keep = f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    conn = Connection(host, port)
    loop = asyncio.get_running_loop()
    # Spread the connections' phases so the aggregate load is smooth.
    next_at = loop.time() + random.random() * interval
    while not stop.is_set():
        delay = next_at - loop.time()
        if delay > 0:
            try:
                await asyncio.wait_for(stop.wait(), delay)
                break
            except asyncio.TimeoutError:
                pass
        # Paced, not closed-loop: a slow answer does not make the next ones burst, and a late
        # connection restarts at a random phase so the connections do not fall into step.
        next_at += interval
        if next_at < loop.time():
            next_at = loop.time() + random.random() * interval
        t_send = time.monotonic()
        retried = 0
        status, colour, error = 0, "", ""
        try:
            if kind == "new":
                conn.close()
                await conn.open()
                status, colour, _keep = await conn.request(payload_close)
                conn.close()
            else:
                if conn.writer is None:
                    await conn.open()
                reused = conn.used > 0
                try:
                    status, colour, keep_open = await conn.request(payload_keep)
                except (RequestFailedError, ConnectionResetError, BrokenPipeError) as exc:
                    conn.close()
                    fresh = exc.fresh if isinstance(exc, RequestFailedError) else True
                    if kind == "ka_retry" and reused and fresh:
                        # A stale keepalive connection: the server closed it while it was idle.
                        retried = 1
                        await conn.open()
                        status, colour, keep_open = await conn.request(payload_keep)
                    else:
                        raise
                if not keep_open:
                    conn.close()
        except Exception as exc:
            error = classify(exc)
            conn.close()
        rows.append((t_send, time.monotonic(), colour, status, error, retried))
        if len(rows) >= max_requests:
            stop.set()
    conn.close()


async def run(args):
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.call_later(args.max_seconds, stop.set)
    rows = []
    interval = args.conns / args.rate
    tasks = [asyncio.create_task(client_loop(args.kind, args.host, args.port, interval, stop, rows, args.max_requests))
             for _index in range(args.conns)]
    await asyncio.gather(*tasks)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", required=True, choices=["new", "ka_retry", "ka_noretry"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, default=400, help="requests per second, all connections together")
    parser.add_argument("--conns", type=int, default=16)
    parser.add_argument("--max-seconds", type=float, default=600)
    parser.add_argument("--max-requests", type=int, default=500000, help="stop after this many requests")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.host.split(".")[0] != "127" and args.host != "localhost":
        parser.error("--host must be a loopback address")
    rows = asyncio.run(run(args))
    rows.sort()
    tmp = f"{args.out}.tmp"
    with open(tmp, "w", encoding="ascii") as handle:
        handle.write("t_send,t_done,colour,status,error,retried\n")
        for row in rows:
            t_send, t_done, colour, status, error, retried = row
            handle.write(f"{t_send:.6f},{t_done:.6f},{colour},{status},{error},{retried}\n")
    os.replace(tmp, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
