#pragma once
// The answers of the track queries (PROTOCOL.md §7): a page of points in the asked format
// as an HTTP response (body, Content-Type, Content-Disposition), and the summary. The
// writers themselves are the history module's (history/format.hpp, history/summary.hpp).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/metrics.hpp"
#include "history/history.hpp"
#include "history/summary.hpp"
#include "http/routes.hpp"

namespace peyk::http {

enum class track_kind { courier_track, courier_summary, order_track, replay };
enum class output_format { json, geojson, gpx, csv };

std::optional<output_format> parse_output_format(std::string_view text);

// Which formats each query speaks: tracks all four, the replay window json and geojson,
// the summary json.
bool format_allowed(track_kind what, output_format f);

// 200 with one page: `id` is the courier's (courier_track) or the order's (order_track).
response write_track(track_kind what, output_format f, const std::string& id, history::page page);

// A courier's summary over every page of a window.
class summary_builder {
 public:
  void start(std::string courier_id);
  void add(const history::point& p);
  response answer() const;

 private:
  std::string id_;
  history::summary_accumulator acc_;
};

// Counts a track query by its answer's status and its latency.
void count_query(core::metrics& m, unsigned status, std::int64_t started_us);

}  // namespace peyk::http
