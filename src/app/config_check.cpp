// `peyk config check [COMMAND] [options]`: parses a command's options exactly as the
// command would (flags, PEYK_* environment, --config file), runs the checks it runs before
// it listens (keys readable and long enough, addresses, Redis URLs), and prints the
// effective settings with where each came from. Secrets are never printed.
#include <openssl/rand.h>
#include <algorithm>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <vector>

#include "app/commands.hpp"
#include "app/settings.hpp"

namespace peyk::app {

namespace {

const char* config_usage =
    "usage: peyk config check [COMMAND] [options]\n"
    "\n"
    "Parses COMMAND's options (serve, ingest, gateway, demo or token; default serve) as the\n"
    "command would: flags, PEYK_<OPTION> variables and --config FILE (or PEYK_CONFIG), a\n"
    "flag winning over the environment and the environment over the file. Runs the checks\n"
    "the command runs before it starts (key files readable and long enough, --listen, Redis\n"
    "URLs) and prints every setting with its source: flag, env VAR, file PATH:LINE or\n"
    "default. Passwords, secrets and keys are shown as ***. Exits 2 on an invalid setting.\n";

// Where the HS256 key would come from, never the key itself.
std::string key_source(const std::string& file) {
  if (!file.empty()) return "read from --jwt-secret-file " + file;
  if (const char* env = std::getenv("PEYK_JWT_SECRET"); env && *env) {
    return "env PEYK_JWT_SECRET";
  }
  return "none";
}

void print(const settings_report& r, const std::vector<std::string>& notes) {
  std::cout << "# peyk " << r.command << ": effective settings (flag > env PEYK_* > --config file"
            << " > default)\n"
            << "# config file: " << (r.config_file.empty() ? "none" : r.config_file) << "\n";
  std::size_t width = 0;
  for (const auto& s : r.settings) width = std::max(width, s.name.size());
  for (const auto& s : r.settings) {
    if (s.source == "unset") {
      std::cout << "# " << std::left << std::setw(static_cast<int>(width)) << s.name
                << "   (unset)\n";
      continue;
    }
    std::cout << std::left << std::setw(static_cast<int>(width)) << s.name << " = " << s.value
              << "  # " << s.source << "\n";
  }
  for (const auto& n : notes) std::cout << "# " << n << "\n";
}

}  // namespace

int config_main(int argc, const char* const* argv) {
  // argv[0] is "config".
  if (argc < 2) {
    std::cerr << config_usage;
    return 2;
  }
  std::string_view verb = argv[1];
  if (verb == "--help" || verb == "-h" || verb == "help") {
    std::cout << config_usage;
    return 0;
  }
  if (verb != "check") {
    std::cerr << "peyk: unknown `peyk config` action '" << verb << "'\n\n" << config_usage;
    return 2;
  }
  std::string command = "serve";
  int first = 2;
  if (argc > 2 && argv[2][0] != '-') {
    command = argv[2];
    first = 3;
  }
  const auto& known = config_sections();
  if (std::find(known.begin(), known.end(), command) == known.end()) {
    std::cerr << "peyk: `peyk config check` takes serve, ingest, gateway, demo or token, not '"
              << command << "'\n";
    return 2;
  }
  std::vector<const char*> args{argv[0]};
  for (int i = first; i < argc; ++i) args.push_back(argv[i]);
  const int n = static_cast<int>(args.size());
  settings_report report;
  std::vector<std::string> notes;
  std::string problem;
  int code = 0;
  if (command == "token") {
    auto cfg = parse_token(n, args.data(), std::cout, std::cerr, code, {nullptr, &report});
    if (!cfg) return code;
    notes.push_back("jwt secret: " + key_source(cfg->jwt_secret_file));
    try {
      (void)load_secret(cfg->jwt_secret_file);
    } catch (const std::exception& e) {
      problem = e.what();
    }
  } else {
    std::optional<serve_config> cfg;
    if (command == "demo") {
      auto d = parse_demo(n, args.data(), std::cout, std::cerr, code, &report);
      if (!d) return code;
      cfg = std::move(d->serve);
      cfg->allow_short_secret = true;
      if (key_source(cfg->jwt_secret_file) == "none") {
        notes.push_back("jwt secret: a throwaway key made at start");
        // As the demo does: a random key for the rest of the checks.
        unsigned char buf[32];
        if (RAND_bytes(buf, sizeof buf) != 1) return 1;
        std::string hex;
        for (unsigned char b : buf) {
          hex += "0123456789abcdef"[b >> 4];
          hex += "0123456789abcdef"[b & 15];
        }
        ::setenv("PEYK_JWT_SECRET", hex.c_str(), 1);
      } else {
        notes.push_back("jwt secret: " + key_source(cfg->jwt_secret_file));
      }
    } else {
      cfg = parse_serve(n, args.data(), std::cout, std::cerr, code, command.c_str(),
                        {nullptr, &report});
      if (!cfg) return code;
      notes.push_back("jwt secret: " + key_source(cfg->jwt_secret_file));
      problem = role_problem(command, *cfg);
    }
    // Derived from other settings when not given.
    notes.push_back("history (effective): " + redact_history_spec(cfg->history));
    if (problem.empty()) {
      const role r = command == "ingest"    ? role::ingest
                     : command == "gateway" ? role::gateway
                                            : role::all;
      problem = startup_problem(*cfg, r);
    }
  }
  print(report, notes);
  if (!problem.empty()) {
    std::cerr << "peyk: " << problem << "\n";
    return 2;
  }
  std::cout << "# ok\n";
  return 0;
}

}  // namespace peyk::app
