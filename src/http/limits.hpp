#pragma once
// Connection limits of one process (PROTOCOL.md §12): viewers in all, viewers per token
// identity, connections (HTTP and WebSocket together) per client address, and a reserve
// of descriptors that viewers may never take, so that /healthz, /metrics, ingest and the
// broker's reconnects keep working when viewers exhaust the rest.
//
// Accounting: every accepted socket holds a connection lease from its accept until it is
// closed, as an HTTP session and then, after an upgrade, as a viewer (the lease moves with
// the socket). A viewer also holds a viewer lease. Leases are shared_ptr<void> whose
// deleter gives the slot back, so any thread may drop them; counts are atomics, the per-
// address and per-identity tables sit behind one mutex each (touched once per connection,
// not per message).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include <boost/asio/ip/address.hpp>

#include "auth/identity.hpp"

namespace peyk::http {

struct limit_settings {
  std::size_t max_viewers = 0;                // 0: derived from the descriptor limit
  std::size_t max_viewers_per_token = 16;     // 0: none
  std::size_t max_connections_per_ip = 1000;  // HTTP and WebSocket together; 0: none
  std::size_t fd_limit = 0;    // RLIMIT_NOFILE's soft limit (0: no descriptor accounting)
  std::size_t fd_base = 0;     // descriptors open before any connection (listeners, broker)
  std::size_t fd_reserve = 0;  // kept from viewers; 0: max(64, 2% of fd_limit)
};

// The effective figures, derived once from limit_settings.
struct limit_figures {
  std::size_t max_viewers;     // viewers refused (503) at this many
  std::size_t viewer_sockets;  // viewers refused (503) once this many sockets are open
  std::size_t accept_sockets;  // new connections closed at accept at this many sockets
  std::size_t reserve;
};

limit_figures derive_limits(const limit_settings& s);

class limits {
 public:
  explicit limits(limit_settings s);

  const limit_figures& figures() const { return fig_; }

  // A connection lease for a socket just accepted from `addr`; null when the descriptors
  // left are the reserve's (the socket is to be closed at once). `over_ip` tells that the
  // address holds more connections than --max-connections-per-ip (this one is answered 429).
  struct connection {
    std::shared_ptr<void> lease;
    bool over_ip = false;
  };
  connection enter(const boost::asio::ip::address& addr);

  enum class verdict { ok, max_viewers, descriptors, per_token };
  struct viewer {
    std::shared_ptr<void> lease;  // null unless ok
    verdict why = verdict::ok;
  };
  // Admission of a viewer whose token was verified: the process-wide figures (503) and the
  // identity's share (429). The lease is held for the viewer's life.
  viewer admit_viewer(const auth::identity& who);

  std::size_t sockets() const;
  std::size_t viewers() const;

  void count_refused_ip();  // a request answered 429 for its address's count

  // Prometheus lines of the limits (appended to /metrics).
  void render(std::string& out) const;

  struct state;

 private:
  limit_figures fig_;
  std::shared_ptr<state> st_;  // shared with the leases, which may outlive this object
};

// The key a viewer's share is counted under: role and subject (never the token itself).
std::string viewer_key(const auth::identity& who);

// Raises RLIMIT_NOFILE's soft limit to its hard limit; returns the soft limit now in force
// (0 when it cannot be read). `before` gets the soft limit found.
std::size_t raise_fd_limit(std::size_t& before);

// Descriptors open in this process now (/proc/self/fd); 0 when unknown.
std::size_t count_open_fds();

}  // namespace peyk::http
