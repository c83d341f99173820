#include "history/postgres_schema.hpp"

#include <chrono>
#include <cstdio>

#include "core/log.hpp"

namespace peyk::history::pg {

namespace {
// pg_advisory_*lock(key1, key2): key1 is "peyk" in ASCII, key2 the purpose.
constexpr const char* schema_lock = "SELECT pg_advisory_xact_lock(1885698411, 1)";
constexpr const char* partition_lock = "SELECT pg_advisory_xact_lock(1885698411, 2)";
constexpr const char* retention_try_lock = "SELECT pg_try_advisory_lock(1885698411, 3)";
constexpr const char* retention_unlock = "SELECT pg_advisory_unlock(1885698411, 3)";

// Migration N is migrations[N - 1]; never edit one that has shipped, append a new one.
const char* const migrations[] = {
    R"sql(
CREATE TABLE peyk_points (
  t        bigint NOT NULL,
  seq      bigserial NOT NULL,
  ts       bigint NOT NULL,
  accuracy double precision,
  speed    double precision,
  heading  double precision,
  battery  double precision,
  lat      integer NOT NULL,
  lon      integer NOT NULL,
  rec      boolean NOT NULL,
  courier  text COLLATE "C" NOT NULL,
  name     text,
  fleet    text,
  orders   text[]
) PARTITION BY RANGE (t);
CREATE INDEX peyk_points_courier ON peyk_points (courier, t, seq);
CREATE TABLE peyk_order_days (
  order_id text COLLATE "C" NOT NULL,
  day      integer NOT NULL,
  courier  text COLLATE "C" NOT NULL,
  PRIMARY KEY (order_id, day, courier)
);
)sql",
};

std::string list_partitions_sql() {
  return "SELECT c.relname, i.inhdetachpending FROM pg_inherits i JOIN pg_class c ON c.oid = "
         "i.inhrelid WHERE i.inhparent = 'peyk_points'::regclass";
}

// Drops one partition (or a detached leftover); false when it failed but the connection
// is fine (another process's round got there first, a lock timeout): the next round retries.
bool drop_one(connection& c, const std::string& name, bool attached, bool pending) {
  try {
    if (attached) {
      c.exec("ALTER TABLE peyk_points DETACH PARTITION " + name +
             (pending ? " FINALIZE" : " CONCURRENTLY"));
    }
    c.exec("DROP TABLE IF EXISTS " + name);
    return true;
  } catch (const error& e) {
    if (e.lost) throw;
    core::log(core::log_level::warn,
              "history: postgres: retention could not drop " + name + ": " + e.what());
    return false;
  }
}
}  // namespace

std::string partition_name(std::int64_t day) {
  using namespace std::chrono;
  year_month_day ymd{sys_days{days{day}}};
  char buf[32];
  std::snprintf(buf, sizeof buf, "peyk_points_%04d%02u%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buf;
}

std::optional<std::int64_t> partition_day(std::string_view name) {
  constexpr std::string_view prefix = "peyk_points_";
  if (!name.starts_with(prefix) || name.size() != prefix.size() + 8) return std::nullopt;
  int v[3] = {0, 0, 0};
  const int widths[3] = {4, 2, 2};
  std::size_t pos = prefix.size();
  for (int f = 0; f < 3; ++f) {
    for (int i = 0; i < widths[f]; ++i, ++pos) {
      char ch = name[pos];
      if (ch < '0' || ch > '9') return std::nullopt;
      v[f] = v[f] * 10 + (ch - '0');
    }
  }
  using namespace std::chrono;
  year_month_day ymd{year{v[0]}, month{static_cast<unsigned>(v[1])},
                     day{static_cast<unsigned>(v[2])}};
  if (!ymd.ok()) return std::nullopt;
  return sys_days{ymd}.time_since_epoch().count();
}

int latest_version() {
  return static_cast<int>(std::size(migrations));
}

int migrate(connection& c) {
  c.exec("BEGIN");
  try {
    c.exec(schema_lock);
    c.exec(
        "CREATE TABLE IF NOT EXISTS peyk_schema (version integer PRIMARY KEY, "
        "applied_at timestamptz NOT NULL DEFAULT now())");
    auto r = c.exec("SELECT coalesce(max(version), 0) FROM peyk_schema");
    int found = std::atoi(PQgetvalue(r.get(), 0, 0));
    for (int v = found + 1; v <= latest_version(); ++v) {
      c.exec(migrations[v - 1]);
      c.exec("INSERT INTO peyk_schema (version) VALUES (" + std::to_string(v) + ")");
    }
    c.exec("COMMIT");
    if (found > latest_version()) {
      core::log(core::log_level::warn, "history: postgres: schema version " +
                                           std::to_string(found) + " is newer than this peyk's " +
                                           std::to_string(latest_version()));
    } else if (found < latest_version()) {
      core::log(core::log_level::info, "history: postgres: schema migrated from version " +
                                           std::to_string(found) + " to " +
                                           std::to_string(latest_version()));
    }
    return found;
  } catch (...) {
    c.rollback_if_open();
    throw;
  }
}

std::set<std::int64_t> attached_days(connection& c) {
  std::set<std::int64_t> out;
  auto r = c.exec(list_partitions_sql());
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    if (auto d = partition_day(PQgetvalue(r.get(), i, 0))) out.insert(*d);
  }
  return out;
}

