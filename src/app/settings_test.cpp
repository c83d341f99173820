// Options from the environment and a configuration file (app/settings.hpp), through the
// real parse functions of the commands.
#include "app/settings.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "app/commands.hpp"
#include "app/config.hpp"

namespace peyk::app {
namespace {

// Sets environment variables for one test and restores them after.
class scoped_env {
 public:
  void set(const std::string& name, const std::string& value) {
    if (!saved_.count(name)) {
      const char* old = std::getenv(name.c_str());
      saved_[name] = old ? std::optional<std::string>(old) : std::nullopt;
    }
    ::setenv(name.c_str(), value.c_str(), 1);
  }
  ~scoped_env() {
    for (const auto& [name, old] : saved_) {
      if (old) {
        ::setenv(name.c_str(), old->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
  }

 private:
  std::map<std::string, std::optional<std::string>> saved_;
};

std::string write_file(const std::string& text) {
  static int n = 0;
  auto path =
      std::filesystem::temp_directory_path() /
      ("peyk-settings-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + ".conf");
  std::ofstream(path) << text;
  return path.string();
}

struct result {
  std::optional<serve_config> cfg;
  settings_report report;
  int code = -1;
  std::string err;
};

result serve(std::vector<const char*> args, const char* command = "serve") {
  args.insert(args.begin(), command);
  result r;
  std::ostringstream o, e;
  r.cfg = parse_serve(static_cast<int>(args.size()), args.data(), o, e, r.code, command,
                      {nullptr, &r.report});
  r.err = e.str();
  return r;
}

const setting& find(const settings_report& r, const std::string& name) {
  for (const auto& s : r.settings) {
    if (s.name == name) return s;
  }
  static setting none{"", "", "missing"};
  return none;
}

TEST(Settings, EnvNames) {
  EXPECT_EQ(env_name("listen"), "PEYK_LISTEN");
  EXPECT_EQ(env_name("redis-password-file"), "PEYK_REDIS_PASSWORD_FILE");
}

TEST(Settings, EnvironmentSetsOptionsAndIgnoresOtherPeykVariables) {
  scoped_env env;
  env.set("PEYK_MAX_BODY", "2048");
  env.set("PEYK_LOG_LEVEL", "warn");
  env.set("PEYK_BIN", "/somewhere/peyk");       // the test runner's
  env.set("PEYK_TEST_TIME_SCALE", "3");         // the test runner's
  env.set("PEYK_JWT_SECRET", "not an option");  // the key itself: not an option name
  env.set("PEYK_THREADS", "");                  // empty: unset
  auto r = serve({});
  ASSERT_TRUE(r.cfg) << r.err;
  EXPECT_EQ(r.cfg->http.max_body, 2048u);
  EXPECT_EQ(r.cfg->log_level, "warn");
  EXPECT_EQ(r.cfg->threads, 0u);
  EXPECT_EQ(find(r.report, "max-body").source, "env PEYK_MAX_BODY");
  EXPECT_EQ(find(r.report, "threads").source, "default");
}

TEST(Settings, EnvironmentValueIsValidated) {
  scoped_env env;
  env.set("PEYK_MAX_BODY", "lots");
  auto r = serve({});
  EXPECT_FALSE(r.cfg);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("PEYK_MAX_BODY"), std::string::npos) << r.err;
  env.set("PEYK_MAX_BODY", "10");  // a number the command's own check refuses
  r = serve({});
  EXPECT_FALSE(r.cfg);
  EXPECT_NE(r.err.find("--max-body must be"), std::string::npos) << r.err;
}

TEST(Settings, FileTopLevelAndSections) {
  auto path = write_file(
      "# a shared file\n"
      "log-level = warn\n"
      "max-body = 4096\n"
      "[gateway]\n"
      "max-body = 8192   # the gateway's own\n"
      "web-root = /srv/panel\n"
      "[ingest]\n"
      "rate-limit = 5\n");
  auto r = serve({"--config", path.c_str()});
  ASSERT_TRUE(r.cfg) << r.err;
  EXPECT_EQ(r.cfg->log_level, "warn");
  EXPECT_EQ(r.cfg->http.max_body, 4096u);
  EXPECT_EQ(r.cfg->rate_limit, 1);  // [ingest] is not serve's
  EXPECT_EQ(find(r.report, "max-body").source, "file " + path + ":3");
  EXPECT_EQ(r.report.config_file, path);
  r = serve({"--config", path.c_str()}, "gateway");
  ASSERT_TRUE(r.cfg) << r.err;
  EXPECT_EQ(r.cfg->http.max_body, 8192u);  // the section wins over the top level
  EXPECT_EQ(r.cfg->http.web_root, "/srv/panel");
  EXPECT_EQ(find(r.report, "max-body").source, "file " + path + ":5");
  r = serve({"--config", path.c_str()}, "ingest");
  ASSERT_TRUE(r.cfg) << r.err;
  EXPECT_EQ(r.cfg->rate_limit, 5);
  std::filesystem::remove(path);
}

TEST(Settings, PrecedenceFlagOverEnvOverFileOverDefault) {
  scoped_env env;
  auto path = write_file("max-body = 4096\nlog-level = warn\nmax-header = 2048\n");
  env.set("PEYK_CONFIG", path);
  env.set("PEYK_MAX_BODY", "5000");
  env.set("PEYK_LOG_LEVEL", "error");
  auto r = serve({"--log-level", "debug"});
  ASSERT_TRUE(r.cfg) << r.err;
  EXPECT_EQ(r.cfg->log_level, "debug");        // flag over env and file
  EXPECT_EQ(r.cfg->http.max_body, 5000u);      // env over file
  EXPECT_EQ(r.cfg->http.max_header, 2048u);    // file over default
  EXPECT_EQ(r.cfg->listen, "127.0.0.1:8082");  // default
  EXPECT_EQ(find(r.report, "log-level").source, "flag");
  EXPECT_EQ(find(r.report, "max-body").source, "env PEYK_MAX_BODY");
  EXPECT_EQ(find(r.report, "max-header").source, "file " + path + ":3");
  EXPECT_EQ(find(r.report, "listen").source, "default");
  EXPECT_EQ(find(r.report, "redis").source, "unset");
  std::filesystem::remove(path);
}

TEST(Settings, RepeatableOptionTakesItsValuesFromOneSource) {
  auto path =
      write_file("allowed-origin = https://a.example\nallowed-origin = https://b.example\n");
  auto r = serve({"--config", path.c_str()});
  ASSERT_TRUE(r.cfg) << r.err;
  EXPECT_EQ(r.cfg->http.allowed_origins,
            (std::vector<std::string>{"https://a.example", "https://b.example"}));
  r = serve({"--config", path.c_str(), "--allowed-origin", "https://c.example"});
  ASSERT_TRUE(r.cfg) << r.err;
  EXPECT_EQ(r.cfg->http.allowed_origins, (std::vector<std::string>{"https://c.example"}));
  std::filesystem::remove(path);
}

TEST(Settings, FileErrorsNameTheLine) {
  struct bad {
    const char* text;
    const char* expect;
  };
  for (auto [text, expect] : std::vector<bad>{
           {"listen = 127.0.0.1:1\nlisen = 127.0.0.1:2\n", ":2: unknown key 'lisen'"},
           {"[serve]\n\nnope = 1\n", ":3: unknown key 'nope' in [serve]"},
           {"[serv]\nlisten = x:1\n", ":1: unknown section [serv]"},
           {"max-body = 4096\nmax-body = 8192\n", ":2: 'max-body' given twice (first on line 1)"},
           {"threads = many\n", ":1: "},
           {"config = other.conf\n", ":1: 'config' is taken from the command line only"},
           {"just words\n", "invalid line"},
       }) {
    auto path = write_file(text);
    auto r = serve({"--config", path.c_str()});
    EXPECT_FALSE(r.cfg) << text;
    EXPECT_EQ(r.code, 2) << text;
    EXPECT_NE(r.err.find(expect), std::string::npos) << text << " -> " << r.err;
    std::filesystem::remove(path);
  }
  auto r = serve({"--config", "/nonexistent/peyk.conf"});
  EXPECT_FALSE(r.cfg);
  EXPECT_NE(r.err.find("cannot read --config /nonexistent/peyk.conf"), std::string::npos) << r.err;
}

TEST(Settings, AnotherCommandsSectionIsNotChecked) {
  // [token] keys are token's; serve skips the section.
  auto path = write_file("[token]\nrole = admin\nsub = 1\n[serve]\nmax-body = 4096\n");
  auto r = serve({"--config", path.c_str()});
  ASSERT_TRUE(r.cfg) << r.err;
  EXPECT_EQ(r.cfg->http.max_body, 4096u);
  const char* args[] = {"token", "--config", path.c_str()};
  std::ostringstream o, e;
  int code = -1;
  auto t = parse_token(3, args, o, e, code);
  ASSERT_TRUE(t) << e.str();  // --role and --sub, required, came from [token]
  EXPECT_EQ(t->role, "admin");
  EXPECT_EQ(t->sub, "1");
  std::filesystem::remove(path);
}

TEST(Settings, DemoOwnOptionAndDefaultInterval) {
  scoped_env env;
  env.set("PEYK_COURIERS", "7");
  const char* args[] = {"demo"};
  std::ostringstream o, e;
  int code = -1;
  auto d = parse_demo(1, args, o, e, code);
  ASSERT_TRUE(d) << e.str();
  EXPECT_EQ(d->couriers, 7);
  EXPECT_EQ(d->serve.http.interval.idle_s, 2);  // the demo's default, not serve's 60
  env.set("PEYK_UPDATE_INTERVAL", "5");
  d = parse_demo(1, args, o, e, code);
  ASSERT_TRUE(d) << e.str();
  EXPECT_EQ(d->serve.http.interval.idle_s, 5);
  env.set("PEYK_COURIERS", "-1");
  EXPECT_FALSE(parse_demo(1, args, o, e, code));
  EXPECT_EQ(code, 2);
}

TEST(Settings, SecretsAreMasked) {
  EXPECT_TRUE(secret_option("redis-password"));
  EXPECT_TRUE(secret_option("webhook-secret"));
  EXPECT_TRUE(secret_option("api-key"));
  EXPECT_FALSE(secret_option("jwt-secret-file"));  // a path
  EXPECT_FALSE(secret_option("listen"));
  scoped_env env;
  env.set("PEYK_REDIS", "redis://:hunter2hunter2@127.0.0.1:6379");
  auto r = serve({"--history", "postgres://peyk:pgsecret99@db:5432/peyk"});
  ASSERT_TRUE(r.cfg) << r.err;
  EXPECT_EQ(find(r.report, "redis").value, "redis://:***@127.0.0.1:6379");
  EXPECT_EQ(find(r.report, "history").value, "postgres://peyk:***@db:5432/peyk");
  for (const auto& s : r.report.settings) {
    EXPECT_EQ(s.value.find("hunter2"), std::string::npos) << s.name;
    EXPECT_EQ(s.value.find("pgsecret99"), std::string::npos) << s.name;
  }
}

}  // namespace
}  // namespace peyk::app
