# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nginx access log written with the ``switchyard_bluegreen`` log_format (docs/eda.md, docs/traffic_stats.md)."""

from __future__ import annotations

import json
import os

# In the http context:   log_format switchyard_bluegreen escape=json '<NGINX_LOG_FORMAT>';
# and in the server that proxies to the app's upstream:  access_log <path> switchyard_bluegreen;
# $proxy_host is the upstream's name (the app); color is the backend's X-App-Color header, when it sends one.
NGINX_LOG_FORMAT_NAME = "switchyard_bluegreen"
NGINX_LOG_FORMAT = (
    '{"msec":$msec,"status":$status,"app":"$proxy_host","upstream_addr":"$upstream_addr",'
    '"upstream_status":"$upstream_status","upstream_response_time":"$upstream_response_time",'
    '"request_time":$request_time,"color":"$upstream_http_x_app_color"}'
)
# Statuses that mean the upstream gave no answer (connection failed, timed out).
NO_ANSWER_STATUSES = (502, 504)
UNKNOWN = "unknown"


def server_colours(pools):
    """Server address -> colour, from managed-file pools (``{"blue": ["10.0.0.1:8080", ...]}``)."""
    mapping = {}
    for colour, servers in (pools or {}).items():
        for server in servers or ():
            address = server.get("address") if isinstance(server, dict) else server
            if address:
                mapping[str(address)] = colour
    return mapping


def _last_upstream(value):
    """The upstream that gave the final answer: nginx lists every attempt ("a, b" and "a : b" for redirects)."""
    value = (value or "").strip()
    if not value or value == "-":
        return None
    last = value.replace(" : ", ",").split(",")[-1].strip()
    return None if last in ("", "-") else last


def _seconds_sum(value):
    """Sum of an nginx time list ("0.004, 0.010 : 0.002"); None when no attempt has a time."""
    total = None
    for item in (value or "").replace(" : ", ",").split(","):
        try:
            seconds = float(item.strip())
        except ValueError:
            continue
        total = seconds if total is None else total + seconds
    return total


def parse_access_line(line, colours_by_server, app=None):
    """One access-log line -> a request sample dict, or None (another app, not this format, or broken).

    The colour is the line's ``color`` field (the backend's X-App-Color header) when it has
    one, otherwise the colour whose pool holds the upstream that answered (or failed).
    Latency is the upstream's time over every attempt; without one (no upstream reached),
    the request's time as the client saw it.
    """
    try:
        record = json.loads(line)
        at = float(record["msec"])
        status = int(record["status"])
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(record, dict):
        return None
    if app and record.get("app") not in (None, "", app):
        return None
    upstream = _last_upstream(record.get("upstream_addr"))
    colour = (record.get("color") or "").strip()
    if not colour or colour == "-":
        colour = colours_by_server.get(upstream or "", UNKNOWN)
    seconds = _seconds_sum(record.get("upstream_response_time"))
    if seconds is None:
        seconds = _seconds_sum(str(record.get("request_time", "")))
    return {
        "at": at,
        "colour": colour,
        "status": status,
        "latency_ms": None if seconds is None else seconds * 1000.0,
        "error": status >= 500,
        "no_answer": status in NO_ANSWER_STATUSES,
    }


class LogTail:
    """Reads the lines appended to a file since the last call; follows rotation and truncation."""

    def __init__(self, path, from_start=False):
        self.path = path
        self.inode = None
        self.offset = 0
        self.partial = b""
        self.from_start = from_start

    def read_lines(self):
        try:
            info = os.stat(self.path)
        except OSError:
            return []
        if self.inode is None:
            self.inode = info.st_ino
            self.offset = 0 if self.from_start else info.st_size
        elif info.st_ino != self.inode or info.st_size < self.offset:
            # Rotated or truncated: the new file is read from its start.
            self.inode, self.offset, self.partial = info.st_ino, 0, b""
        if info.st_size == self.offset:
            return []
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        self.offset += len(data)
        data = self.partial + data
        lines = data.split(b"\n")
        self.partial = lines.pop()
        return [line.decode("utf-8", errors="replace") for line in lines if line.strip()]


def read_samples(path, start, end, colours_by_server, *, app=None, chunk=1 << 16):
    """Request samples of ``path`` whose time is in [start, end], newest lines read first.

    The log is read backwards in chunks and stops at the first line older than ``start``
    (nginx appends in time order, give or take a worker's buffer), so a large log costs only
    the window's lines. Raises OSError when the file cannot be read.
    """
    samples = []
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        position = handle.tell()
        rest = b""
        older_seen = 0
        while position > 0 and older_seen < 100:
            size = min(chunk, position)
            position -= size
            handle.seek(position)
            data = handle.read(size) + rest
            lines = data.split(b"\n")
            rest = lines.pop(0) if position > 0 else b""
            for raw in reversed(lines):
                sample = parse_access_line(raw.decode("utf-8", errors="replace"), colours_by_server, app) \
                    if raw.strip() else None
                if sample is None:
                    continue
                if sample["at"] < start:
                    # A few out-of-order lines (workers flush separately) are tolerated before stopping.
                    older_seen += 1
                    continue
                if sample["at"] <= end:
                    samples.append(sample)
        samples.reverse()
    return samples
