// `peyk demo`: the all-in-one server with a throwaway key, printing how to use it.
#include <cstdlib>
#include <iostream>

#include <openssl/rand.h>

#include <boost/json.hpp>

#include "app/commands.hpp"
#include "auth/jwt.hpp"
#include "core/clock.hpp"

namespace peyk::app {

namespace {

std::string random_secret() {
  unsigned char buf[32];
  if (RAND_bytes(buf, sizeof buf) != 1) throw std::runtime_error("no randomness");
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (unsigned char b : buf) {
    s += hex[b >> 4];
    s += hex[b & 15];
  }
  return s;
}

std::string token(const std::string& secret, boost::json::object claims) {
  claims["iat"] = core::now_s();
  claims["exp"] = core::now_s() + 12 * 3600;
  return auth::sign_hs256(claims, secret);
}

}  // namespace

int demo_main(int argc, const char* const* argv) {
  int code = 0;
  auto cfg = parse_serve(argc, argv, std::cout, std::cerr, code, "demo");
  if (!cfg) return code;
  if (!std::getenv("PEYK_JWT_SECRET") && cfg->jwt_secret_file.empty()) {
    // The one place a generated key is fine: a demo that lives as long as this process.
    ::setenv("PEYK_JWT_SECRET", random_secret().c_str(), 1);
  }
  std::string secret = load_secret(cfg->jwt_secret_file);
  return run_serve(std::move(*cfg), role::all, [&](const std::string& url) {
    auto admin = token(secret, {{"sub", "1"}, {"role", "admin"}, {"name", "demo admin"}});
    auto courier =
        token(secret,
              {{"sub", "10"}, {"role", "courier"}, {"name", "test_driver1"}, {"fleet", "store-7"}});
    auto customer = token(secret, {{"sub", "c1"}, {"role", "customer"}, {"orders", {"A123"}}});
    std::cout << "\npeyk demo is running at " << url << "\n\n"
              << "Panel (admin):\n  " << url << "/#token=" << admin << "\n\n"
              << "Customer tracking order A123:\n  " << url << "/track#token=" << customer << "\n\n"
              << "Post a location as courier 10:\n  curl -s -X POST " << url
              << "/api/v1/locations \\\n    -H 'Authorization: Bearer " << courier
              << "' \\\n    -H 'Content-Type: application/json' \\\n"
              << "    -d '{\"latitude\": 35.7001, \"longitude\": 51.4011, \"orders\": "
                 "[\"A123\"]}'\n\n"
              << "Watch it live (any WebSocket client):\n  websocat -H 'Authorization: Bearer "
              << admin << "' "
              << "ws" << url.substr(4) << "/ws\n\n"
              << "Ctrl-C stops the demo.\n"
              << std::flush;
  });
}

}  // namespace peyk::app
