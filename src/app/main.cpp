// peyk: real-time courier tracking. Subcommands: serve, token, demo.
#include <cstring>
#include <iostream>

#include <boost/json.hpp>

#include "app/commands.hpp"
#include "auth/jwt.hpp"
#include "core/clock.hpp"
#include "simulator/simulator.hpp"

namespace peyk::app {

int token_main(int argc, const char* const* argv) {
  int code = 0;
  auto cfg = parse_token(argc, argv, std::cout, std::cerr, code);
  if (!cfg) return code;
  std::string secret;
  try {
    secret = load_secret(cfg->jwt_secret_file);
  } catch (const std::exception& e) {
    std::cerr << "peyk: " << e.what() << "\n";
    return 2;
  }
  boost::json::object claims;
  claims["sub"] = cfg->sub;
  claims["role"] = cfg->role;
  if (!cfg->name.empty()) claims["name"] = cfg->name;
  if (!cfg->fleet.empty()) claims["fleet"] = cfg->fleet;
  if (!cfg->fleets.empty()) {
    boost::json::array a(cfg->fleets.begin(), cfg->fleets.end());
    claims["fleets"] = std::move(a);
  }
  if (!cfg->orders.empty()) {
    boost::json::array a(cfg->orders.begin(), cfg->orders.end());
    claims["orders"] = std::move(a);
  }
  auto now = core::now_s();
  claims["iat"] = now;
  claims["exp"] = now + cfg->ttl_s;
  std::cout << auth::sign_hs256(claims, secret) << "\n";
  return 0;
}

}  // namespace peyk::app

namespace {

const char* usage =
    "peyk — real-time courier tracking\n"
    "\n"
    "usage: peyk <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve   run the whole service in one process (ingest API, WebSocket gateway, panel)\n"
    "  ingest  run only the courier ingest API, publishing to Redis (needs --redis or "
    "--redis-cluster)\n"
    "  gateway run only the WebSocket gateway and panel, subscribed to Redis (needs --redis or "
    "--redis-cluster)\n"
    "  demo    serve with a throwaway key and print an admin token and the panel URL\n"
    "  token   print a signed token for a courier or viewer\n"
    "  simulate  drive simulated couriers against an ingest API\n"
    "  config check [COMMAND]  print a command's effective settings and their sources\n"
    "\n"
    "`peyk <command> --help` lists each command's options and defaults. Every option of\n"
    "serve, ingest, gateway, demo and token can also be set as PEYK_<OPTION> in the\n"
    "environment or in --config FILE (flag > env > file > default).\n"
    "The HS256 key comes from PEYK_JWT_SECRET or --jwt-secret-file.\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << usage;
    return 2;
  }
  std::string cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::cout << usage;
    return 0;
  }
  if (cmd == "--version") {
    std::cout << "peyk 0.1.0\n";
    return 0;
  }
  // program_options skips argv[0]: hand it the subcommand's argv.
  int sub_argc = argc - 1;
  const char* const* sub_argv = argv + 1;
  if (cmd == "serve" || cmd == "ingest" || cmd == "gateway") {
    int code = 0;
    auto cfg = peyk::app::parse_serve(sub_argc, sub_argv, std::cout, std::cerr, code, cmd.c_str());
    if (!cfg) return code;
    auto r = cmd == "serve"    ? peyk::app::role::all
             : cmd == "ingest" ? peyk::app::role::ingest
                               : peyk::app::role::gateway;
    if (auto problem = peyk::app::role_problem(cmd, *cfg); !problem.empty()) {
      std::cerr << "peyk: " << problem << "\n";
      return 2;
    }
    return peyk::app::run_serve(std::move(*cfg), r);
  }
  if (cmd == "token") return peyk::app::token_main(sub_argc, sub_argv);
  if (cmd == "config") return peyk::app::config_main(sub_argc, sub_argv);
  if (cmd == "demo") return peyk::app::demo_main(sub_argc, sub_argv);
  if (cmd == "simulate") return peyk::simulator::simulate_main(sub_argc, sub_argv);
  std::cerr << "peyk: unknown command '" << cmd << "'\n\n" << usage;
  return 2;
}
