#pragma once
// A thin RAII layer over the SQLite C API for the history backend: a connection, prepared
// statements, errors as exceptions (caught by the writer and reader loops), and the schema.

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace peyk::history::sqlite {

// Any SQLite failure: `code` is the extended result code.
class failure : public std::runtime_error {
 public:
  failure(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

class stmt {
 public:
  stmt() = default;
  stmt(sqlite3* db, std::string_view sql);
  stmt(stmt&& o) noexcept : s_(o.s_) { o.s_ = nullptr; }
  stmt& operator=(stmt&& o) noexcept;
  stmt(const stmt&) = delete;
  stmt& operator=(const stmt&) = delete;
  ~stmt();

  // Resets the statement for another run (bindings are replaced, not cleared).
  stmt& reset();
  stmt& bind(int i, std::int64_t v);
  stmt& bind(int i, std::string_view v);
  stmt& bind(int i, std::optional<std::int64_t> v);
  stmt& bind_null(int i);
  // True when a row is available, false when done; throws on error.
  bool step();
  // Runs to completion (a statement without rows).
  void run() {
    while (step()) {
    }
  }

  std::int64_t i64(int col) const;
  std::optional<std::int64_t> opt(int col) const;
  std::string_view text(int col) const;
  bool null(int col) const;

 private:
  sqlite3_stmt* s_ = nullptr;
  sqlite3* db_ = nullptr;
};

class db {
 public:
  db() = default;
  db(db&& o) noexcept : h_(o.h_) { o.h_ = nullptr; }
  db& operator=(db&& o) noexcept;
  db(const db&) = delete;
  db& operator=(const db&) = delete;
  ~db();

  // Opens (the writer creates the file and the schema; a reader only opens).
  // `own_checkpoints`: no automatic checkpoint in the writer's commits (another connection
  // checkpoints).
  static db open_writer(const std::string& path, int cache_mib, bool own_checkpoints = false);
  static db open_checkpointer(const std::string& path);
  static db open_reader(const std::string& path, int cache_mib);

  explicit operator bool() const { return h_ != nullptr; }
  sqlite3* handle() const { return h_; }
  void exec(const char* sql);
  stmt prepare(std::string_view sql) { return stmt(h_, sql); }
  std::int64_t changes() const;
  // Copies what it can of the WAL into the database file now, blocking nobody.
  void checkpoint_passive();

 private:
  explicit db(sqlite3* h) : h_(h) {}
  sqlite3* h_ = nullptr;
};

// Throws `failure` for a result code that is not OK/ROW/DONE.
void check(sqlite3* db, int rc, const char* what);

}  // namespace peyk::history::sqlite
