#!/usr/bin/env python3
"""Tables for loadtest/compare.sh: Colyseus vs Plaza, with Plaza/Colyseus ratios.

Usage: summarize.py OUT_DIR  (reads OUT_DIR/{colyseus,plaza}/r*/*.json, prints Markdown)
Each cell is the median over the repeats, with the range in parentheses when
there is more than one run. Missing runs print "-".
"""
import glob
import json
import os
import statistics
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def dig(d, *keys):
    for k in keys:
        if d is None:
            return None
        if isinstance(k, int):
            d = d[k] if isinstance(d, list) and len(d) > k else None
        else:
            d = d.get(k) if isinstance(d, dict) else None
    return d


def runs(out, side, name):
    return [r for r in (load(p) for p in sorted(glob.glob(os.path.join(out, side, "r*", name)))) if r is not None]


def cell(values, digits=3):
    v = [x for x in values if isinstance(x, (int, float))]
    if not v:
        return "-", None
    med = statistics.median(v)
    fmt = lambda x: f"{x:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{x:.0f}"
    text = fmt(med)
    if len(v) > 1:
        text += f" ({fmt(min(v))}–{fmt(max(v))})"
    return text, med


def ratio(p, c):
    if p is None or c is None or c == 0:
        return "-"
    return f"{p / c:.2f}×"


def table(title, rows, floor=None):
    """rows: (name, colyseus values, plaza values, digits); floor: name -> floor values."""
    if floor:
        out = [f"### {title}", "", "| figure | Colyseus 0.18 | I/O floor | Plaza | Plaza / Colyseus | Plaza / floor |",
               "|---|---|---|---|---|---|"]
    else:
        out = [f"### {title}", "", "| figure | Colyseus 0.18 | Plaza | Plaza / Colyseus |", "|---|---|---|---|"]
    for name, cv, pv, digits in rows:
        ct, cm = cell(cv, digits)
        pt, pm = cell(pv, digits)
        if floor:
            ft, fm = cell(floor.get(name, []), digits)
            out.append(f"| {name} | {ct} | {ft} | {pt} | {ratio(pm, cm)} | {ratio(pm, fm)} |")
        else:
            out.append(f"| {name} | {ct} | {pt} | {ratio(pm, cm)} |")
    return "\n".join(out) + "\n"


def col_user_per_kcs(r):
    n, w, u = dig(r, "join", "ok"), dig(r, "window_s"), dig(r, "server", "cpu_user_s")
    return u / (n * w / 1000) if n and w and u is not None else None


def per_client(r, key_total):
    n = dig(r, "join", "ok")
    v = dig(r, "counts", key_total)
    return v / n if n and v is not None else None


