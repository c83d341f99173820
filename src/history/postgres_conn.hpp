#pragma once
// libpq plumbing for the PostgreSQL history backend: the --history spec, one blocking
// connection with RAII results, errors that say whether the connection is gone, and the
// big-endian helpers of the binary COPY and result formats.
//
// Threading: a connection belongs to one thread at a time (libpq's rule).

#include <libpq-fe.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace peyk::history::pg {

// Where to connect: libpq keywords (the password among them) and the spec with its
// password masked, the only form that may appear in a log line.
struct target {
  std::vector<std::pair<std::string, std::string>> params;
  std::string redacted;
};

// Parses postgres://USER[:PASS]@HOST[:PORT]/DB[?libpq-keyword=value&...] (also
// postgresql://); percent-escapes are decoded. Throws std::invalid_argument, whose
// message never holds the password.
target parse_spec(const std::string& spec);

// The spec with any password replaced by "***" (also for specs that do not parse).
std::string redact(const std::string& spec);

struct result_deleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using result = std::unique_ptr<PGresult, result_deleter>;

// A failed statement or connection. `lost`: the connection is unusable (reconnect).
struct error : std::runtime_error {
  error(std::string msg, std::string state, bool is_lost)
      : std::runtime_error(std::move(msg)), sqlstate(std::move(state)), lost(is_lost) {}
  std::string sqlstate;  // e.g. "23514"; empty when the server sent none
  bool lost;
};

class connection {
 public:
  // Connects (blocking, bounded by connect_timeout); throws pg::error.
  explicit connection(const target& t);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  PGconn* get() const { return conn_; }
  bool ok() const { return PQstatus(conn_) == CONNECTION_OK; }

  // One statement without parameters; throws pg::error unless it succeeded.
  result exec(const std::string& sql);
  // With text parameters (nullopt = NULL); binary_result: every column in binary format.
  result exec(const std::string& sql, const std::vector<std::optional<std::string>>& params,
              bool binary_result);

  // COPY ... FROM STDIN whose payload is `pieces` in order; throws pg::error.
  void copy_in(const std::string& sql, const std::vector<std::string_view>& pieces);

  // Without blocking: false when the server closed the connection (a terminated backend,
  // a shutdown) while we were idle.
  bool alive();

  // ROLLBACK when a transaction was left open or failed; never throws.
  void rollback_if_open() noexcept;

 private:
  result check(PGresult* r);
  [[noreturn]] void fail(PGresult* r, const char* what);
  PGconn* conn_ = nullptr;
};

// True for SQLSTATEs after which the connection cannot be trusted (class 08, shutdowns).
bool lost_state(std::string_view sqlstate);

// Turns libpq's multi-line messages into one log line.
std::string one_line(std::string_view msg);

// Big-endian encoding (COPY BINARY, binary results).
inline void put16(std::string& b, std::int16_t v) {
  auto u = static_cast<std::uint16_t>(v);
  char c[2] = {static_cast<char>(u >> 8), static_cast<char>(u)};
  b.append(c, 2);
}
inline void put32(std::string& b, std::int32_t v) {
  auto u = static_cast<std::uint32_t>(v);
  char c[4] = {static_cast<char>(u >> 24), static_cast<char>(u >> 16), static_cast<char>(u >> 8),
               static_cast<char>(u)};
  b.append(c, 4);
}
inline void put64(std::string& b, std::int64_t v) {
  auto u = static_cast<std::uint64_t>(v);
  put32(b, static_cast<std::int32_t>(u >> 32));
  put32(b, static_cast<std::int32_t>(u & 0xffffffffu));
}
inline std::uint64_t get_be(const char* p, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

}  // namespace peyk::history::pg
