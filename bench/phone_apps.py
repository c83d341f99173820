"""(h) phone apps (issue #15): the OsmAnd / Traccar Client request beside peyk's JSON API.

The same `peyk ingest --redis` (history off, so that the figure is the request's own cost:
parsing, auth, publish) on core 0, fed by `peyk-loadgen` on core 1 on 64 keep-alive
connections, closed loop, 1,000 couriers with their own tokens:
- `--ingest-format json`: `POST /api/v1/locations`, Bearer token, a JSON body;
- `--ingest-format osmand`: `GET /api/v1/osmand?id=TOKEN&lat=…&lon=…&speed=…`, the token
  as the device id, as Traccar Client and the OsmAnd app send it.
Goal (issue #15): OsmAnd requests/s within 10 % of the JSON API's.

Run by `bench/run --scenarios h`; uses bench/run's Server and loadgen helpers.
"""

GOAL = 0.10
FORMATS = ("json", "osmand")


def run(ctx, run_mod):
    dur, warm = ("2", "1") if ctx.quick else ("5", "2")
    results = []
    if "peyk-ingest" not in ctx.servers:
        ctx.results["h"] = results
        return
    for fmt in FORMATS:
        run_mod.log(f"(h) peyk ingest, {fmt}")
        try:
            server = run_mod.Server(ctx, "peyk-ingest")
        except RuntimeError as e:
            results.append({"format": fmt, "error": str(e)})
            continue
        try:
            args = ["--viewers", 0, "--publisher", "http", "--ingest-format", fmt,
                    "--publish-rate", "max", "--couriers", 1000, "--http-connections", 64,
                    "--duration", dur, "--warmup", warm]
            j, err = run_mod.loadgen(ctx, server, f"h-{fmt}", args)
        finally:
            server.stop()
        if j is None:
            results.append({"format": fmt, "error": " ".join(err)})
            continue
        results.append({"format": fmt, "json": j})
        p = j["publish"]
        run_mod.log(f"    {p['ok_per_s']:,.0f} 2xx/s, non-2xx {p['non_2xx']}, "
                    f"p99 {run_mod.fmt_ms(p['rtt_us'].get('p99'))}")
    ctx.results["h"] = results


def report(ctx, out, run_mod):
    res = ctx.results.get("h")
    if res is None:
        return
    out.append("## (h) Phone apps: the OsmAnd / Traccar Client request beside the JSON API\n")
    out.append("`peyk ingest --redis --history off` on core 0; 64 keep-alive connections, closed "
               "loop, 1,000 couriers with their own tokens, one point per request, answered "
               "after Redis acknowledged the PUBLISH. `json`: `POST /api/v1/locations` with a "
               "Bearer token and a JSON body; `osmand`: `GET /api/v1/osmand?id=TOKEN&lat=…&lon=…"
               "&accuracy=…&speed=…&bearing=…&batt=…` (the token as the device id, no body). Goal "
               f"(issue #15): OsmAnd within {GOAL:.0%} of the JSON API.\n")
    out.append("| request | 2xx/s | non-2xx | errors | rtt p50 | p99 | server core | loadgen CPU "
               "| ÷ json |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    base = next((r["json"]["publish"]["ok_per_s"] for r in res
                 if r["format"] == "json" and "json" in r), None)
    for r in res:
        if "error" in r:
            out.append(f"| {r['format']} | not run: {r['error']} | | | | | | | |")
            continue
        p = r["json"]["publish"]
        c0, c1, _ = run_mod.cores(r["json"])
        out.append(f"| {r['format']} | {run_mod.fmt_n(p['ok_per_s'])} | {p['non_2xx']} "
                   f"| {p['errors']} | {run_mod.fmt_ms(p['rtt_us'].get('p50'))} "
                   f"| {run_mod.fmt_ms(p['rtt_us'].get('p99'))} | {c0} | {c1} "
                   f"| {run_mod.ratio(p['ok_per_s'], base)} |")
    osm = next((r["json"]["publish"]["ok_per_s"] for r in res
                if r["format"] == "osmand" and "json" in r), None)
    if base and osm:
        gap = 1 - osm / base
        verdict = "**met**" if gap <= GOAL else "not met"
        out.append(f"\nOsmAnd ÷ JSON: {osm / base:.2f} ({'slower' if gap > 0 else 'faster'} by "
                   f"{abs(gap):.1%}; goal ≤ {GOAL:.0%} slower: {verdict}).")
    out.append("")
