// The backend-independent cases of history::store (store_conformance.hpp) against a real
// PostgreSQL 15: one server for the run (fsync off: behaviour, not durability), a fresh
// database for each store the suite opens.

#include "history/store_conformance.hpp"

#include "core/metrics.hpp"
#include "history/postgres_store.hpp"
#include "history/postgres_test_support.hpp"

namespace peyk::history {
namespace {

using namespace testing;

test_support::pg_server& server() {
  static test_support::pg_server s(false);  // stopped at exit, with its directory
  return s;
}

core::metrics& test_metrics() {  // outlives every store (a store keeps a reference)
  static core::metrics m;
  return m;
}

std::unique_ptr<store> fresh(const options& o) {
  static int n = 0;
  auto url = server().create_database("conformance" + std::to_string(++n));
  return std::make_unique<postgres_store>(url, o, test_metrics());
}

INSTANTIATE_TEST_SUITE_P(Postgres, StoreConformance,
                         ::testing::Values(conformance_backend{"postgres", fresh}),
                         conformance_name);

}  // namespace
}  // namespace peyk::history
