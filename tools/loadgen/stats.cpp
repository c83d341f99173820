#include "stats.hpp"

#include <algorithm>

namespace peyk::loadgen {

void stats::merge(const stats& o) {
  viewers_open += o.viewers_open;
  viewers_connected += o.viewers_connected;
  viewers_failed += o.viewers_failed;
  viewers_lost += o.viewers_lost;
  frames += o.frames;
  bytes += o.bytes;
  reads += o.reads;
  deliveries += o.deliveries;
  snapshot_locations += o.snapshot_locations;
  without_ts += o.without_ts;
  latency.merge(o.latency);
  delivery_gap.merge(o.delivery_gap);
  handshake.merge(o.handshake);
  snapshot_wait.merge(o.snapshot_wait);
  snapshots += o.snapshots;
  closed_before_snapshot += o.closed_before_snapshot;
  last_connected_us = std::max(last_connected_us, o.last_connected_us);
  last_snapshot_us = std::max(last_snapshot_us, o.last_snapshot_us);
  publisher_connections += o.publisher_connections;
  publish_in_flight += o.publish_in_flight;
  publish_sent += o.publish_sent;
  publish_ok += o.publish_ok;
  publish_errors += o.publish_errors;
  publish_unsent += o.publish_unsent;
  for (std::size_t i = 0; i < by_status.size(); ++i) by_status[i] += o.by_status[i];
  ingest_rtt.merge(o.ingest_rtt);
  for (const auto& [reason, n] : o.errors) errors[reason] += n;
}

stats stats::minus(const stats& older) const {
  stats d = *this;
  d.viewers_connected -= older.viewers_connected;
  d.viewers_failed -= older.viewers_failed;
  d.viewers_lost -= older.viewers_lost;
  d.frames -= older.frames;
  d.bytes -= older.bytes;
  d.reads -= older.reads;
  d.deliveries -= older.deliveries;
  d.snapshot_locations -= older.snapshot_locations;
  d.without_ts -= older.without_ts;
  d.latency = latency.minus(older.latency);
  d.delivery_gap = delivery_gap.minus(older.delivery_gap);
  d.handshake = handshake.minus(older.handshake);
  d.snapshot_wait = snapshot_wait.minus(older.snapshot_wait);
  d.snapshots -= older.snapshots;
  d.closed_before_snapshot -= older.closed_before_snapshot;
  d.publish_sent -= older.publish_sent;
  d.publish_ok -= older.publish_ok;
  d.publish_errors -= older.publish_errors;
  d.publish_unsent -= older.publish_unsent;
  for (std::size_t i = 0; i < by_status.size(); ++i) d.by_status[i] -= older.by_status[i];
  d.ingest_rtt = ingest_rtt.minus(older.ingest_rtt);
  for (const auto& [reason, n] : older.errors) {
    if ((d.errors[reason] -= n) == 0) d.errors.erase(reason);
  }
  return d;
}

std::uint64_t stats::non_2xx() const {
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < by_status.size(); ++i) {
    if (i < 200 || i >= 300) n += by_status[i];
  }
  return n;
}

}  // namespace peyk::loadgen
