#pragma once
// Test support shared by the Redis broker tests: real redis-server processes on free
// loopback ports, polling, and a synchronous publish.

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "broker/broker.hpp"

namespace peyk::broker::test_support {

using namespace std::chrono_literals;

inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// A real redis-server on a free loopback port, without persistence. It runs in the
// foreground as this process's child and is killed with it (PR_SET_PDEATHSIG): a test
// process that dies (a crash, a sanitizer's halt_on_error, ctest's timeout) leaves no
// server behind.
struct redis_server {
  explicit redis_server(int p, std::string pass = {}, std::string extra = {})
      : port(p), password(std::move(pass)), extra_args(std::move(extra)) {
    start();
  }
  ~redis_server() { kill(); }
  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;
  void start() {
    std::vector<std::string> args{
        "redis-server", "--port", std::to_string(port), "--bind",   "127.0.0.1", "--save", "",
        "--appendonly", "no",     "--logfile",          "/dev/null"};
    if (!password.empty()) {
      args.emplace_back("--requirepass");
      args.push_back(password);
    }
    std::istringstream extra(extra_args);  // later options override earlier ones
    for (std::string word; extra >> word;) args.push_back(word);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();
    pid = ::fork();
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(1);  // the parent died before prctl
      int null = ::open("/dev/null", O_RDWR);
      ::dup2(null, 0);
      ::dup2(null, 1);
      ::dup2(null, 2);
      ::execvp(argv[0], argv.data());
      ::_exit(127);
    }
    ASSERT_GT(pid, 0) << "fork failed";
    for (int i = 0; i < 100 && !ping(); ++i) std::this_thread::sleep_for(20ms);
    if (::waitpid(pid, nullptr, WNOHANG) == pid) {  // it exited: its port was taken?
      std::fprintf(stderr, "redis-server on port %d exited at start\n", port);
      pid = 0;
    }
  }
  bool ping() {
    auto cmd = "redis-cli -p " + std::to_string(port) +
               (password.empty() ? "" : " -a " + password + " --no-auth-warning") +
               " ping 2>/dev/null | grep -q PONG";
    return std::system(cmd.c_str()) == 0;
  }
  void kill() {
    if (pid <= 0) return;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    pid = 0;
  }
  int port;
  std::string password;
  std::string extra_args;
  pid_t pid = 0;
};

template <class F>
bool eventually(F f, std::chrono::milliseconds limit = 10s) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return f();
}

inline location_ptr loc(std::string id, double lat) {
  auto l = std::make_shared<core::location>();
  l->courier_id = std::move(id);
  l->latitude = lat;
  l->longitude = 51.4;
  l->ts_us = 1;
  return l;
}

struct collector {
  std::mutex mu;
  std::vector<location_ptr> got;
  void operator()(const location_ptr& l) {
    std::lock_guard g(mu);
    got.push_back(l);
  }
  std::size_t size() {
    std::lock_guard g(mu);
    return got.size();
  }
  location_ptr at(std::size_t i) {
    std::lock_guard g(mu);
    return got.at(i);
  }
};

inline std::optional<bool> publish_sync(broker& b, location_ptr l) {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<bool> ok;
  std::vector<location_ptr> batch{std::move(l)};
  b.publish(batch, [&](boost::system::error_code ec) {
    std::lock_guard g(mu);
    ok = !ec;
    cv.notify_all();
  });
  std::unique_lock lk(mu);
  cv.wait_for(lk, 5s, [&] { return ok.has_value(); });
  return ok;
}

// As publish_sync, for a whole batch.
inline std::optional<bool> publish_batch_sync(broker& b, std::span<const location_ptr> batch,
                                              std::chrono::milliseconds limit = 30s) {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<bool> ok;
  b.publish(batch, [&](boost::system::error_code ec) {
    std::lock_guard g(mu);
    ok = !ec;
    cv.notify_all();
  });
  std::unique_lock lk(mu);
  cv.wait_for(lk, limit, [&] { return ok.has_value(); });
  return ok;
}

}  // namespace peyk::broker::test_support
