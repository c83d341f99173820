#pragma once
// Test support for the PostgreSQL history backend: a real PostgreSQL 15 server of its own
// (initdb in a fresh temporary directory, a free loopback port, the socket in that
// directory), run as the `postgres` user because initdb and postgres refuse root; SQL as
// the superuser over the Unix socket. The server is this process's child and dies with
// it (PR_SET_PDEATHSIG). Errors throw std::runtime_error (no gtest here: the bench uses it).
//
// Binaries: $PEYK_PG_BIN, else /usr/lib/postgresql/15/bin (Debian's postgresql-15).

#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "history/history.hpp"

namespace peyk::history::test_support {

inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

inline std::string pg_bin(const std::string& tool) {
  const char* dir = std::getenv("PEYK_PG_BIN");
  return std::string(dir && *dir ? dir : "/usr/lib/postgresql/15/bin") + "/" + tool;
}

using rows = std::vector<std::vector<std::string>>;

class pg_server {
 public:
  // fsync: the server's fsync setting (on for durability, off where only speed matters);
  // settings: more -c NAME=VALUE (later ones win).
  explicit pg_server(bool fsync, std::vector<std::string> settings = {})
      : fsync_(fsync), settings_(std::move(settings)), port_(free_port()) {
    passwd* pw = ::getpwnam("postgres");
    if (!pw) throw std::runtime_error("no `postgres` user (install postgresql-15)");
    uid_ = pw->pw_uid;
    gid_ = pw->pw_gid;
    char tmpl[] = "/tmp/peyk-pg-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    if (::chown(dir_.c_str(), uid_, gid_) != 0) throw std::runtime_error("chown failed");
    // initdb takes seconds: once per process, then each server copies its result
    // (cp -a keeps the owner and the 0700 mode postgres insists on).
    auto cmd = "cp -a " + template_data() + " " + data();
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error(cmd + " failed");
    start();
  }
  ~pg_server() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  pg_server(const pg_server&) = delete;
  pg_server& operator=(const pg_server&) = delete;

  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  bool running() const { return pid_ > 0; }

  // The server in the foreground (`postgres`), on the same port and data as before.
  void start() {
    if (pid_ > 0) return;
    std::vector<std::string> args{pg_bin("postgres"),    "-D", data(), "-p",
                                  std::to_string(port_), "-k", dir_};
    std::vector<std::string> all{std::string("fsync=") + (fsync_ ? "on" : "off"),
                                 "listen_addresses=127.0.0.1", "max_connections=100",
                                 "shared_buffers=32MB"};
    all.insert(all.end(), settings_.begin(), settings_.end());  // later ones win
    for (auto& setting : all) {
      args.push_back("-c");
      args.push_back(setting);
    }
    pid_ = spawn(args);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    auto conninfo = super_conninfo("postgres");
    while (PQping(conninfo.c_str()) != PQPING_OK) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = 0;
        throw std::runtime_error("postgres exited at start:\n" + log_text());
      }
      if (std::chrono::steady_clock::now() > deadline) {
        throw std::runtime_error("postgres did not answer within 30 s:\n" + log_text());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // Fast shutdown (SIGINT): clients are disconnected, the data stays.
  void stop() { signal_and_wait(SIGINT); }
  // Immediate shutdown (SIGQUIT): like a crash; the next start recovers from the WAL.
  void crash() { signal_and_wait(SIGQUIT); }

  // postgres://peyk:PASS@127.0.0.1:PORT/DB, the role `peyk` (created with the first
  // database) owning DB.
  std::string url(const std::string& db) const {
    return "postgres://peyk:" + password() + "@127.0.0.1:" + std::to_string(port_) + "/" + db;
  }
  static std::string password() { return "peyk-s3cret"; }

  // Creates `db` owned by the role `peyk`; returns its url().
  std::string create_database(const std::string& db) {
    if (!role_) {
      sql("postgres", "CREATE ROLE peyk LOGIN PASSWORD '" + password() + "'");
      role_ = true;
    }
    sql("postgres", "CREATE DATABASE " + db + " OWNER peyk");
    return url(db);
  }

  // Runs `q` (one or more statements) as the superuser; the last statement's rows as text
  // (NULL as "\N"). Throws on an error.
  rows sql(const std::string& db, const std::string& q) const {
    auto conninfo = super_conninfo(db);
    PGconn* c = PQconnectdb(conninfo.c_str());
    if (PQstatus(c) != CONNECTION_OK) {
      std::string msg = PQerrorMessage(c);
      PQfinish(c);
      throw std::runtime_error("connect to " + db + ": " + msg);
    }
    PQsetNoticeProcessor(
        c, [](void*, const char*) {}, nullptr);
    PGresult* r = PQexec(c, q.c_str());
    auto st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      std::string msg = PQresultErrorMessage(r);
      PQclear(r);
      PQfinish(c);
      throw std::runtime_error(q + ": " + msg);
    }
    rows out;
    for (int i = 0; i < PQntuples(r); ++i) {
      auto& row = out.emplace_back();
      for (int k = 0; k < PQnfields(r); ++k) {
        row.push_back(PQgetisnull(r, i, k) ? "\\N" : PQgetvalue(r, i, k));
      }
    }
    PQclear(r);
    PQfinish(c);
    return out;
  }
  std::string scalar(const std::string& db, const std::string& q) const {
    auto r = sql(db, q);
    if (r.empty() || r[0].empty()) throw std::runtime_error(q + ": no value");
    return r[0][0];
  }

