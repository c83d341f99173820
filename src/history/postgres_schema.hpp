#pragma once
// The PostgreSQL schema of tracks, migrated by peyk itself, and its day partitions.
//
// peyk_schema(version)        one row per migration applied
// peyk_points                 PARTITION BY RANGE (t), one partition a day:
//                             peyk_points_YYYYMMDD FOR VALUES FROM (day start) TO (next day)
//   t bigint      µs since the epoch: recorded_at when the app sent one, else ts
//   seq bigserial arrival order (points of equal t keep it)
//   ts bigint     µs: when the point entered peyk
//   accuracy, speed, heading, battery double precision, NULL when absent
//   lat, lon integer            micro-degrees
//   rec boolean   t is the app's recorded_at
//   courier text COLLATE "C", name, fleet text (NULL when empty), orders text[] (NULL when none)
//   index (courier, t, seq)
// peyk_order_days(order_id, day, courier)   who carried an order on which day: the order
//                             query reads those couriers' points through the courier index.
//                             Each writer adds the triples it has not added yet, in the
//                             transaction of their points; far cheaper than a GIN index on
//                             orders (20-30 % of the write rate, measured).
//
// Concurrency: several peyk processes share one database. Migrations and partition
// creation run in a transaction holding an advisory lock; retention holds another (a
// process that does not get it skips the round), and detaches CONCURRENTLY so that
// writers and readers of the other days are never blocked.

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "history/postgres_conn.hpp"

namespace peyk::history::pg {

inline constexpr std::int64_t day_us = 86'400'000'000;
// Days a partition may be named for: 1970-01-01 to 9999-12-31 (YYYYMMDD names).
inline constexpr std::int64_t first_day = 0;
inline constexpr std::int64_t last_day = 2'932'896;

inline std::int64_t day_of(std::int64_t t_us) {
  return t_us >= 0 ? t_us / day_us : -((-t_us + day_us - 1) / day_us);
}
std::string partition_name(std::int64_t day);  // peyk_points_YYYYMMDD
std::optional<std::int64_t> partition_day(std::string_view name);

// The newest schema version this build knows.
int latest_version();

// Creates or migrates the schema; idempotent and safe when several processes start at
// once. Returns the version found before (0: a fresh database). Throws pg::error.
int migrate(connection& c);

// Days that have a partition attached.
std::set<std::int64_t> attached_days(connection& c);

// Creates and attaches a partition for each of `days` that has none; returns how many it
// created. Throws pg::error.
std::size_t ensure_partitions(connection& c, const std::vector<std::int64_t>& days);

// Detaches and drops every partition whose day ended at or before `cutoff_us`, and tables
// an interrupted round left detached; deletes the order days before cutoff's day. Returns how many
// it dropped; 0 when another process holds the retention lock. Throws pg::error when the connection
// is lost.
std::size_t drop_partitions_before(connection& c, std::int64_t cutoff_us);

}  // namespace peyk::history::pg
