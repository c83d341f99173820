#pragma once
#include <functional>
#include <string>

#include "app/config.hpp"

namespace peyk::app {

enum class role { all, ingest, gateway };

// Runs a server of `r` until SIGTERM/SIGINT; returns the exit code. `on_ready(url)`
// runs once it listens (the demo prints its URLs there).
int run_serve(serve_config cfg, role r = role::all,
              const std::function<void(const std::string&)>& on_ready = {});

int token_main(int argc, const char* const* argv);
int demo_main(int argc, const char* const* argv);

}  // namespace peyk::app
