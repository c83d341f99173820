#include "app/settings.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "app/config.hpp"

extern char** environ;

namespace peyk::app {

namespace po = boost::program_options;

namespace {

// Options never read from the environment or a file.
bool command_line_only(const std::string& name) {
  return name == "help" || name == "config";
}

const po::option_description* find(const po::options_description& desc, const std::string& name) {
  return desc.find_nothrow(name, false, false, false);
}

// Stores one option's tokens; a value the option refuses is reported with `where`.
void store_one(const po::options_description& desc, po::variables_map& vm, const std::string& name,
               const std::vector<std::string>& tokens, const std::string& where) {
  po::parsed_options parsed(&desc);
  for (const auto& t : tokens) {
    po::option o;
    o.string_key = name;
    o.value.push_back(t);
    o.original_tokens = {name, t};
    parsed.options.push_back(std::move(o));
  }
  try {
    po::store(parsed, vm);
  } catch (const po::error& e) {
    throw std::runtime_error(where + ": " + e.what());
  }
}

std::string trim(std::string s) {
  auto ws = [](unsigned char c) { return std::isspace(c) != 0; };
  while (!s.empty() && ws(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && ws(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

struct file_entry {
  std::string section;  // empty: top level
  std::string key;
  std::string value;
  int line = 0;
};

// The entries of an INI file in order, with their lines. program_options reads the same
// file first (its syntax errors are its own); this pass only adds line numbers.
// A section not named after a command is an error at its own line.
std::vector<file_entry> index_lines(const std::string& path) {
  const auto& sections = config_sections();
  std::ifstream in(path);
  std::vector<file_entry> out;
  std::string line, section;
  for (int n = 1; std::getline(in, line); ++n) {
    if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    line = trim(line);
    if (line.empty()) continue;
    if (line.front() == '[' && line.back() == ']') {
      section = trim(line.substr(1, line.size() - 2));
      if (std::find(sections.begin(), sections.end(), section) == sections.end()) {
        std::string names;
        for (const auto& name : sections) names += (names.empty() ? "" : ", ") + name;
        throw std::runtime_error(path + ":" + std::to_string(n) + ": unknown section [" + section +
                                 "] (sections: " + names + ")");
      }
      continue;
    }
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    out.push_back({section, trim(line.substr(0, eq)), trim(line.substr(eq + 1)), n});
  }
  return out;
}

void store_file(const po::options_description& desc, const std::string& command,
                const std::string& path, po::variables_map& vm,
                std::map<std::string, std::string>& sources) {
  {
    std::ifstream probe(path);
    if (!probe) throw std::runtime_error("cannot read --config " + path);
    // Its syntax (a line that is neither a section, a key = value nor a comment).
    po::options_description none;
    try {
      (void)po::parse_config_file(probe, none, true);
    } catch (const po::error& e) {
      throw std::runtime_error("--config " + path + ": " + e.what());
    }
  }
  // Per key: the values of the command's own section if it names the key, else the
  // top-level ones; each with its line.
  struct values {
    std::vector<std::string> tokens;
    std::vector<int> lines;
    bool in_section = false;
  };
  std::map<std::string, values> chosen;
  std::vector<std::string> order;
  for (const auto& e : index_lines(path)) {
    const std::string at = path + ":" + std::to_string(e.line);
    if (!e.section.empty() && e.section != command) continue;
    const std::string where = e.section.empty() ? "" : " in [" + e.section + "]";
    if (command_line_only(e.key)) {
      throw std::runtime_error(at + ": '" + e.key + "' is taken from the command line only");
    }
    const auto* d = find(desc, e.key);
    if (!d) {
      throw std::runtime_error(at + ": unknown key '" + e.key + "'" + where +
                               ": not an option of `peyk " + command + "` (see peyk " + command +
                               " --help)");
    }
    auto& v = chosen[e.key];
    const bool in_section = !e.section.empty();
    if (v.lines.empty()) {
      order.push_back(e.key);
    } else if (v.in_section != in_section) {
      if (!in_section) continue;  // the section's value wins over the top level's
      v = values{};
    } else if (!d->semantic()->is_composing()) {
      throw std::runtime_error(at + ": '" + e.key + "' given twice" + where + " (first on line " +
                               std::to_string(v.lines.front()) + ")");
    }
    v.in_section = in_section;
    v.tokens.push_back(e.value);
    v.lines.push_back(e.line);
  }
  for (const auto& key : order) {
    if (sources.count(key)) continue;  // a flag or the environment set it
    const auto& v = chosen[key];
    const std::string at = path + ":" + std::to_string(v.lines.front());
    store_one(desc, vm, key, v.tokens, at);
    sources[key] = "file " + at;
  }
}

template <class T>
bool print_as(const boost::any& a, std::string& out) {
  const T* p = boost::any_cast<T>(&a);
  if (!p) return false;
  std::ostringstream s;
  if constexpr (std::is_same_v<T, bool>) {
    s << (*p ? "true" : "false");
  } else {
    s << *p;
  }
  out = s.str();
  return true;
}

}  // namespace

const std::vector<std::string>& config_sections() {
  static const std::vector<std::string> s{"serve", "ingest", "gateway", "demo", "token"};
  return s;
}

std::string env_name(const std::string& option) {
  std::string out = "PEYK_";
  for (char c : option) {
    out += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

void store_env_and_file(const po::options_description& desc, const std::string& command,
                        po::variables_map& vm, std::map<std::string, std::string>& sources,
                        std::string& config_file) {
  for (const auto& [name, value] : vm) {
    if (!value.defaulted()) sources.emplace(name, "flag");
  }
  // The environment: PEYK_<OPTION> of this command's options, other PEYK_* ignored.
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry = *e;
    if (!entry.starts_with("PEYK_")) continue;
    auto eq = entry.find('=');
    if (eq == std::string_view::npos || eq + 1 == entry.size()) continue;  // empty: unset
    std::string var(entry.substr(0, eq));
    std::string name;
    bool upper = true;
    for (char c : var.substr(5)) {
      if (c == '_') {
        name += '-';
      } else if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        name += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      } else {
        upper = false;
      }
    }
    if (!upper || name.empty() || command_line_only(name) || !find(desc, name)) continue;
    if (sources.count(name)) continue;  // the flag wins
    store_one(desc, vm, name, {std::string(entry.substr(eq + 1))}, "environment " + var);
    sources[name] = "env " + var;
  }
  config_file.clear();
  if (vm.count("config") && !vm["config"].defaulted()) {
    config_file = vm["config"].as<std::string>();
  } else if (const char* env = std::getenv("PEYK_CONFIG"); env && *env) {
    config_file = env;
  }
  if (!config_file.empty()) store_file(desc, command, config_file, vm, sources);
}

bool secret_option(const std::string& name) {
  if (name.ends_with("-file")) return false;
  for (const char* word : {"password", "secret", "token", "key", "credential"}) {
    if (name.find(word) != std::string::npos) return true;
  }
  return false;
}

std::vector<setting> describe_settings(const po::options_description& desc,
                                       const po::variables_map& vm,
                                       const std::map<std::string, std::string>& sources) {
  std::vector<setting> out;
  for (const auto& opt : desc.options()) {
    const std::string& name = opt->long_name();
    if (name.empty() || command_line_only(name)) continue;
    setting s{name, {}, "unset"};
    if (vm.count(name)) {
      const auto& a = vm[name].value();
      bool is_text = false;
      if (const auto* str = boost::any_cast<std::string>(&a)) {
        s.value = *str;
        is_text = true;
      } else if (const auto* list = boost::any_cast<std::vector<std::string>>(&a)) {
        for (const auto& item : *list) s.value += (s.value.empty() ? "" : ",") + item;
        is_text = true;
      } else if (!(print_as<double>(a, s.value) || print_as<float>(a, s.value) ||
                   print_as<bool>(a, s.value) || print_as<int>(a, s.value) ||
                   print_as<unsigned>(a, s.value) || print_as<long>(a, s.value) ||
                   print_as<unsigned long>(a, s.value) || print_as<long long>(a, s.value) ||
                   print_as<unsigned long long>(a, s.value))) {
        s.value = "(set)";  // a type this report does not know how to print
      }
      if (is_text && secret_option(name) && !s.value.empty()) {
        s.value = "***";
      } else if (is_text && s.value.find("://") != std::string::npos) {
        s.value = redact_history_spec(s.value);  // a URL's password
      }
      auto it = sources.find(name);
      s.source = it != sources.end() ? it->second : "default";
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace peyk::app
