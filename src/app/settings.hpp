#pragma once
// Where every command's options come from besides the command line: the environment
// (PEYK_<OPTION>) and a configuration file (--config FILE or PEYK_CONFIG), in the order
// flag > env > file > default. Generic over any options_description: a flag added to a
// command's table is settable in all three places without further code.
//
// The rules (README "Configuration"):
// - Environment: PEYK_ + the option's long name upper-cased with '-' as '_'
//   (--redis-password-file: PEYK_REDIS_PASSWORD_FILE). A PEYK_* variable that names no
//   option of the command is ignored (the test runner, the benchmarks and PEYK_JWT_SECRET
//   use such names); an empty value counts as unset. A repeatable option takes one value
//   from the environment.
// - File: INI as program_options reads it, `option = value`, '#' starts a comment. Keys
//   before any section apply to the command reading the file and must be its options;
//   keys under [serve], [ingest], [gateway], [demo] or [token] apply to that command only
//   and win over the top-level ones (one file can hold a whole host's roles). Another
//   section name, an unknown key or a key given twice is an error naming FILE:LINE.
// - `help` and `config` are taken from the command line only (PEYK_CONFIG names the file
//   when --config does not).

#include <map>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

namespace peyk::app {

// One effective setting, fit to print: secrets masked.
struct setting {
  std::string name;    // the long option name
  std::string value;   // as text; "***" for a secret; empty when unset
  std::string source;  // "flag", "env PEYK_X", "file PATH:LINE", "default" or "unset"
};

struct settings_report {
  std::string command;
  std::string config_file;  // empty: none
  std::vector<setting> settings;
};

// The commands whose section a configuration file may hold.
const std::vector<std::string>& config_sections();

// PEYK_LISTEN for "listen", PEYK_REDIS_PASSWORD_FILE for "redis-password-file".
std::string env_name(const std::string& option);

// After the command line is stored in `vm`: records its options as "flag" in `sources`,
// then stores the PEYK_* environment and the configuration file (`--config` in vm, else
// PEYK_CONFIG) beneath them. Throws std::runtime_error with a message naming the
// variable or FILE:LINE on an unknown key or a value the option refuses.
void store_env_and_file(const boost::program_options::options_description& desc,
                        const std::string& command, boost::program_options::variables_map& vm,
                        std::map<std::string, std::string>& sources, std::string& config_file);

// Whether an option's value is a secret by its name (password, secret, token, key,
// credential; a *-file option holds a path, not the secret).
bool secret_option(const std::string& name);

// The effective settings of `desc` in `vm` (after notify), masked.
std::vector<setting> describe_settings(const boost::program_options::options_description& desc,
                                       const boost::program_options::variables_map& vm,
                                       const std::map<std::string, std::string>& sources);

}  // namespace peyk::app
