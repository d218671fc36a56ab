# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-colour traffic statistics read from the router itself (private package).

access_log.py  the nginx ``switchyard_bluegreen`` access log: format, line parsing, tail, window read
stats.py       request samples and HAProxy ``show stat`` counters -> per-colour stats (requests,
               5xx, no answer, error rate, p50/p95/p99), sliding and diffed windows
verdict.py     a step's verdict (pass, fail, inconclusive) against thresholds, relative to the old colour

Used by the traffic_stats module and the bluegreen_watch event source.
"""
