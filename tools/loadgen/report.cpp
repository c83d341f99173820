#include "report.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <ostream>
#include <string>

#include <boost/json/array.hpp>

namespace peyk::loadgen {

namespace json = boost::json;

namespace {

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string ms(std::uint64_t us) {
  return fmt("%.3f ms", static_cast<double>(us) / 1000.0);
}

double per_s(std::uint64_t n, double seconds) {
  return seconds > 0 ? static_cast<double>(n) / seconds : 0.0;
}

std::string mib(std::uint64_t bytes) {
  return fmt("%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
}

json::object percentiles(const histogram& h) {
  json::object j;
  j["count"] = h.count();
  j["p50"] = h.percentile(0.50);
  j["p90"] = h.percentile(0.90);
  j["p99"] = h.percentile(0.99);
  j["p999"] = h.percentile(0.999);
  j["max"] = h.max();
  j["mean"] = h.mean();
  return j;
}

std::string latency_line(const histogram& h) {
  if (h.count() == 0) return "no samples";
  return "p50 " + ms(h.percentile(0.50)) + "  p90 " + ms(h.percentile(0.90)) + "  p99 " +
         ms(h.percentile(0.99)) + "  p99.9 " + ms(h.percentile(0.999)) + "  max " + ms(h.max()) +
         "  (" + std::to_string(h.count()) + " samples)";
}

std::string now_iso() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Deliveries/s over entries first..last (inclusive).
double rate_of(const std::vector<timeline_entry>& t, std::size_t first, std::size_t last) {
  double seconds = 0, n = 0;
  for (std::size_t i = first; i <= last; ++i) {
    seconds += t[i].seconds;
    n += static_cast<double>(t[i].deliveries);
  }
  return seconds > 0 ? n / seconds : 0.0;
}

json::object phase_json(const phase_result& p, const std::vector<timeline_entry>& t) {
  json::object j;
  double seconds = p.end_s - p.start_s;
  j["start_s"] = p.start_s;
  j["end_s"] = p.end_s;
  j["seconds"] = seconds;
  j["deliveries"] = p.diff.deliveries;
  j["deliveries_per_s"] = per_s(p.diff.deliveries, seconds);
  auto worst = worst_second(t, p.start_s, p.end_s);
  j["worst_second_per_s"] = worst ? json::value(*worst) : json::value(nullptr);
  j["latency_us"] = percentiles(p.diff.latency);
  j["delivery_gap_us"] = percentiles(p.diff.delivery_gap);
  j["published"] = p.diff.publish_ok;
  j["viewers_lost"] = p.diff.viewers_lost;
  return j;
}

}  // namespace

std::optional<double> worst_second(const std::vector<timeline_entry>& t, double from_s,
                                   double to_s) {
  std::optional<double> worst;
  for (std::size_t last = 0; last < t.size(); ++last) {
    if (t[last].phase != "warmup" && t[last].phase != "run") continue;
    // Entries back from `last` until they cover a second (or the publishing began).
    std::size_t first = last;
    double seconds = t[last].seconds;
    while (seconds < 0.999 && first > 0 &&
           (t[first - 1].phase == "warmup" || t[first - 1].phase == "run")) {
      --first;
      seconds += t[first].seconds;
    }
    double begins = t[first].end_s - t[first].seconds;
    if (t[last].end_s <= from_s || begins >= to_s) continue;  // does not overlap
    auto r = rate_of(t, first, last);
    if (!worst || r < *worst) worst = r;
  }
  return worst;
}

void print_progress(std::ostream& out, const char* phase, double at_s, double seconds,
                    const stats& w) {
  const auto& h = w.latency;
  out << fmt("[%6.1fs ", at_s) << phase << "] viewers " << w.viewers_open << " | deliveries "
      << fmt("%.0f/s", per_s(w.deliveries, seconds))
      << fmt(" (%.1f MB/s)", per_s(w.bytes, seconds) / 1e6) << " | published "
      << fmt("%.0f/s", per_s(w.publish_ok, seconds)) << " (non-2xx " << w.non_2xx() << ", errors "
      << w.publish_errors << ", unsent " << w.publish_unsent << ")";
  if (h.count()) {
    out << " | p50 " << ms(h.percentile(0.5)) << " p99 " << ms(h.percentile(0.99)) << " max "
        << ms(h.max());
  }
  out << "\n";
}

void print_report(std::ostream& out, const options& o, const run_result& r) {
  const auto& w = r.window;
  const auto& t = r.total;
  out << "\n== peyk-loadgen " << (o.idle ? "idle" : "load") << " run, " << now_iso() << " ==\n";
  out << "target      ";
  for (std::size_t i = 0; i < o.ws_targets.size(); ++i) {
    const auto& u = o.ws_targets[i];
    out << (i ? ", " : "") << u.host << ":" << u.port << u.path;
  }
  out << "  role " << to_string(o.role) << "  protocol " << to_string(o.protocol) << "  threads "
      << o.threads << "\n";
  out << "viewers     " << t.viewers_open << " open at the end of " << o.total_viewers() << " ("
      << t.viewers_connected << " connected in " << fmt("%.2f s", r.connect_s) << ", "
      << t.viewers_failed << " failed, " << t.viewers_lost << " lost)\n";
  if (r.all_connected_s >= 0 || t.handshake.count()) {
    out << "connecting  all connected " << fmt("%.2f s", r.all_connected_s)
        << " after the first attempt; handshake " << latency_line(t.handshake) << "\n";
  }
  if (t.snapshots || o.protocol == ws_protocol::v1) {
    out << "snapshots   " << t.snapshots << " viewers had their first snapshot";
    if (r.all_snapshots_s >= 0)
      out << ", the last " << fmt("%.2f s", r.all_snapshots_s) << " after the first attempt";
    out << " (" << t.closed_before_snapshot << " closed before it); wait "
        << latency_line(t.snapshot_wait) << "\n";
  }
  out << "window      " << fmt("%.2f s", r.window_s) << (o.idle ? "" : " after warmup ")
      << (o.idle ? "" : fmt("%.1f s", o.warmup_s)) << "\n";
  if (!o.idle) {
    out << "published   " << fmt("%.0f/s", per_s(w.publish_ok, r.window_s))
        << (o.publisher == "redis" ? " acknowledged by Redis" : " 2xx") << " (target "
        << (o.closed_loop ? std::string("max, closed loop") : fmt("%.0f/s", o.publish_rate)) << "; "
        << w.publish_ok << " ok, " << w.non_2xx() << " non-2xx, " << w.publish_errors << " errors, "
        << w.publish_unsent << " unsent; connections " << t.publisher_connections << ")\n";
    for (std::size_t s = 0; s < w.by_status.size(); ++s) {
      if ((s < 200 || s >= 300) && w.by_status[s]) {
        out << "            HTTP " << s << ": " << w.by_status[s] << "\n";
      }
    }
    if (w.ingest_rtt.count()) {
      out << (o.publisher == "redis" ? "publish rtt " : "ingest rtt  ")
          << latency_line(w.ingest_rtt) << "\n";
    }
  }
  out << "deliveries  " << fmt("%.0f/s", per_s(w.deliveries, r.window_s)) << " (" << w.deliveries
      << " locations in " << w.frames << " frames, " << w.reads << " reads, "
      << fmt("%.1f MB/s", per_s(w.bytes, r.window_s) / 1e6);
  if (w.publish_ok) {
    out << ", " << fmt("%.1f", static_cast<double>(w.deliveries) / w.publish_ok)
        << " per published";
  }
  out << ")\n";
  if (t.snapshot_locations) out << "snapshots   " << t.snapshot_locations << " locations\n";
  if (w.without_ts) out << "without ts  " << w.without_ts << " messages\n";
  out << "latency     " << latency_line(w.latency) << "\n";
  if (w.latency.negative()) {
    out << "            " << w.latency.negative() << " samples had ts in the future (clock step)\n";
  }
  if (w.delivery_gap.count()) {
    out << "gaps        " << latency_line(w.delivery_gap)
        << " (per viewer, between reads with locations)\n";
  }
  if (r.phases.size() > 1) {
    for (std::size_t i = 0; i < r.phases.size(); ++i) {
      const auto& p = r.phases[i];
      double seconds = p.end_s - p.start_s;
      auto worst = worst_second(r.timeline, p.start_s, p.end_s);
      out << "phase " << i << "     " << fmt("%.1f", p.start_s) << fmt("-%.1f s: ", p.end_s)
          << fmt("%.0f deliveries/s", per_s(p.diff.deliveries, seconds))
          << (worst ? fmt(", worst 1-s window %.0f/s", *worst) : std::string()) << "; latency "
          << latency_line(p.diff.latency) << "; longest gap " << ms(p.diff.delivery_gap.max())
          << "\n";
    }
  }
  if (r.server_rss_peak)
    out << "server RSS  peak " << mib(*r.server_rss_peak) << " (sampled every 50 ms)\n";
  if (r.server_start && r.server_end) {
    out << "server      CPU " << fmt("%.1f%%", cpu_percent(*r.server_start, *r.server_end))
        << "  RSS " << mib(r.server_start->rss_bytes) << " -> " << mib(r.server_end->rss_bytes)
        << "\n";
  }
  if (r.server_before_connect && r.server_after_connect) {
    auto before = r.server_before_connect->rss_bytes;
    auto after = r.server_after_connect->rss_bytes;
    auto conns = t.viewers_connected;
    double per = conns ? (static_cast<double>(after) - static_cast<double>(before)) / conns : 0;
    out << "server RSS  " << mib(before) << " before connecting, " << mib(after) << " with "
        << conns << " viewers: " << fmt("%.0f bytes", per) << " per viewer\n";
  }
  if (r.self_start && r.self_end) {
    double self = cpu_percent(*r.self_start, *r.self_end);
    out << "loadgen     CPU " << fmt("%.1f%%", self) << "  RSS " << mib(r.self_end->rss_bytes)
        << "\n";
    if (self > 85.0 * static_cast<double>(o.threads)) {
      out << "warning     the loadgen's threads were over 85% busy: the figures may be its "
             "limit, not the server's (more --threads, on more cores)\n";
    }
  }
  if (!r.core_busy.empty()) {
    out << "cores busy ";
    for (std::size_t i = 0; i < r.core_busy.size(); ++i) {
      out << " cpu" << i << " " << fmt("%.0f%%", r.core_busy[i]);
    }
    out << "  (incl. softirq)\n";
    if (r.server_start && r.server_end && r.self_start && r.self_end) {
      // What ran besides the two: on a shared machine, figures with much of it are suspect.
      double other = r.tasks_cpu - cpu_percent(*r.server_start, *r.server_end) -
                     cpu_percent(*r.self_start, *r.self_end);
      out << "other load " << fmt("%.0f%%", std::max(other, 0.0))
          << " of a core in other processes\n";
    }
  }
  if (!t.errors.empty()) {
    out << "errors (whole run):\n";
    for (const auto& [reason, n] : t.errors) out << "  " << n << "  " << reason << "\n";
  }
}

json::object report_json(const options& o, const run_result& r) {
  const auto& w = r.window;
  const auto& t = r.total;
  json::object j;
  j["time"] = now_iso();
  j["mode"] = o.idle ? "idle" : "load";

  json::object cfg;
  cfg["url"] = "ws://" + o.ws_host + ":" + std::to_string(o.ws_port) + o.ws_path;
  json::array urls;
  for (const auto& u : o.ws_targets) {
    urls.emplace_back("ws://" + u.host + ":" + std::to_string(u.port) + u.path);
  }
  cfg["urls"] = std::move(urls);
  cfg["viewers"] = o.viewers;
  cfg["role"] = to_string(o.role);
  cfg["protocol"] = to_string(o.protocol);
  cfg["publisher"] = o.publisher;
  cfg["publish_rate"] = o.publish_rate;
  cfg["closed_loop"] = o.closed_loop;
  cfg["customers"] = o.customers;
  cfg["couriers"] = o.couriers;
  cfg["http_connections"] = o.http_connections;
  cfg["threads"] = o.threads;
  cfg["duration_s"] = o.duration_s;
  cfg["warmup_s"] = o.warmup_s;
  cfg["source_ips"] = o.source_ips;
  j["config"] = std::move(cfg);
  j["window_s"] = r.window_s;

  json::object v;
  v["requested"] = o.total_viewers();
  v["connected"] = t.viewers_connected;
  v["failed"] = t.viewers_failed;
  v["lost"] = t.viewers_lost;
  v["open_at_end"] = t.viewers_open;
  v["connect_s"] = r.connect_s;
  v["all_connected_s"] =
      r.all_connected_s >= 0 ? json::value(r.all_connected_s) : json::value(nullptr);
  v["handshake_us"] = percentiles(t.handshake);
  v["snapshots"] = t.snapshots;
  v["closed_before_snapshot"] = t.closed_before_snapshot;
  v["all_snapshots_s"] =
      r.all_snapshots_s >= 0 ? json::value(r.all_snapshots_s) : json::value(nullptr);
  v["snapshot_wait_us"] = percentiles(t.snapshot_wait);
  j["viewers"] = std::move(v);

  json::object d;
  d["locations"] = w.deliveries;
  d["per_s"] = per_s(w.deliveries, r.window_s);
  d["frames"] = w.frames;
  d["reads"] = w.reads;
  d["bytes_per_s"] = per_s(w.bytes, r.window_s);
  d["per_published"] = w.publish_ok ? static_cast<double>(w.deliveries) / w.publish_ok : 0.0;
  d["snapshot_locations"] = t.snapshot_locations;
  d["without_ts"] = w.without_ts;
  j["deliveries"] = std::move(d);
  auto lat = percentiles(w.latency);
  lat["negative"] = w.latency.negative();
  j["latency_us"] = std::move(lat);
  j["delivery_gap_us"] = percentiles(w.delivery_gap);
  json::array phases;
  for (const auto& p : r.phases) phases.push_back(phase_json(p, r.timeline));
  j["phases"] = std::move(phases);
  json::array timeline;
  for (const auto& e : r.timeline) {
    json::object x;
    x["end_s"] = e.end_s;
    x["seconds"] = e.seconds;
    x["unix_s"] = e.unix_s;
    x["phase"] = e.phase;
    x["viewers_open"] = e.viewers_open;
    x["connected"] = e.connected;
    x["failed"] = e.failed;
    x["snapshots"] = e.snapshots;
    x["deliveries"] = e.deliveries;
    x["published"] = e.published;
    x["p50_us"] = e.p50;
    x["p99_us"] = e.p99;
    x["max_us"] = e.max;
    x["gap_max_us"] = e.gap_max;
    timeline.push_back(std::move(x));
  }
  j["timeline"] = std::move(timeline);

  json::object p;
  p["target_per_s"] = o.publish_rate;
  p["sent"] = w.publish_sent;
  p["ok"] = w.publish_ok;
  p["ok_per_s"] = per_s(w.publish_ok, r.window_s);
  p["non_2xx"] = w.non_2xx();
  json::object by_status;
  for (std::size_t s = 0; s < w.by_status.size(); ++s) {
    if (w.by_status[s]) by_status[std::to_string(s)] = w.by_status[s];
  }
  p["by_status"] = std::move(by_status);
  p["errors"] = w.publish_errors;
  p["unsent"] = w.publish_unsent;
  p["connections"] = t.publisher_connections;
  p["rtt_us"] = percentiles(w.ingest_rtt);
  j["publish"] = std::move(p);

  if (r.server_start && r.server_end) {
    json::object s;
    s["pid"] = o.server_pid.value_or(0);
    json::array pids;
    for (int pid : o.server_pids) pids.push_back(pid);
    s["pids"] = std::move(pids);
    s["cpu_percent"] = cpu_percent(*r.server_start, *r.server_end);
    s["rss_start_bytes"] = r.server_start->rss_bytes;
    s["rss_end_bytes"] = r.server_end->rss_bytes;
    s["rss_peak_bytes"] =
        r.server_rss_peak ? json::value(*r.server_rss_peak) : json::value(nullptr);
    j["server"] = std::move(s);
  }
  if (r.server_before_connect && r.server_after_connect) {
    json::object s;
    auto before = r.server_before_connect->rss_bytes;
    auto after = r.server_after_connect->rss_bytes;
    s["rss_before_connect_bytes"] = before;
    s["rss_after_connect_bytes"] = after;
    s["bytes_per_viewer"] =
        t.viewers_connected
            ? (static_cast<double>(after) - static_cast<double>(before)) / t.viewers_connected
            : 0.0;
    j["idle"] = std::move(s);
  }
  if (r.self_start && r.self_end) {
    json::object s;
    s["cpu_percent"] = cpu_percent(*r.self_start, *r.self_end);
    s["rss_end_bytes"] = r.self_end->rss_bytes;
    j["loadgen"] = std::move(s);
  }
  if (r.server_start && r.server_end && r.self_start && r.self_end) {
    j["other_processes_cpu_percent"] =
        std::max(0.0, r.tasks_cpu - cpu_percent(*r.server_start, *r.server_end) -
                          cpu_percent(*r.self_start, *r.self_end));
  }
  json::array cores;
  for (double b : r.core_busy) cores.push_back(b);
  j["core_busy_percent"] = std::move(cores);
  json::object errors;
  for (const auto& [reason, n] : t.errors) errors[reason] = n;
  j["errors"] = std::move(errors);
  return j;
}

}  // namespace peyk::loadgen
