#pragma once
// The SQLite history backend (`--history sqlite:PATH`): one file in WAL mode, one writer
// thread with group commit, a small pool of reader threads with their own connections.
// See sqlite_db.cpp for the row format and sqlite_writer.hpp for the write path.

#include <chrono>
#include <memory>
#include <string>

#include "history/history.hpp"
#include "history/sqlite_writer.hpp"

namespace peyk::history {

struct sqlite_tuning {
  sqlite::writer_tuning writer;
  int reader_cache_mib = 16;
  int readers = 2;  // threads (and connections) answering read()
  // While the database cannot be written, the writer tries to reopen it this often.
  std::chrono::milliseconds retry_interval{1000};
  // How often retention runs; zero: retention / 10, within [100 ms, 60 s].
  std::chrono::milliseconds retention_interval{0};
};

std::unique_ptr<store> make_sqlite_store(const std::string& path, const options& opt,
                                         core::metrics& metrics, const sqlite_tuning& tuning = {});

}  // namespace peyk::history
