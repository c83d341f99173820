#pragma once
// Internal to the apps module: the OsmAnd parameter set, fed one key/value at a time from a
// query string, a form body or a flat JSON object, then checked into a core::location.

#include <optional>
#include <string>
#include <string_view>

#include "apps/apps.hpp"

namespace peyk::apps::detail {

std::optional<double> parse_number(std::string_view text);
std::optional<bool> parse_bool(std::string_view text);  // true/false/1/0/yes/no

core::error invalid(std::string field, std::string message);
core::error missing(std::string field, std::string message);

// An optional number in [lo, hi]; a negative value where `negative_unknown` is the apps'
// "unknown" (-1) and leaves the field unset.
core::expected<std::optional<double>> ranged(std::string_view field, std::string_view text,
                                             double lo, double hi, bool negative_unknown);

class osmand_fields {
 public:
  explicit osmand_fields(speed_unit unit) : unit_(unit) {}
  // One parameter; unknown keys are ignored (Traccar keeps them as attributes).
  core::expected<void> set(std::string_view key, std::string_view value, const limits& lim);
  // The point, once every parameter is in.
  core::expected<core::location> finish(std::string_view source) const;
  const std::string& token() const { return token_.empty() ? device_id_ : token_; }

 private:
  speed_unit unit_;
  std::string token_, device_id_;
  std::string lat_, lon_, time_, speed_, heading_, altitude_, accuracy_, battery_, charge_;
  bool location_given_ = false;
};

}  // namespace peyk::apps::detail
