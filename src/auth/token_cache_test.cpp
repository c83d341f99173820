#include "auth/token_cache.hpp"

#include <atomic>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json.hpp>

namespace peyk::auth {
namespace {

constexpr std::int64_t now = 1'700'000'000;
constexpr std::string_view secret = "cache-secret";

static_assert(!std::is_constructible_v<token_cache, jwt_verifier>,
              "a temporary verifier would dangle");
static_assert(std::is_constructible_v<token_cache, const jwt_verifier&>);

std::string token_for(std::string sub, std::int64_t exp, std::string_view role = "courier") {
  return sign_hs256(boost::json::object{{"sub", sub}, {"role", role}, {"exp", exp}}, secret);
}

TEST(TokenCache, HitReturnsSamePointer) {
  const jwt_verifier v{std::string(secret)};
  token_cache cache(v);
  const std::string t = token_for("10", now + 3600);
  const auto a = cache.verify(t, now);
  ASSERT_TRUE(a.has_value()) << a.error().message;
  EXPECT_EQ((*a)->sub, "10");
  EXPECT_EQ((*a)->role, role::courier);
  const auto b = cache.verify(t, now + 1);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(a->get(), b->get());

  const auto other = cache.verify(token_for("11", now + 3600), now);
  ASSERT_TRUE(other.has_value());
  EXPECT_NE(other->get(), a->get());
  EXPECT_EQ((*other)->sub, "11");
}

TEST(TokenCache, FailuresPassThroughAndAreNotCached) {
  const jwt_verifier v{std::string(secret)};
  token_cache cache(v);
  const std::string forged =
      sign_hs256(boost::json::object{{"sub", "1"}, {"role", "admin"}, {"exp", now + 60}}, "wrong");
  for (int i = 0; i < 2; ++i) {
    const auto r = cache.verify(forged, now);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, "invalid_token");
  }
  // A token that is not yet valid fails now and succeeds later: the failure was not kept.
  const std::string later = sign_hs256(
      boost::json::object{{"sub", "1"}, {"role", "admin"}, {"exp", now + 600}, {"nbf", now + 60}},
      secret);
  const auto early = cache.verify(later, now);
  ASSERT_FALSE(early.has_value());
  EXPECT_EQ(early.error().code, "token_not_yet_valid");
  EXPECT_TRUE(cache.verify(later, now + 60).has_value());
}

TEST(TokenCache, CachedEntryIsNotUsedPastExpiry) {
  const jwt_verifier v(std::string(secret), verify_options{2, {}});
  token_cache cache(v);
  const std::string t = token_for("10", now + 10);
  const auto first = cache.verify(t, now);
  ASSERT_TRUE(first.has_value());
  const auto hit = cache.verify(t, now + 9);
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->get(), first->get());
  // From exp on the verifier decides: still valid within the leeway, then expired.
  const auto grace = cache.verify(t, now + 11);
  ASSERT_TRUE(grace.has_value());
  EXPECT_EQ((*grace)->sub, "10");
  const auto expired = cache.verify(t, now + 12);
  ASSERT_FALSE(expired.has_value());
  EXPECT_EQ(expired.error().code, "token_expired");
  EXPECT_FALSE(cache.verify(t, now + 1000).has_value());
}

TEST(TokenCache, CachedEntryExpiresExactlyWithoutLeeway) {
  const jwt_verifier v(std::string(secret), verify_options{0, {}});
  token_cache cache(v);
  const std::string t = token_for("10", now + 10);
  ASSERT_TRUE(cache.verify(t, now).has_value());
  ASSERT_TRUE(cache.verify(t, now + 9).has_value());
  const auto r = cache.verify(t, now + 10);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, "token_expired");
}

TEST(TokenCache, BoundedCacheEvictsButStaysCorrect) {
  const jwt_verifier v{std::string(secret)};
  token_cache cache(v, 16);  // one entry per stripe
  std::vector<std::string> tokens;
  std::vector<const identity*> first;
  std::vector<std::shared_ptr<const identity>> keep;  // keeps addresses from being reused
  for (int i = 0; i < 200; ++i) {
    tokens.push_back(token_for(std::to_string(i), now + 3600));
    const auto r = cache.verify(tokens.back(), now);
    ASSERT_TRUE(r.has_value());
    keep.push_back(*r);
    first.push_back(r->get());
  }
  int evicted = 0;
  for (int i = 0; i < 200; ++i) {
    const auto r = cache.verify(tokens[i], now);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ((*r)->sub, std::to_string(i));
    if (r->get() != first[i]) ++evicted;
  }
  // 200 tokens cannot all stay in 16 slots.
  EXPECT_GE(evicted, 200 - 16);
}

TEST(TokenCache, ConcurrentUse) {
  const jwt_verifier v{std::string(secret)};
  token_cache cache(v, 64);  // small, so threads also race on eviction
  constexpr int n_tokens = 200;
  std::vector<std::string> tokens;
  for (int i = 0; i < n_tokens; ++i) {
    // Every fourth token is already expired.
    tokens.push_back(token_for(std::to_string(i), i % 4 == 3 ? now - 60 : now + 3600));
  }
  const std::string forged =
      sign_hs256(boost::json::object{{"sub", "x"}, {"role", "admin"}, {"exp", now + 60}}, "no");

  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < 3000; ++k) {
        const int i = (k * 7 + t * 13) % n_tokens;
        const auto r = cache.verify(tokens[i], now);
        const bool ok = i % 4 == 3 ? !r.has_value() && r.error().code == "token_expired"
                                   : r.has_value() && (*r)->sub == std::to_string(i);
        if (!ok) ++failures;
        if (k % 100 == 0 && cache.verify(forged, now).has_value()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace peyk::auth