def arena(out, n):
    c = runs(out, "colyseus", f"move_N{n}.json")
    p = runs(out, "plaza", f"move_N{n}.json")
    if not c and not p:
        return None, c, p
    rows = [
        ("server CPU s per 1000 client-s", [dig(r, "server", "cpu_s_per_1000_client_s") for r in c],
         [dig(r, "server", "cpu_s_per_1000_client_s") for r in p], 3),
        ("  of which user", [col_user_per_kcs(r) for r in c], [dig(r, "server", "user_s_per_1000_client_s") for r in p], 3),
        ("server CPU % of one core", [dig(r, "server", "cpu_util_pct_of_core") for r in c],
         [dig(r, "server", "pct_of_core") for r in p], 1),
        ("server RSS per client under load, KB", [dig(r, "server", "rss_kb_per_client_delta") for r in c],
         [dig(r, "server", "rss_kb_per_client") for r in p], 1),
        ("server RSS at window end, MB", [dig(r, "server", "rss_end_mb") for r in c], [dig(r, "server", "rss_end_mb") for r in p], 1),
        ("latency move→patch p50, ms", [dig(r, "latency_move_to_patch_ms", "p50") for r in c],
         [dig(r, "latency_move_to_patch_ms", "p50") for r in p], 1),
        ("latency p99, ms", [dig(r, "latency_move_to_patch_ms", "p99") for r in c],
         [dig(r, "latency_move_to_patch_ms", "p99") for r in p], 1),
        ("latency max, ms", [dig(r, "latency_move_to_patch_ms", "max") for r in c],
         [dig(r, "latency_move_to_patch_ms", "max") for r in p], 1),
        ("ping RTT p99, ms", [dig(r, "rtt_ping_ms", "p99") for r in c], [dig(r, "rtt_ping_ms", "p99") for r in p], 2),
        ("patch Hz per client", [dig(r, "counts", "patch_hz_per_client") for r in c], [dig(r, "patch_hz_per_client") for r in p], 2),
        ("bytes received per client per s", [per_client(r, "bytes_in_per_s") for r in c],
         [dig(r, "bytes_in_per_client_s") for r in p], 0),
        ("avg patch payload, bytes", [dig(r, "counts", "avg_patch_payload_bytes") for r in c], [dig(r, "avg_patch_bytes") for r in p], 1),
        ("joins/s (join phase, 50 in flight)", [dig(r, "join", "rate_per_s") for r in c], [dig(r, "join", "rate_per_s") for r in p], 0),
        ("failures", [dig(r, "failures") for r in c], [dig(r, "failures_total") for r in p], 0),
        ("load generator CPU % of its core", [dig(r, "clients", "cpu_util_pct_of_core_per_proc", 0) for r in c],
         [dig(r, "load", "pct_of_core") for r in p], 1),
    ]
    f = runs(out, "floor", f"floor_N{n}.json")
    floor = None
    if f:
        def rss_per_client(r):
            j = r.get("joined")
            return (r["srv_rss_end_kb"] - r["srv_rss_base_kb"]) / j if j else None
        floor = {
            "server CPU s per 1000 client-s": [r.get("srv_cpu_per_1000cs") for r in f],
            "  of which user": [r.get("srv_user_per_1000cs") for r in f],
            "server CPU % of one core": [r.get("srv_cpu_pct") for r in f],
            "server RSS per client under load, KB": [rss_per_client(r) for r in f],
            "server RSS at window end, MB": [r.get("srv_rss_end_kb", 0) / 1024 for r in f],
            "ping RTT p99, ms": [r.get("rtt_p99_ms") for r in f],
            "patch Hz per client": [r.get("patch_hz_mean") for r in f],
            "bytes received per client per s": [r["bytes_rx_per_s"] / r["joined"] if r.get("joined") else None for r in f],
            "joins/s (join phase, 50 in flight)": [r["joined"] / r["join_s"] if r.get("join_s") else None for r in f],
            "failures": [r.get("join_fail", 0) + r.get("disconnects", 0) + r.get("send_err", 0) for r in f],
            "load generator CPU % of its core": [r.get("load_cpu_pct") for r in f],
        }
    title = f"Arena, N = {n} (K = 16, 10 Hz moves, 1 Hz ping, 20 Hz patches)"
    if floor:
        title += "; the floor has no game logic, no auth, no latency metric and a 20 s window"
    return table(title, rows, floor), c, p


KEEPS_UP_HZ = 19.0


def passes(r, plaza, limit):
    fails = dig(r, "failures_total") if plaza else dig(r, "failures")
    p99 = dig(r, "latency_move_to_patch_ms", "p99")
    return fails == 0 and p99 is not None and p99 < limit


