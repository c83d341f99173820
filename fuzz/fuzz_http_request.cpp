// libFuzzer target: the HTTP request path up to routing, without sockets. Bytes go into
// a Beast request parser configured as the HTTP session configures it (header and body
// limits), pipelined requests one after another as on a keep-alive connection; each
// complete request goes through http::route with the real ingest, upgrade, health,
// metrics and config handlers, an in-process broker and a responder that records what
// the route did. Property: every routed request gets exactly one answer (a response or
// an upgrade).
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>

#include "auth/jwt.hpp"
#include "auth/token_cache.hpp"
#include "broker/memory_broker.hpp"
#include "core/metrics.hpp"
#include "core/rate_limiter.hpp"
#include "gateway/gateway.hpp"
#include "http/limits.hpp"
#include "http/routes.hpp"
#include "http/server.hpp"
#include "store/last_known.hpp"

namespace {

namespace bhttp = boost::beast::http;
using namespace peyk;

constexpr std::string_view fuzz_secret = "peyk-fuzz-secret-0123456789abcdef";

class recording_responder final : public http::responder {
 public:
  int answers = 0;
  void send(http::response res) override {
    ++answers;
    if (res.result_int() < 100 || res.result_int() > 599) std::abort();
  }
  void post(std::function<void()> fn) override { fn(); }
  void upgrade(std::shared_ptr<const auth::identity> who, gateway::subprotocol,
               std::shared_ptr<void> lease) override {
    if (!who || !lease) std::abort();
    ++answers;
  }
};

// Everything a route needs, built once: no sockets, no threads, no io_context running.
struct world {
  auth::jwt_verifier verifier{std::string(fuzz_secret)};
  auth::token_cache tokens{verifier, 1024};
  core::rate_limiter limiter{1e9, 1e9};
  broker::memory_broker broker;
  core::metrics metrics;
  std::atomic<bool> draining{false};
  http::limits conn_limits{http::limit_settings{}};
  store::last_known store;
  gateway::gateway gw{gateway::options{}, store, metrics, {}};
  http::settings cfg;
  http::services svc;

  world() {
    cfg.max_body = 16 * 1024;  // smaller than the default so that the limit is reachable
    cfg.max_header = 4 * 1024;
    cfg.allowed_origins = {"https://panel.example"};
    svc.tokens = &tokens;
    svc.limiter = &limiter;
    svc.broker = &broker;
    svc.gw = &gw;
    svc.metrics = &metrics;
    svc.draining = &draining;
    svc.conn_limits = &conn_limits;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static world w;
  boost::asio::const_buffer in(data, size);
  for (int n = 0; n < 8 && in.size() > 0; ++n) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(w.cfg.max_header));
    parser.body_limit(w.cfg.max_body);
    parser.eager(true);
    boost::beast::error_code ec;
    while (in.size() > 0 && !parser.is_done()) {
      auto used = parser.put(in, ec);
      in += used;
      if (ec || used == 0) break;
    }
    if (ec == bhttp::error::need_more) return 0;  // the session would wait for more bytes
    if (ec || !parser.is_done()) return 0;        // the session answers 400/413/431 and closes
    auto r = std::make_shared<recording_responder>();
    // As the session does: the head is checked first (auth before body), then routed.
    auto head = http::check_head(parser.get(), w.cfg, w.svc);
    if (head.refuse) {
      r->send(std::move(*head.refuse));
    } else {
      http::route(parser.get(), head, r, w.cfg, w.svc);
    }
    if (r->answers != 1) std::abort();
    if (!parser.get().keep_alive()) return 0;
  }
  return 0;
}
