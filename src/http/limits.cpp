#include "http/limits.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>

namespace peyk::http {

namespace {

constexpr std::size_t unlimited = std::numeric_limits<std::size_t>::max();

std::string address_key(const boost::asio::ip::address& a) {
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    return std::string(b.begin(), b.end());
  }
  auto v6 = a.to_v6();
  if (v6.is_v4_mapped()) {
    auto b = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6).to_bytes();
    return std::string(b.begin(), b.end());
  }
  auto b = v6.to_bytes();
  return std::string(b.begin(), b.end());
}

// Takes one slot of `key` in `table`; false (nothing taken) when it holds `max` already.
bool take(std::mutex& mu, std::unordered_map<std::string, std::size_t>& table,
          const std::string& key, std::size_t max) {
  std::lock_guard lock(mu);
  auto& n = table[key];
  if (max != 0 && n >= max) {
    if (n == 0) table.erase(key);
    return false;
  }
  ++n;
  return true;
}

void give(std::mutex& mu, std::unordered_map<std::string, std::size_t>& table,
          const std::string& key) {
  std::lock_guard lock(mu);
  auto it = table.find(key);
  if (it != table.end() && --it->second == 0) table.erase(it);
}

}  // namespace

struct limits::state {
  limit_settings cfg;
  std::atomic<std::size_t> sockets{0};
  std::atomic<std::size_t> viewers{0};
  std::mutex ip_mu, token_mu;
  std::unordered_map<std::string, std::size_t> per_ip, per_token;
  std::atomic<std::uint64_t> refused_accept{0}, refused_ip{0}, refused_max_viewers{0},
      refused_descriptors{0}, refused_per_token{0};
};

namespace {

// A lease is a live object whose destructor gives its slots back (a shared_ptr<void> to
// nothing would test false and could not tell an admission from a refusal).
struct socket_slot {
  socket_slot(std::shared_ptr<limits::state> s, std::string key)
      : st(std::move(s)), ip_key(std::move(key)) {}
  socket_slot(const socket_slot&) = delete;
  socket_slot& operator=(const socket_slot&) = delete;
  ~socket_slot();
  std::shared_ptr<limits::state> st;
  std::string ip_key;  // empty: addresses not counted
};
struct viewer_slot {
  viewer_slot(std::shared_ptr<limits::state> s, std::string key)
      : st(std::move(s)), token_key(std::move(key)) {}
  viewer_slot(const viewer_slot&) = delete;
  viewer_slot& operator=(const viewer_slot&) = delete;
  ~viewer_slot();
  std::shared_ptr<limits::state> st;
  std::string token_key;  // empty: identities not counted
};

}  // namespace

limit_figures derive_limits(const limit_settings& s) {
  limit_figures f{unlimited, unlimited, unlimited, 0};
  if (s.fd_limit > 0) {
    f.reserve = s.fd_reserve ? s.fd_reserve : std::max<std::size_t>(64, s.fd_limit / 50);
    auto free_for = [&](std::size_t kept) {
      return s.fd_limit > s.fd_base + kept ? s.fd_limit - s.fd_base - kept : std::size_t{1};
    };
    f.viewer_sockets = free_for(f.reserve);
    // New connections may use half of the reserve (health, metrics, ingest); the other
    // half is for the broker's reconnects, the panel's files and the process itself.
    f.accept_sockets = free_for(f.reserve / 2);
    f.max_viewers = f.viewer_sockets;
  }
  if (s.max_viewers != 0) f.max_viewers = s.max_viewers;
  return f;
}

limits::limits(limit_settings s) : fig_(derive_limits(s)), st_(std::make_shared<state>()) {
  st_->cfg = s;
}

std::string viewer_key(const auth::identity& who) {
  std::string key(auth::to_string(who.role));
  key += '\0';
  key += who.sub;
  return key;
}

limits::connection limits::enter(const boost::asio::ip::address& addr) {
  auto& st = *st_;
  if (st.sockets.fetch_add(1, std::memory_order_relaxed) >= fig_.accept_sockets) {
    st.sockets.fetch_sub(1, std::memory_order_relaxed);
    st.refused_accept.fetch_add(1, std::memory_order_relaxed);
    return {};
  }
  connection c;
  std::string key;
  if (st.cfg.max_connections_per_ip != 0) {
    key = address_key(addr);
    // Counted even when over: the socket is open until its 429 is written.
    std::lock_guard lock(st.ip_mu);
    c.over_ip = ++st.per_ip[key] > st.cfg.max_connections_per_ip;
  }
  c.lease = std::make_shared<socket_slot>(st_, std::move(key));
  return c;
}