def main():
    out = sys.argv[1]
    env = ""
    try:
        with open(os.path.join(out, "env.txt")) as f:
            env = f.read()
    except OSError:
        pass
    print("## Colyseus vs Plaza, back to back\n")
    if env:
        print("```\n" + env.strip() + "\n```\n")
    ns = sorted({int(os.path.basename(p)[len("move_N"):-len(".json")])
                 for p in glob.glob(os.path.join(out, "*", "r*", "move_N*.json"))})
    maxn = {"colyseus": {100: None, 50: None}, "plaza": {100: None, 50: None}}
    # Largest N at which each server still sends (nearly) every 20 Hz patch:
    # the only saturation signal the floor has, since it measures no latency.
    keeps_up = {"colyseus": None, "floor": None, "plaza": None}
    for n in ns:
        t, c, p = arena(out, n)
        if t:
            print(t)
        for side, rs in (("colyseus", c), ("plaza", p)):
            for limit in (100, 50):
                # A point passes when the median run passes (as RESULTS.md reads it).
                if rs and sum(passes(r, side == "plaza", limit) for r in rs) * 2 > len(rs):
                    maxn[side][limit] = n
        hz = {
            "colyseus": [dig(r, "counts", "patch_hz_per_client") for r in c],
            "plaza": [dig(r, "patch_hz_per_client") for r in p],
            "floor": [r.get("patch_hz_mean") for r in runs(out, "floor", f"floor_N{n}.json")],
        }
        for side, values in hz.items():
            values = [v for v in values if v is not None]
            if values and sum(v >= KEEPS_UP_HZ for v in values) * 2 > len(values):
                keeps_up[side] = n
    if len(ns) > 1:
        f = lambda v: str(v) if v is not None else "none"
        print("### Largest N of the sweep passing (zero failures; median run)\n")
        print("| criterion | Colyseus 0.18 | I/O floor | Plaza |\n|---|---|---|---|")
        for limit in (100, 50):
            print(f"| p99 < {limit} ms | {f(maxn['colyseus'][limit])} | - | {f(maxn['plaza'][limit])} |")
        print(f"| patch Hz per client ≥ {KEEPS_UP_HZ} (95 % of the 20 Hz ticks: the server keeps up) | "
              f"{f(keeps_up['colyseus'])} | {f(keeps_up['floor'])} | {f(keeps_up['plaza'])} |")
        print(f"\n(N tried: {' '.join(map(str, ns))})\n")

    idle_ns = sorted({os.path.basename(p) for p in glob.glob(os.path.join(out, "*", "r*", "idle*_N*.json"))})
    for name in idle_ns:
        c, pl = runs(out, "colyseus", name), runs(out, "plaza", name)
        rows = [
            ("RSS per idle connection at window end, KB", [dig(r, "server", "rss_kb_per_client_delta") for r in c],
             [dig(r, "server", "rss_kb_per_client") for r in pl], 1),
            ("server RSS at end, MB", [dig(r, "server", "rss_end_mb") for r in c], [dig(r, "server", "rss_end_mb") for r in pl], 1),
            ("server CPU % of one core (tick patches only)", [dig(r, "server", "cpu_util_pct_of_core") for r in c],
             [dig(r, "server", "pct_of_core") for r in pl], 1),
            ("joins/s", [dig(r, "join", "rate_per_s") for r in c], [dig(r, "join", "rate_per_s") for r in pl], 0),
            ("failures", [dig(r, "failures") for r in c], [dig(r, "failures_total") for r in pl], 0),
        ]
        what = "authenticated, in no room" if name.startswith("idle_nojoin") else "joined to arena rooms"
        print(table(f"Idle connections, {name.split('_N')[-1][:-len('.json')]} clients {what}", rows))

    for p in sorted({os.path.basename(p) for p in glob.glob(os.path.join(out, "plaza", "r*", "storm_N*.json"))}):
        stem = p[len("storm_"):-len(".json")]  # N2000_C50
        pl = runs(out, "plaza", p)
        rows = []
        for i, phase in enumerate(("cold", "warm")):
            c = runs(out, "colyseus", f"join_{stem}_{phase}.json")
            rows += [
                (f"joins/s, {phase}", [dig(r, "join", "rate_per_s") for r in c], [dig(r, "bursts", i, "rate_per_s") for r in pl], 0),
                (f"join p99 ms, {phase}", [dig(r, "join", "latency_ms", "p99") for r in c],
                 [dig(r, "bursts", i, "latency_ms", "p99") for r in pl], 1),
                (f"server CPU ms per join, {phase}", [dig(r, "join", "server_cpu_ms_per_join") for r in c],
                 [dig(r, "bursts", i, "server_cpu_ms_per_join") for r in pl], 3),
                (f"failed joins, {phase}", [dig(r, "join", "fail") for r in c], [dig(r, "bursts", i, "failed") for r in pl], 0),
            ]
        hs = dig(pl[0], "handshake") if pl else "-"
        print(table(f"Connect storm {stem} (Colyseus: no auth; Plaza: handshake `{hs}`, one signature verified per join)", rows))


if __name__ == "__main__":
    main()
