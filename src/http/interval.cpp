// The update interval answered to a courier (PROTOCOL.md §3 `update_interval_seconds`,
// §10's policy). One function, so that every ingest path (the JSON API, the phone apps)
// answers the same figure.
#include "http/routes.hpp"

namespace peyk::http {

int answer_interval(const settings& cfg, const services&, const auth::identity&,
                    std::span<const broker::location_ptr>) {
  return cfg.update_interval_s;
}

}  // namespace peyk::http
