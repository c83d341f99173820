#pragma once
#include <functional>
#include <optional>
#include <ostream>
#include <string>

#include "app/config.hpp"

namespace peyk::app {

enum class role { all, ingest, gateway };

// Runs a server of `r` until SIGTERM/SIGINT; returns the exit code. `on_ready(url)`
// runs once it listens (the demo prints its URLs there).
int run_serve(serve_config cfg, role r = role::all,
              const std::function<void(const std::string&)>& on_ready = {});

// What would stop run_serve(cfg, r) before it listens (an unreadable or short key, a bad
// --listen or Redis URL, an unreadable password file); empty: nothing.
std::string startup_problem(const serve_config& cfg, role r);

int token_main(int argc, const char* const* argv);
int demo_main(int argc, const char* const* argv);

// `peyk demo`'s options: serve's, its own --couriers, and its default --update-interval.
struct demo_config {
  serve_config serve;
  int couriers = 200;
};
std::optional<demo_config> parse_demo(int argc, const char* const* argv, std::ostream& out,
                                      std::ostream& err, int& exit_code,
                                      settings_report* report = nullptr);

// `peyk config check [COMMAND] [options]`: the effective settings and their sources.
int config_main(int argc, const char* const* argv);

}  // namespace peyk::app
