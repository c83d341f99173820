#include "history/postgres_conn.hpp"

#include <poll.h>

#include <cctype>

#include <boost/url/parse.hpp>

#include "core/log.hpp"

namespace peyk::history::pg {

namespace {
constexpr const char* usage = "--history takes postgres://USER[:PASS]@HOST:PORT/DB";

// What a dead or hung server costs us at most: the connect, and unacknowledged data on a
// connection whose peer vanished without a FIN (TCP keepalives and tcp_user_timeout).
const std::pair<const char*, const char*> defaults[] = {
    {"connect_timeout", "3"},     {"keepalives", "1"},         {"keepalives_idle", "5"},
    {"keepalives_interval", "2"}, {"keepalives_count", "3"},   {"tcp_user_timeout", "10000"},
    {"application_name", "peyk"}, {"client_encoding", "UTF8"},
};
}  // namespace

std::string redact(const std::string& spec) {
  // Masks what sits between "//user:" and the last '@' of the authority, parsed or not,
  // and the value of any query parameter named like a password (sslpassword...).
  std::string out = spec;
  auto scheme_end = out.find("://");
  if (scheme_end == std::string::npos) return out;
  auto auth_begin = scheme_end + 3;
  auto auth_end = out.find_first_of("/?#", auth_begin);
  if (auth_end == std::string::npos) auth_end = out.size();
  auto at = out.rfind('@', auth_end);
  if (at != std::string::npos && at >= auth_begin) {
    auto colon = out.find(':', auth_begin);
    if (colon != std::string::npos && colon < at)
      out = out.substr(0, colon + 1) + "***" + out.substr(at);
  }
  auto q = out.find('?');
  for (std::size_t k = q; k != std::string::npos && k < out.size();) {
    auto end = out.find('&', k + 1);
    auto eq = out.find('=', k + 1);
    if (end == std::string::npos) end = out.size();
    if (eq != std::string::npos && eq < end) {
      std::string key = out.substr(k + 1, eq - k - 1);
      for (auto& ch : key) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (key.find("pass") != std::string::npos) {
        out = out.substr(0, eq + 1) + "***" + out.substr(end);
        end = eq + 4;
      }
    }
    k = end < out.size() ? end : std::string::npos;
  }
  return out;
}

target parse_spec(const std::string& spec) {
  auto u = boost::urls::parse_uri(spec);
  if (!u || (u->scheme() != "postgres" && u->scheme() != "postgresql")) {
    throw std::invalid_argument(std::string(usage) + ", not " + redact(spec));
  }
  target t;
  t.redacted = redact(spec);
  if (!u->has_authority() || u->host().empty()) {
    throw std::invalid_argument(std::string(usage) + ": no host in " + t.redacted);
  }
  auto host = u->host();
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  std::string db(u->path());
  if (!db.empty() && db.front() == '/') db.erase(0, 1);
  if (db.empty() || db.find('/') != std::string::npos) {
    throw std::invalid_argument(std::string(usage) + ": no database in " + t.redacted);
  }
  for (auto& [k, v] : defaults) t.params.emplace_back(k, v);
  t.params.emplace_back("host", host);
  if (u->has_port()) {
    if (u->port_number() == 0) {
      throw std::invalid_argument(std::string(usage) + ": bad port in " + t.redacted);
    }
    t.params.emplace_back("port", std::to_string(u->port_number()));
  }
  if (u->has_userinfo() && !u->user().empty()) t.params.emplace_back("user", u->user());
  if (u->has_password()) t.params.emplace_back("password", u->password());
  t.params.emplace_back("dbname", db);
  // Anything libpq takes (sslmode, sslrootcert, connect_timeout...); later entries win.
  for (auto p : u->params()) {
    std::string key(p.key);
    if (key == "host" || key == "port" || key == "user" || key == "password" || key == "dbname" ||
        key == "client_encoding") {
      throw std::invalid_argument(std::string(usage) + ": '" + key +
                                  "' belongs in the URL itself, not its query");
    }
    t.params.emplace_back(key, std::string(p.value));
  }
  // libpq rejects unknown keywords only at connect; check them now (a typo in a flag).
  PQconninfoOption* opts = PQconndefaults();
  for (auto& [k, v] : t.params) {
    bool known = false;
    for (auto* o = opts; o && o->keyword; ++o) known = known || k == o->keyword;
    if (!known) {
      PQconninfoFree(opts);
      throw std::invalid_argument("--history: unknown connection parameter '" + k + "'");
    }
  }
  PQconninfoFree(opts);
  return t;
}

bool lost_state(std::string_view s) {
  return s.starts_with("08") || s == "57P01" || s == "57P02" || s == "57P03";
}

std::string one_line(std::string_view msg) {
  std::string out;
  for (char c : msg) {
    if (c == '\n' || c == '\r') {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += c;
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

connection::connection(const target& t) {
  std::vector<const char*> keys, values;
  for (auto& [k, v] : t.params) {
    keys.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  conn_ = PQconnectdbParams(keys.data(), values.data(), 0);
  if (!conn_) throw error("out of memory", "", true);
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string msg = one_line(PQerrorMessage(conn_));
    PQfinish(conn_);
    conn_ = nullptr;
    throw error(msg, "", true);
  }
  // Notices ("relation already exists, skipping", a terminated backend's FATAL while
  // idle) would go to stderr as is; they are news only when debugging.
  PQsetNoticeProcessor(
      conn_,
      [](void*, const char* msg) {
        if (core::log_enabled(core::log_level::debug)) {
          core::log(core::log_level::debug, "history: postgres: " + one_line(msg));
        }
      },
      nullptr);
}

connection::~connection() {
  if (conn_) PQfinish(conn_);
}

void connection::fail(PGresult* r, const char* what) {
  std::string state;
  std::string msg;
  if (r) {
    if (const char* s = PQresultErrorField(r, PG_DIAG_SQLSTATE)) state = s;
    msg = PQresultErrorMessage(r);
    PQclear(r);
  }
  if (msg.empty()) msg = PQerrorMessage(conn_);
  if (msg.empty()) msg = what;
  throw error(one_line(msg), state, PQstatus(conn_) != CONNECTION_OK || lost_state(state));
}

result connection::check(PGresult* r) {
  auto st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return result(r);
  fail(r, "statement failed");
}

result connection::exec(const std::string& sql) {
  return check(PQexec(conn_, sql.c_str()));
}

result connection::exec(const std::string& sql,
                        const std::vector<std::optional<std::string>>& params, bool binary_result) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  return check(PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                            values.data(), nullptr, nullptr, binary_result ? 1 : 0));
}

void connection::copy_in(const std::string& sql, const std::vector<std::string_view>& pieces) {
  PGresult* r = PQexec(conn_, sql.c_str());
  if (!r || PQresultStatus(r) != PGRES_COPY_IN) fail(r, "COPY did not start");
  PQclear(r);
  // libpq buffers and sends in blocking mode; chunks keep each call's copy small.
  constexpr std::size_t chunk = 1 << 20;
  for (auto data : pieces) {
    for (std::size_t off = 0; off < data.size(); off += chunk) {
      auto n = std::min(chunk, data.size() - off);
      if (PQputCopyData(conn_, data.data() + off, static_cast<int>(n)) != 1) {
        throw error(one_line(PQerrorMessage(conn_)), "", true);  // mid-COPY: start over
      }
    }
  }
  if (PQputCopyEnd(conn_, nullptr) != 1) throw error(one_line(PQerrorMessage(conn_)), "", true);
  result last;
  while (PGresult* x = PQgetResult(conn_)) {
    if (PQresultStatus(x) != PGRES_COMMAND_OK) {
      while (PGresult* rest = PQgetResult(conn_)) PQclear(rest);
      fail(x, "COPY failed");
    }
    last.reset(x);
  }
  if (!last) fail(nullptr, "COPY returned no result");
}

bool connection::alive() {
  if (!ok()) return false;
  pollfd p{PQsocket(conn_), POLLIN, 0};
  if (p.fd < 0) return false;
  int n = ::poll(&p, 1, 0);
  if (n <= 0) return true;  // nothing to read: nothing happened
  // A notice, or the FATAL and EOF of a terminated backend: consuming tells them apart.
  if (PQconsumeInput(conn_) == 0) return false;
  while (PGnotify* note = PQnotifies(conn_)) PQfreemem(note);
  return ok();
}

void connection::rollback_if_open() noexcept {
  if (!conn_ || !ok()) return;
  auto st = PQtransactionStatus(conn_);
  if (st == PQTRANS_INTRANS || st == PQTRANS_INERROR) {
    if (PGresult* r = PQexec(conn_, "ROLLBACK")) PQclear(r);
  }
}

}  // namespace peyk::history::pg
