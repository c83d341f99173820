#include "simulator/options.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <boost/program_options.hpp>

namespace peyk::simulator {

namespace po = boost::program_options;

namespace {

const char* usage =
    "usage: peyk simulate [options]\n"
    "Drives simulated couriers through a street grid in a bounding box: each picks up 1-3\n"
    "orders at its store, delivers them, returns, and POSTs its location to the ingest API\n"
    "with its own courier token at the server's update interval. Prints a status line\n"
    "every 5 s. The HS256 key comes from --jwt-secret-file or PEYK_JWT_SECRET.";

bool parse_bbox(const std::string& text, std::array<double, 4>& out) {
  std::istringstream in(text);
  char comma = 0;
  for (int i = 0; i < 4; ++i) {
    if (i > 0 && (!(in >> comma) || comma != ',')) return false;
    if (!(in >> out[i])) return false;
  }
  in >> std::ws;
  return in.eof() && out[0] < out[2] && out[1] < out[3] && out[0] >= -85 && out[2] <= 85 &&
         out[1] >= -180 && out[3] <= 180;
}

// The key, as `peyk serve` loads it: the file (trailing newline stripped), else the env.
std::string load_secret(const std::string& file, std::string& error) {
  if (!file.empty()) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      error = "cannot read --jwt-secret-file " + file;
      return {};
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    auto s = ss.str();
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    if (s.empty()) error = "--jwt-secret-file " + file + " is empty";
    return s;
  }
  if (const char* env = std::getenv("PEYK_JWT_SECRET"); env && *env) return env;
  error = "no JWT secret: set PEYK_JWT_SECRET or pass --jwt-secret-file (there is no default)";
  return {};
}

}  // namespace

std::optional<options> parse_options(int argc, const char* const* argv, std::ostream& out,
                                     std::ostream& err, int& exit_code) {
  options o;
  std::string bbox = "35.60,51.20,35.80,51.55", secret_file;
  po::options_description d("Options");
  // clang-format off
  d.add_options()
    ("help,h", "print this help and exit")
    ("target", po::value(&o.target)->default_value(o.target), "base URL of the ingest API (http://HOST:PORT)")
    ("couriers", po::value(&o.couriers)->default_value(o.couriers), "simulated couriers; courier i has sub \"i\", name driver<i>")
    ("interval", po::value(&o.interval_s)->default_value(0), "seconds between a courier's points (0: the server's update_interval_seconds)")
    ("fleets", po::value(&o.fleets)->default_value(o.fleets), "stores; courier i works for store-<i % fleets>")
    ("bbox", po::value(&bbox)->default_value(bbox), "min_lat,min_lon,max_lat,max_lon of the city (default: Tehran)")
    ("connections", po::value(&o.connections)->default_value(0), "keep-alive connections shared by all couriers (0: min(couriers, 64))")
    ("duration", po::value(&o.duration_s)->default_value(0), "seconds to run (0: until Ctrl-C or SIGTERM)")
    ("seed", po::value(&o.seed)->default_value(o.seed), "random seed: the same seed gives the same city and drivers")
    ("jwt-secret-file", po::value(&secret_file), "file holding the HS256 key (else env PEYK_JWT_SECRET)");
  // clang-format on
  auto error = [&](const std::string& msg) -> std::optional<options> {
    err << "peyk simulate: " << msg << "\n(see --help)\n";
    exit_code = 2;
    return std::nullopt;
  };
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(d).run(), vm);
    if (vm.count("help")) {
      out << usage << "\n\n" << d << "\n";
      exit_code = 0;
      return std::nullopt;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    return error(e.what());
  }
  if (o.couriers < 1 || o.couriers > 1'000'000) return error("--couriers must be 1..1000000");
  if (o.interval_s < 0 || (o.interval_s > 0 && o.interval_s < 0.05) || o.interval_s > 86400) {
    return error("--interval must be 0 (the server's) or 0.05..86400 seconds");
  }
  if (o.fleets < 1 || o.fleets > 100'000) return error("--fleets must be 1..100000");
  if (o.connections < 0 || o.connections > 10'000) return error("--connections must be 0..10000");
  if (o.duration_s < 0) return error("--duration must be >= 0");
  if (!parse_bbox(bbox, o.bbox)) {
    return error("--bbox takes min_lat,min_lon,max_lat,max_lon with min < max");
  }
  if (o.target.rfind("http://", 0) != 0) return error("--target must be an http:// URL");
  std::string why;
  o.secret = load_secret(secret_file, why);
  if (!why.empty()) return error(why);
  return o;
}

}  // namespace peyk::simulator