  std::string log_text() const {
    std::ifstream f(dir_ + "/server.log");
    std::stringstream ss;
    ss << f.rdbuf();
    auto s = ss.str();
    return s.size() > 4000 ? s.substr(s.size() - 4000) : s;
  }

 private:
  std::string data() const { return dir_ + "/data"; }
  std::string super_conninfo(const std::string& db) const {
    return "host=" + dir_ + " port=" + std::to_string(port_) + " user=postgres dbname=" + db +
           " connect_timeout=5";
  }

  void signal_and_wait(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    ::waitpid(pid_, nullptr, 0);
    pid_ = 0;
  }

  // fork + exec `args` as the postgres user, output appended to server.log.
  pid_t spawn(const std::vector<std::string>& args) {
    std::vector<std::string> copy = args;
    std::vector<char*> argv;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    auto log_path = dir_ + "/server.log";
    const pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      int null = ::open("/dev/null", O_RDONLY);
      if (fd < 0 || null < 0) ::_exit(126);
      ::dup2(null, 0);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      if (::setgroups(0, nullptr) != 0 || ::setgid(gid_) != 0 || ::setuid(uid_) != 0) {
        ::_exit(125);
      }
      // After setuid: a credential change clears the parent-death signal.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(1);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    return pid;
  }

  int run(const std::vector<std::string>& args) {
    pid_t pid = spawn(args);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  // An initdb'd data directory that every server copies. ctest runs each test in its own
  // process, so it is kept across processes (and runs) in /tmp, made once under a lock
  // and renamed into place whole; remove /tmp/peyk-pg-template-* to rebuild it.
  std::string template_data() {
    auto top = "/tmp/peyk-pg-template-" + std::to_string(::geteuid());
    auto ready = [&] {
      std::ifstream v(top + "/data/PG_VERSION");
      std::string major;
      return v >> major && major == "15";
    };
    if (ready()) return top + "/data";
    int lock = ::open((top + ".lock").c_str(), O_RDWR | O_CREAT, 0600);
    if (lock < 0 || ::flock(lock, LOCK_EX) != 0) throw std::runtime_error("cannot lock " + top);
    struct closer {
      int fd;
      ~closer() { ::close(fd); }
    } unlock{lock};
    if (ready()) return top + "/data";
    std::error_code ec;
    std::filesystem::remove_all(top, ec);
    auto tmp = top + ".tmp" + std::to_string(::getpid());
    std::filesystem::remove_all(tmp, ec);
    if (::mkdir(tmp.c_str(), 0700) != 0 || ::chown(tmp.c_str(), uid_, gid_) != 0) {
      throw std::runtime_error("cannot create " + tmp);
    }
    int rc = run({pg_bin("initdb"), "-D", tmp + "/data", "-U", "postgres", "-A", "trust",
                  "--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync",
                  "--no-instructions"});
    if (rc != 0) throw std::runtime_error("initdb failed:\n" + log_text());
    if (::rename(tmp.c_str(), top.c_str()) != 0) throw std::runtime_error("cannot rename " + tmp);
    return top + "/data";
  }

  bool fsync_;
  std::vector<std::string> settings_;
  int port_;
  std::string dir_;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  pid_t pid_ = 0;
  bool role_ = false;
};

// ---- store helpers

inline std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// RFC 3339 with microseconds, UTC.
inline std::string rfc3339(std::int64_t us) {
  using namespace std::chrono;
  sys_time<microseconds> tp{microseconds{us}};
  auto day = floor<days>(tp);
  year_month_day ymd{day};
  hh_mm_ss<microseconds> hms{tp - day};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%06lldZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
                static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()),
                static_cast<long long>(hms.subseconds().count()));
  return buf;
}

// A point of `courier` at time `t_us` (its ts; recorded_at left out).
inline location_ptr loc(std::string courier, std::int64_t t_us, double lat = 35.7,
                        double lon = 51.4) {
  auto l = std::make_shared<core::location>();
  l->courier_id = std::move(courier);
  l->latitude = lat;
  l->longitude = lon;
  l->ts_us = t_us;
  return l;
}

inline boost::system::error_code append_sync(store& s, std::vector<location_ptr> batch) {
  std::promise<boost::system::error_code> p;
  auto f = p.get_future();
  s.append(batch, [&p](boost::system::error_code ec) { p.set_value(ec); });
  return f.get();
}

inline std::pair<boost::system::error_code, page> read_sync(store& s, const query& q) {
  std::promise<std::pair<boost::system::error_code, page>> p;
  auto f = p.get_future();
  s.read(q, [&p](boost::system::error_code ec, page pg) { p.set_value({ec, std::move(pg)}); });
  return f.get();
}

template <class F>
bool eventually(F f, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return f();
}

}  // namespace peyk::history::test_support