limits::viewer limits::admit_viewer(const auth::identity& who) {
  auto& st = *st_;
  if (st.viewers.fetch_add(1, std::memory_order_relaxed) >= fig_.max_viewers) {
    st.viewers.fetch_sub(1, std::memory_order_relaxed);
    st.refused_max_viewers.fetch_add(1, std::memory_order_relaxed);
    return {nullptr, verdict::max_viewers};
  }
  // The socket being upgraded is among the open ones already.
  if (st.sockets.load(std::memory_order_relaxed) > fig_.viewer_sockets) {
    st.viewers.fetch_sub(1, std::memory_order_relaxed);
    st.refused_descriptors.fetch_add(1, std::memory_order_relaxed);
    return {nullptr, verdict::descriptors};
  }
  std::string key;
  if (st.cfg.max_viewers_per_token != 0) {
    key = viewer_key(who);
    if (!take(st.token_mu, st.per_token, key, st.cfg.max_viewers_per_token)) {
      st.viewers.fetch_sub(1, std::memory_order_relaxed);
      st.refused_per_token.fetch_add(1, std::memory_order_relaxed);
      return {nullptr, verdict::per_token};
    }
  }
  return {std::make_shared<viewer_slot>(st_, std::move(key)), verdict::ok};
}

namespace {

socket_slot::~socket_slot() {
  if (!ip_key.empty()) give(st->ip_mu, st->per_ip, ip_key);
  st->sockets.fetch_sub(1, std::memory_order_relaxed);
}

viewer_slot::~viewer_slot() {
  if (!token_key.empty()) give(st->token_mu, st->per_token, token_key);
  st->viewers.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace

std::size_t limits::sockets() const {
  return st_->sockets.load(std::memory_order_relaxed);
}

std::size_t limits::viewers() const {
  return st_->viewers.load(std::memory_order_relaxed);
}

void limits::count_refused_ip() {
  st_->refused_ip.fetch_add(1, std::memory_order_relaxed);
}

void limits::render(std::string& out) const {
  const auto& st = *st_;
  const auto line = [&](const char* labels, std::uint64_t v) {
    out += "peyk_limit_refused_total{limit=\"";
    out += labels;
    out += "\"} " + std::to_string(v) + "\n";
  };
  out +=
      "# HELP peyk_limit_refused_total Connections and upgrades refused by a limit: max_viewers "
      "and descriptors (503), per_token and per_ip (429), accept (closed: descriptor reserve).\n"
      "# TYPE peyk_limit_refused_total counter\n";
  line("max_viewers", st.refused_max_viewers.load(std::memory_order_relaxed));
  line("descriptors", st.refused_descriptors.load(std::memory_order_relaxed));
  line("per_token", st.refused_per_token.load(std::memory_order_relaxed));
  line("per_ip", st.refused_ip.load(std::memory_order_relaxed));
  line("accept", st.refused_accept.load(std::memory_order_relaxed));
  const auto gauge = [&](const char* name, const char* help, std::size_t v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n" + name +
           " " + (v == unlimited ? std::string("+Inf") : std::to_string(v)) + "\n";
  };
  gauge("peyk_open_sockets", "Client sockets open (HTTP and viewers).",
        st.sockets.load(std::memory_order_relaxed));
  gauge("peyk_viewer_limit", "Viewers admitted at most (--max-viewers or derived).",
        fig_.max_viewers);
  gauge("peyk_fd_limit", "RLIMIT_NOFILE soft limit in force (0: unknown).", st.cfg.fd_limit);
}

std::size_t raise_fd_limit(std::size_t& before) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return before = 0;
  before = static_cast<std::size_t>(rl.rlim_cur);
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit want = rl;
    want.rlim_cur = rl.rlim_max;
    if (want.rlim_cur == RLIM_INFINITY) {
      // The kernel refuses more than fs.nr_open.
      std::ifstream in("/proc/sys/fs/nr_open");
      std::size_t nr_open = 0;
      want.rlim_cur = (in >> nr_open) && nr_open > 0 ? nr_open : 1u << 20;
    }
    if (::setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
  }
  return rl.rlim_cur == RLIM_INFINITY ? std::size_t{0} : static_cast<std::size_t>(rl.rlim_cur);
}

std::size_t count_open_fds() {
  std::error_code ec;
  std::size_t n = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    ++n;
  }
  return ec ? 0 : (n > 0 ? n - 1 : 0);  // less the iterator's own
}

}  // namespace peyk::http
