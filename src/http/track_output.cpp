#include "http/track_output.hpp"

#include <boost/beast/http/field.hpp>

#include "core/clock.hpp"
#include "history/format.hpp"

namespace peyk::http {

namespace bhttp = boost::beast::http;

namespace {

history::format to_history(output_format f) {
  switch (f) {
    case output_format::geojson:
      return history::format::geojson;
    case output_format::gpx:
      return history::format::gpx;
    case output_format::csv:
      return history::format::csv;
    case output_format::json:
      break;
  }
  return history::format::json;
}

// A file name of safe characters only: "courier-10-track.gpx".
std::string file_name(std::string_view kind, std::string_view id, std::string_view ext) {
  std::string name(kind);
  name += '-';
  for (char c : id.substr(0, 64)) {
    const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.';
    name += safe ? c : '_';
  }
  name += "-track.";
  name += ext;
  return name;
}

}  // namespace

std::optional<output_format> parse_output_format(std::string_view text) {
  auto f = history::parse_format(text);
  if (!f) return std::nullopt;
  switch (*f) {
    case history::format::json:
      return output_format::json;
    case history::format::geojson:
      return output_format::geojson;
    case history::format::gpx:
      return output_format::gpx;
    case history::format::csv:
      return output_format::csv;
  }
  return std::nullopt;
}

bool format_allowed(track_kind what, output_format f) {
  switch (what) {
    case track_kind::courier_summary:
      return f == output_format::json;
    case track_kind::replay:
      return f == output_format::json || f == output_format::geojson;
    case track_kind::courier_track:
    case track_kind::order_track:
      return true;
  }
  return false;
}

response write_track(track_kind what, output_format f, const std::string& id, history::page page) {
  const auto hf = to_history(f);
  response res{bhttp::status::ok, 11};
  res.set(bhttp::field::content_type, history::content_type(hf));
  res.set(bhttp::field::cache_control, "no-store");
  std::string& out = res.body();
  out.reserve(64 + page.points.size() * (f == output_format::gpx ? 160 : 200));
  const std::span<const history::point> pts(page.points);
  switch (f) {
    case output_format::json:
      if (what == track_kind::order_track) {
        history::write_order_track_json(out, id, pts, page.next);
      } else if (what == track_kind::replay) {
        history::write_window_json(out, pts, page.next);
      } else {
        history::write_courier_track_json(out, id, pts, page.next);
      }
      break;
    case output_format::geojson:
      history::write_geojson(out, pts, page.next);
      break;
    case output_format::gpx:
      history::write_gpx(out, pts);
      break;
    case output_format::csv:
      history::write_csv(out, pts);
      break;
  }
  if (f == output_format::gpx || f == output_format::csv) {
    res.set(bhttp::field::content_disposition,
            "attachment; filename=\"" +
                file_name(what == track_kind::order_track ? "order" : "courier", id,
                          history::file_extension(hf)) +
                "\"");
  }
  return res;
}

void summary_builder::start(std::string courier_id) {
  id_ = std::move(courier_id);
}

void summary_builder::add(const history::point& p) {
  acc_.add(p);
}

response summary_builder::answer() const {
  std::string body;
  history::write_summary_json(body, acc_.result());
  return json_response(200, std::move(body));
}

void count_query(core::metrics& m, unsigned status, std::int64_t started_us) {
  m.history_queries_by_status[status < m.history_queries_by_status.size() ? status : 0].inc();
  m.history_query_latency.observe_us(core::now_us() - started_us);
}

}  // namespace peyk::http
