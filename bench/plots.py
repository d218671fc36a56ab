# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""PNG plots of a benchmark run (matplotlib, Agg backend, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import analyse
import matplotlib.pyplot as plt

BIN_S = 0.01
COLOURS = {"blue": "#1f5fbf", "green": "#2e9e44"}


def _phase(run, key):
    return next(phase for phase in run["phases"] if phase["key"] == key)


def bucket(rows, t0, left, right, bins):
    """Answers per colour per bin, and the times of errors and of retried requests, between left and right."""
    counts = {"blue": [0] * bins, "green": [0] * bins}
    errors, retries = [], []
    for _t_send, t_done, colour, _status, error, retried in rows:
        x = t_done - t0
        if not left <= x < right:
            continue
        if error:
            errors.append(x)
            continue
        if retried:
            retries.append(x)
        if colour in counts:
            counts[colour][min(bins - 1, int((x - left) / BIN_S))] += 1
    return counts, errors, retries


def around_switch(run, result, path):
    """Requests per colour per 10 ms around the representative switch, one row per client kind."""
    phase = _phase(run, result["key"])
    rep = analyse.representative(result["per_switch"])
    if rep is None:
        return False
    switch = phase["switches"][rep["i"]]
    t0 = switch["t_start"]
    # Zoom on the change itself: tool start-up (an interpreter, a playbook) can take seconds before it.
    anchor = rep["first_new_s"] if rep["first_new_s"] is not None else rep["command_s"]
    marks = [m for m in (rep["command_s"], rep["old_gone_s"], rep["all_new_after_s"]) if m is not None]
    left = min(0.0, anchor - 0.3) if anchor < 0.6 else anchor - 0.3
    right = max([anchor + 0.5] + [m + 0.15 for m in marks if m - anchor < 1.5])
    bins = round((right - left) / BIN_S)
    fig, axes = plt.subplots(len(analyse.KINDS), 1, figsize=(10, 7.2), sharex=True)
    for axis, kind in zip(axes, analyse.KINDS):
        counts, errors, retries = bucket(analyse.load_rows(phase["load_files"][kind]), t0, left, right, bins)
        xs = [left + (i + 0.5) * BIN_S for i in range(bins)]
        peak = max(*counts["blue"], *counts["green"], 1)
        for colour, values in counts.items():
            axis.step(xs, values, where="mid", color=COLOURS[colour], label=f"{colour} answers", linewidth=1.2)
        if errors:
            axis.scatter(errors, [peak * 1.15] * len(errors), marker="x", color="#d62728", s=36,
                         label=f"connection errors ({len(errors)})", zorder=5)
        if retries:
            axis.scatter(retries, [peak * 1.3] * len(retries), marker="o", facecolors="none", color="#ff7f0e", s=30,
                         label=f"answered after one retry ({len(retries)})", zorder=5)
        for mark, style, colour in ((0.0, "--", "black"), (rep["command_s"], ":", "#555555"),
                                    (rep["old_gone_s"], "-.", "#9467bd")):
            if mark is not None and left <= mark <= right:
                axis.axvline(mark, color=colour, linestyle=style, linewidth=1)
        if rep["window_s"] > 0 and rep["first_new_s"] is not None:
            axis.axvspan(rep["first_new_s"], rep["first_new_s"] + rep["window_s"], color="#ffdd57", alpha=0.35,
                         label="both colours answer")
        axis.set_xlim(left, right)
        axis.set_ylim(0, peak * 1.6)
        axis.set_ylabel("answers / 10 ms")
        axis.set_title(analyse.KIND_LABELS[kind], fontsize=10, loc="left")
        axis.legend(fontsize=7, loc="upper left", ncol=5, frameon=False)
    axes[-1].set_xlabel(
        "s from the start of the switch command (dashed, if in view); dotted: command returned"
        f"{'; dash-dot: old workers gone' if rep['old_gone_s'] is not None else ''}", fontsize=9
    )
    fig.suptitle(f"{result['label']}: switch {rep['i'] + 1} of {len(result['per_switch'])} "
                 f"({rep['from']} -> {rep['to']}), the one with the median both-colours window", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def errors_overview(run, path):
    """Connection errors per switch, per method and client kind (grouped bars)."""
    results = run["analysis"]
    fig, axis = plt.subplots(figsize=(10, 4.2))
    width = 0.8 / len(analyse.KINDS)
    palette = {"new": "#7f7f7f", "ka_retry": "#ff7f0e", "ka_noretry": "#d62728"}
    for offset, kind in enumerate(analyse.KINDS):
        values = [r["totals"][kind]["conn_errors"] / max(1, r["summary"]["switches"]) for r in results]
        xs = [i + (offset - 1) * width for i in range(len(results))]
        bars = axis.bar(xs, values, width, label=analyse.KIND_LABELS[kind], color=palette[kind])
        for rect, value in zip(bars, values):
            axis.annotate(f"{value:.2g}", (rect.get_x() + rect.get_width() / 2, rect.get_height()), ha="center",
                          va="bottom", fontsize=7)
    axis.set_xticks(range(len(results)))
    axis.set_xticklabels([r["label"] for r in results], fontsize=8)
    axis.set_ylabel("connection errors per switch")
    axis.set_title("Requests that got no HTTP answer, per switch (same load for every method)", fontsize=11)
    axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def windows_overview(run, path):
    """Both-colours window and time until every new request reaches the new colour, per switch."""
    results = run["analysis"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    for axis, metric, title in ((axes[0], "window_s", "both colours answer (ms)"),
                                (axes[1], "all_new_after_s", "last request to the old colour sent after (ms)")):
        data = [[s[metric] * 1000 for s in r["per_switch"]] or [0] for r in results]
        axis.boxplot(data, vert=False, showfliers=True)
        axis.set_title(title, fontsize=10)
        axis.set_xscale("symlog", linthresh=10)
    axes[0].set_yticks(range(1, len(results) + 1))
    axes[0].set_yticklabels([r["label"] for r in results], fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def draw(run, outdir):
    """All plots; returns {name: relative path from docs/}."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    images = {}
    for result in run["analysis"]:
        if not result["per_switch"]:
            continue
        name = f"bench-{result['key']}.png"
        if around_switch(run, result, outdir / name):
            images[result["key"]] = f"img/{name}"
    if run["analysis"]:
        errors_overview(run, outdir / "bench-errors.png")
        images["errors"] = "img/bench-errors.png"
        windows_overview(run, outdir / "bench-windows.png")
        images["windows"] = "img/bench-windows.png"
    return images
