// The heavy third-party headers, precompiled once per build directory and reused by
// every target (PEYK_PCH, see the root CMakeLists.txt). Parsing Asio, Beast, Boost.JSON
// and GoogleTest was most of the compile time of each translation unit. Project headers
// never go here: the module dependency rule is still checked by the link.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <boost/system/result.hpp>

#if __has_include(<gtest/gtest.h>)
#include <gtest/gtest.h>
#endif
