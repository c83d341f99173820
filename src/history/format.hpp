#pragma once
// The answers of the track queries (PROTOCOL.md §7) written as text: JSON, GeoJSON, GPX 1.1
// and CSV. Pure: no I/O, no clock, no locale. Every writer appends to `out` directly (one
// pass over the points, no intermediate document), so a 50,000-point page is held once as
// points and once as text.
//
// Shared rules:
// - Coordinates: 6 decimals, fixed notation ("35.700100"); other numbers: the shortest
//   fixed notation that reads back as the same double ("8.25"), never an exponent.
// - `ts`: integer microseconds since the epoch, as in the broker messages (§4).
//   `recorded_at` and every other time: RFC 3339 UTC with milliseconds
//   ("2026-12-05T14:05:00.250Z"), truncated from microseconds.
// - A courier id is a JSON number when it is a decimal integer (core::is_numeric_id), as
//   `user.id` in §4; otherwise a string. An empty name is written as null.
// - Text is written as valid UTF-8: an invalid byte becomes U+FFFD.
//
// Multi-courier pages (order tracks, the replay window): GeoJSON and GPX hold one
// feature/track per courier, in order of first appearance; JSON and CSV keep the points
// in page order.

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "history/history.hpp"

namespace peyk::history {

enum class format { json, geojson, gpx, csv };

// "json", "geojson", "gpx", "csv"; nullopt otherwise.
std::optional<format> parse_format(std::string_view text);
// "application/json", "application/geo+json", "application/gpx+xml",
// "text/csv; charset=utf-8; header=present".
std::string_view content_type(format f);
// "json", "geojson", "gpx", "csv" (for a Content-Disposition filename).
std::string_view file_extension(format f);

// The name to show for a courier: the newest non-empty `name` among `points` whose
// courier is `courier_id` ("" when none).
std::string_view courier_name(std::span<const point> points, std::string_view courier_id);

// ---- JSON ----

// One point: {"latitude","longitude","ts","recorded_at","speed","heading","accuracy",
// "battery","fleet","orders"}. Every key is always present; absent values are null
// (`orders`: [] when none). With `with_courier`, a first key
// "courier": {"id","name"} (order tracks).
void write_point_json(std::string& out, const point& p, bool with_courier = false);

// GET /couriers/{id}/track:
// {"courier":{"id","name"},"points":[...],"next":null|"cursor"}. The name is
// courier_name(points, courier_id), null when none (an unknown id: no points).
void write_courier_track_json(std::string& out, std::string_view courier_id,
                              std::span<const point> points,
                              const std::optional<std::string>& next);

// GET /orders/{id}/track: {"order":{"id"},"points":[...],"next"}; each point carries its
// own "courier":{"id","name"} (an order may change hands; points stay in time order).
void write_order_track_json(std::string& out, std::string_view order_id,
                            std::span<const point> points, const std::optional<std::string>& next);

// GET /tracks (replay window): {"couriers":[{"id","name","points":[...]}],"next"}.
// `points` ordered by (courier_id, t_us) as the store returns them; one group per run of
// equal courier ids (a courier cut by a page boundary continues in the next page).
void write_window_json(std::string& out, std::span<const point> points,
                       const std::optional<std::string>& next);

// ---- GeoJSON (RFC 7946) ----

// A FeatureCollection with one Feature per courier: a LineString of [lon, lat] positions,
// or a Point when that courier has a single point (a LineString needs two). Properties:
// {"courier_id","name","coordTimes":[RFC 3339 times, one per position]}. No points: an
// empty "features" array. The cursor is a foreign member "next" (null or a string).
void write_geojson(std::string& out, std::span<const point> points,
                   const std::optional<std::string>& next);

// ---- GPX 1.1 ----

// <gpx version="1.1" creator="peyk" xmlns=...> with one <trk> per courier
// (<name>: its name, else its id; <desc>: "courier ID"), one <trkseg>, and a <trkpt lat
// lon> per point with <time>; speed and course in <extensions> as Garmin's
// TrackPointExtension v2 (gpxtpx:speed, gpxtpx:course), which common tools read.
// Longitude 180 is written as -180 (GPX's longitudeType is [-180, 180)). No points: a
// <gpx> with no <trk>. The cursor has no place in GPX: the caller sends it in a header.
void write_gpx(std::string& out, std::span<const point> points);

// ---- CSV (RFC 4180) ----

// The header line, CRLF-terminated:
// courier_id,name,fleet,time,ts,recorded_at,latitude,longitude,accuracy,speed,heading,battery,orders
inline constexpr std::string_view csv_header =
    "courier_id,name,fleet,time,ts,recorded_at,latitude,longitude,accuracy,speed,heading,"
    "battery,orders\r\n";

// One CRLF-terminated row. `time` is the point's time in history (t_us), `ts` integer
// microseconds, `orders` joined with ';'; absent values are empty cells. Cells holding
// `"`, `,`, CR or LF are quoted ("" inside). Formula injection guard: a text cell
// (courier_id, name, fleet, orders) starting with '=', '+', '-', '@', TAB or CR gets a
// leading "'" so that a spreadsheet shows it as text instead of evaluating it.
void write_csv_row(std::string& out, const point& p);

// csv_header, then one row per point. The cursor: in a header, as for GPX.
void write_csv(std::string& out, std::span<const point> points);

// ---- helpers, exposed for the tests and the other writers ----

// RFC 3339 UTC with milliseconds, truncated: 1764943500250123 -> "2026-12-05T14:05:00.250Z".
void append_time(std::string& out, std::int64_t us);
// 6 decimals, fixed, no "-0.000000".
void append_coordinate(std::string& out, double v);
// Shortest fixed notation that reads back as `v` ("0.5", "270", "111195.08"); never an
// exponent; a non-finite value as "0" (callers write null/empty for absent values).
void append_number(std::string& out, double v);
// A JSON string literal (quotes included): `"` `\` and control characters escaped.
void append_json_string(std::string& out, std::string_view s);
// XML character data or attribute value: & < > " ' escaped; characters XML 1.0 cannot
// hold (controls other than TAB, LF, CR) become U+FFFD.
void append_xml_text(std::string& out, std::string_view s);

}  // namespace peyk::history
