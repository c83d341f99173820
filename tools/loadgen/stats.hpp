#pragma once
// Counters of one worker thread. Only that thread writes them; the reporter gets copies
// (posted to the worker's io_context) and works on differences between two copies, so
// the hot path has no atomics and nothing is ever reset under a writer.

#include <array>
#include <cstdint>
#include <map>
#include <string>

#include "histogram.hpp"

namespace peyk::loadgen {

struct stats {
  // Viewers. `viewers_open` is a gauge; the rest only grow.
  std::int64_t viewers_open = 0;
  std::uint64_t viewers_connected = 0;  // handshakes completed
  std::uint64_t viewers_failed = 0;     // attempts that never completed the handshake
  std::uint64_t viewers_lost = 0;       // closed by the server or an error after connecting
  std::uint64_t frames = 0;             // data messages received
  std::uint64_t bytes = 0;              // bytes read from viewer sockets
  std::uint64_t reads = 0;              // reads that returned data
  std::uint64_t deliveries = 0;         // locations received, snapshots excluded
  std::uint64_t snapshot_locations = 0;
  std::uint64_t without_ts = 0;  // data messages in which no location `ts` was found
  histogram latency;             // now - ts, µs, per delivered location
  histogram delivery_gap;        // µs between a viewer's two reads carrying locations

  // Connecting (steady clock, µs). The two `last_` are the latest instants seen (merged
  // by max, kept as they are by minus).
  histogram handshake;                       // connect started -> 101 read, per viewer
  histogram snapshot_wait;                   // connect started -> first v1 snapshot complete
  std::uint64_t snapshots = 0;               // viewers whose first v1 snapshot is complete
  std::uint64_t closed_before_snapshot = 0;  // v1 viewers that ended without one
  std::int64_t last_connected_us = 0;        // the latest handshake completed
  std::int64_t last_snapshot_us = 0;         // the latest first snapshot completed

  // Publisher.
  std::int64_t publisher_connections = 0;  // gauge
  std::int64_t publish_in_flight = 0;      // gauge: requests written, answer awaited
  std::uint64_t publish_sent = 0;          // requests written
  std::uint64_t publish_ok = 0;            // 2xx answers
  std::uint64_t publish_errors = 0;        // transport errors (no answer)
  std::uint64_t publish_unsent = 0;        // due but skipped: every connection busy for over 1 s
  std::array<std::uint64_t, 600> by_status{};  // answers by HTTP status
  histogram ingest_rtt;                        // request written -> answer read, µs

  // Why connections failed or ended, by reason (connect, handshake, server close...).
  std::map<std::string, std::uint64_t> errors;

  void merge(const stats& o);
  stats minus(const stats& older) const;  // counters subtract; gauges keep this side's value
  std::uint64_t non_2xx() const;
};

}  // namespace peyk::loadgen