std::size_t ensure_partitions(connection& c, const std::vector<std::int64_t>& days) {
  c.exec("BEGIN");
  try {
    // ATTACH takes SHARE UPDATE EXCLUSIVE on the parent: COPYs and reads go on meanwhile
    // (CREATE TABLE ... PARTITION OF would take ACCESS EXCLUSIVE).
    c.exec("SET LOCAL lock_timeout = '5s'");
    c.exec(partition_lock);
    auto have = attached_days(c);
    std::size_t created = 0;
    for (auto d : days) {
      if (have.contains(d) || d < first_day || d > last_day) continue;
      auto name = partition_name(d);
      c.exec("CREATE TABLE IF NOT EXISTS " + name + " (LIKE peyk_points INCLUDING DEFAULTS)");
      c.exec("ALTER TABLE peyk_points ATTACH PARTITION " + name + " FOR VALUES FROM (" +
             std::to_string(d * day_us) + ") TO (" + std::to_string((d + 1) * day_us) + ")");
      have.insert(d);
      ++created;
    }
    c.exec("COMMIT");
    return created;
  } catch (...) {
    c.rollback_if_open();
    throw;
  }
}

std::size_t drop_partitions_before(connection& c, std::int64_t cutoff_us) {
  auto got = c.exec(retention_try_lock);
  if (std::string_view(PQgetvalue(got.get(), 0, 0)) != "t") return 0;
  struct unlock {
    connection& c;
    ~unlock() {
      try {
        if (c.ok()) {
          c.exec("RESET lock_timeout");
          c.exec(retention_unlock);
        }
      } catch (...) {  // the session's end releases it anyway
      }
    }
  } guard{c};
  c.exec("SET lock_timeout = '5s'");
  std::size_t dropped = 0;
  auto expired = [&](const char* name) {
    auto d = partition_day(name);
    return d && (*d + 1) * day_us <= cutoff_us;
  };
  auto r = c.exec(list_partitions_sql());
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    const char* name = PQgetvalue(r.get(), i, 0);
    if (!expired(name)) continue;
    bool pending = std::string_view(PQgetvalue(r.get(), i, 1)) == "t";
    dropped += drop_one(c, name, true, pending) ? 1 : 0;
  }
  // A few rows per order and day: a DELETE is cheap here (the points go by partition).
  c.exec("DELETE FROM peyk_order_days WHERE day < " + std::to_string(day_of(cutoff_us)));
  // Left detached by a round that stopped between DETACH and DROP.
  auto orphans = c.exec(
      "SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' AND c.relname LIKE "
      "'peyk\\_points\\_%' AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = "
      "current_schema()) AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid)");
  for (int i = 0; i < PQntuples(orphans.get()); ++i) {
    const char* name = PQgetvalue(orphans.get(), i, 0);
    if (expired(name)) dropped += drop_one(c, name, false, false) ? 1 : 0;
  }
  return dropped;
}

}  // namespace peyk::history::pg
