#include "simulator/options.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include <gtest/gtest.h>

namespace peyk::simulator {
namespace {

struct parsed {
  std::optional<options> o;
  int code = -1;
  std::string out, err;
};

parsed parse(std::vector<const char*> args) {
  args.insert(args.begin(), "simulate");
  std::ostringstream out, err;
  parsed p;
  p.o = parse_options(static_cast<int>(args.size()), args.data(), out, err, p.code);
  p.out = out.str();
  p.err = err.str();
  return p;
}

class simulate_flags : public ::testing::Test {
 protected:
  void SetUp() override { ::unsetenv("PEYK_JWT_SECRET"); }
  void TearDown() override { ::unsetenv("PEYK_JWT_SECRET"); }
};

TEST_F(simulate_flags, help_lists_every_flag_with_its_default) {
  auto p = parse({"--help"});
  EXPECT_FALSE(p.o);
  EXPECT_EQ(p.code, 0);
  for (const char* flag :
       {"--target", "--couriers", "--interval", "--fleets", "--bbox", "--connections", "--duration",
        "--seed", "--jwt-secret-file", "--help"}) {
    EXPECT_NE(p.out.find(flag), std::string::npos) << flag;
  }
  for (const char* def : {"http://127.0.0.1:8082", "(=200)", "(=8)", "35.60,51.20,35.80,51.55"}) {
    EXPECT_NE(p.out.find(def), std::string::npos) << def;
  }
}

TEST_F(simulate_flags, no_key_is_a_clear_error) {
  auto p = parse({});
  EXPECT_FALSE(p.o);
  EXPECT_EQ(p.code, 2);
  EXPECT_NE(p.err.find("PEYK_JWT_SECRET"), std::string::npos);
  EXPECT_NE(p.err.find("--jwt-secret-file"), std::string::npos);
}

TEST_F(simulate_flags, defaults_with_the_key_from_the_environment) {
  ::setenv("PEYK_JWT_SECRET", "s3cret", 1);
  auto p = parse({});
  ASSERT_TRUE(p.o) << p.err;
  EXPECT_EQ(p.o->secret, "s3cret");
  EXPECT_EQ(p.o->target, "http://127.0.0.1:8082");
  EXPECT_EQ(p.o->couriers, 200);
  EXPECT_EQ(p.o->interval_s, 0);
  EXPECT_EQ(p.o->fleets, 8);
  EXPECT_EQ(p.o->connections, 0);
  EXPECT_EQ(p.o->duration_s, 0);
  EXPECT_EQ(p.o->bbox, (std::array<double, 4>{35.60, 51.20, 35.80, 51.55}));
}

TEST_F(simulate_flags, key_file_wins_and_loses_its_newline) {
  ::setenv("PEYK_JWT_SECRET", "from-env", 1);
  std::string path = ::testing::TempDir() + "peyk_sim_key";
  std::ofstream(path) << "from-file\n";
  auto p = parse({"--jwt-secret-file", path.c_str(), "--couriers", "2000", "--interval", "1",
                  "--duration", "10", "--bbox", "40.70,-74.02,40.80,-73.93", "--seed", "9"});
  ASSERT_TRUE(p.o) << p.err;
  EXPECT_EQ(p.o->secret, "from-file");
  EXPECT_EQ(p.o->couriers, 2000);
  EXPECT_EQ(p.o->interval_s, 1);
  EXPECT_EQ(p.o->duration_s, 10);
  EXPECT_EQ(p.o->seed, 9u);
  EXPECT_EQ(p.o->bbox, (std::array<double, 4>{40.70, -74.02, 40.80, -73.93}));
  std::remove(path.c_str());

  auto missing = parse({"--jwt-secret-file", "/nonexistent/key"});
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.err.find("/nonexistent/key"), std::string::npos);
}

TEST_F(simulate_flags, bad_values_exit_2) {
  ::setenv("PEYK_JWT_SECRET", "k", 1);
  for (auto args : std::vector<std::vector<const char*>>{{"--couriers", "0"},
                                                         {"--bbox", "35.8,51.2,35.6,51.5"},
                                                         {"--bbox", "1,2,3"},
                                                         {"--interval", "-1"},
                                                         {"--fleets", "0"},
                                                         {"--target", "https://x"},
                                                         {"--nope"}}) {
    auto p = parse(args);
    EXPECT_FALSE(p.o) << args[0];
    EXPECT_EQ(p.code, 2) << args[0];
    EXPECT_FALSE(p.err.empty());
  }
}

}  // namespace
}  // namespace peyk::simulator
