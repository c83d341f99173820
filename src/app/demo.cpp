// `peyk demo`: the all-in-one server with a throwaway key, printing how to use it.
#include <cstdlib>
#include <iostream>
#include <optional>
#include <thread>
#include <vector>

#include <openssl/rand.h>

#include <boost/json.hpp>
#include <boost/program_options.hpp>

#include "app/commands.hpp"
#include "auth/jwt.hpp"
#include "core/clock.hpp"
#include "simulator/simulator.hpp"

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

const char* demo_help =
    "usage: peyk demo [--couriers N] [serve options]\n\n"
    "Runs `peyk serve` with a throwaway key (unless PEYK_JWT_SECRET or --jwt-secret-file\n"
    "is given), the courier simulator in the same process, and prints the panel URL with\n"
    "an admin token, a customer tracking URL and a curl line.\n\n"
    "  --couriers N (=200)   simulated couriers (0: none)\n"
    "  --interval-idle D (=2s)   the idle update interval; the simulated couriers post at it\n\n"
    "Like every command it reads PEYK_<OPTION> variables and --config FILE (its [demo]\n"
    "section): `peyk config check demo` shows what it would run with.\n\n"
    "Tracks are recorded by default in ./peyk-data/history.sqlite (--data-dir DIR,\n"
    "--history sqlite:PATH | postgres://... | off, --history-retention 30d), so a\n"
    "courier's trail can be read back at once: /api/v1/couriers/ID/track.\n\n"
    "Every option of `peyk serve --help` is accepted too.\n";

}  // namespace

std::optional<demo_config> parse_demo(int argc, const char* const* argv, std::ostream& out,
                                      std::ostream& err, int& exit_code, settings_report* report) {
  int couriers = 200;
  namespace po = boost::program_options;
  po::options_description own("Demo");
  own.add_options()("couriers", po::value(&couriers)->default_value(couriers),
                    "simulated couriers (0: none), 0..100000");
  auto serve = parse_serve(argc, argv, out, err, exit_code, "demo", {&own, report});
  if (!serve) return std::nullopt;
  if (couriers < 0 || couriers > 100000) {
    err << "peyk: --couriers 0..100000\n(see --help)\n";
    exit_code = 2;
    return std::nullopt;
  }
  return demo_config{std::move(*serve), couriers};
}

int demo_main(int argc, const char* const* argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--help" || std::string_view(argv[i]) == "-h") {
      std::cout << demo_help;
      return 0;
    }
  }
  int code = 0;
  auto parsed = parse_demo(argc, argv, std::cout, std::cerr, code);
  if (!parsed) return code;
  const int couriers = parsed->couriers;
  // The simulated couriers post at the idle interval (2 s here), whatever the policy says.
  const double interval_s = parsed->serve.http.interval.idle_s;
  auto cfg = std::optional<serve_config>(std::move(parsed->serve));
  if (!std::getenv("PEYK_JWT_SECRET") && cfg->jwt_secret_file.empty()) {
    // The one place a generated key is fine: a demo that lives as long as this process.
    ::setenv("PEYK_JWT_SECRET", random_secret().c_str(), 1);
  }
  std::string secret = load_secret(cfg->jwt_secret_file);
  cfg->allow_short_secret = true;  // a throwaway demo; serve, ingest and gateway refuse it
  const std::string history = redact_history_spec(cfg->history);
  boost::asio::io_context sim_ioc;
  std::unique_ptr<simulator::simulator> sim;
  std::thread sim_thread;
  int rc = run_serve(std::move(*cfg), role::all, [&](const std::string& url) {
    if (couriers > 0) {
      simulator::options o;
      o.target = url;
      o.secret = secret;
      o.couriers = couriers;
      o.interval_s = interval_s;
      o.first_id = 1000;  // leaves "10", the courier of the printed curl line, to the user
      sim = std::make_unique<simulator::simulator>(sim_ioc, o);
      sim->start();
      sim_thread = std::thread([&] { sim_ioc.run(); });
    }
    auto admin = token(secret, {{"sub", "1"}, {"role", "admin"}, {"name", "demo admin"}});
    auto courier =
        token(secret,
              {{"sub", "10"}, {"role", "courier"}, {"name", "test_driver1"}, {"fleet", "store-7"}});
    // The simulator numbers orders from A1001: the first one is on its way right now.
    std::string order = couriers > 0 ? "A1001" : "A123";
    auto customer = token(secret, {{"sub", "c1"}, {"role", "customer"}, {"orders", {order}}});
    std::cout
        << "\npeyk demo is running at " << url << "\n\n"
        << "Panel (admin):\n  " << url << "/#token=" << admin << "\n\n"
        << "Customer tracking order " << order << ":\n  " << url << "/track#token=" << customer
        << "\n\n"
        << "Post a location as courier 10:\n  curl -s -X POST " << url
        << "/api/v1/locations \\\n    -H 'Authorization: Bearer " << courier
        << "' \\\n    -H 'Content-Type: application/json' \\\n"
        << "    -d '{\"latitude\": 35.7001, \"longitude\": 51.4011, \"orders\": "
           "[\"A123\"]}'\n\n"
        << "Watch it live with any WebSocket client, e.g.:\n  websocat -H 'Authorization: Bearer "
        << admin << "' "
        << "ws" << url.substr(4) << "/ws\n\n"
        << (history == "off"
                ? std::string("Tracks are not recorded (--history off).\n\n")
                : "Tracks are recorded in " + history + "; the last 24 h of courier " +
                      (couriers > 0 ? std::string("1000") : "10") +
                      " (also ?format=gpx, geojson or csv):\n  curl -s -H " +
                      "'Authorization: Bearer " + admin + "' \\\n    " + url + "/api/v1/couriers/" +
                      (couriers > 0 ? std::string("1000") : "10") + "/track\n\n")
        << (couriers > 0 ? std::to_string(couriers) + " simulated couriers (ids 1000+) are " +
                               "driving around Tehran, carrying orders.\n"
                         : std::string())
        << "Ctrl-C stops the demo.\n"
        << std::flush;
  });
  if (sim) {
    sim->stop();
    sim_thread.join();
  }
  return rc;
}

}  // namespace peyk::app
