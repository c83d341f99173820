#include "http/request_util.hpp"

#include <gtest/gtest.h>
#include <boost/json.hpp>

namespace peyk::http {
namespace {

request req(std::string target) {
  request r{boost::beast::http::verb::get, target, 11};
  return r;
}

TEST(Token, FromEachCarrierInOrder) {
  auto r = req("/ws?token=q1");
  r.set(boost::beast::http::field::cookie, "a=b; peyk_token=c1; x=y");
  EXPECT_EQ(token_from_request(r, true), "q1");
  r.target("/ws");
  EXPECT_EQ(token_from_request(r, true), "c1");
  EXPECT_EQ(token_from_request(r, false), std::nullopt);
  r.set(boost::beast::http::field::authorization, "Bearer  h1 ");
  EXPECT_EQ(token_from_request(r, true), "h1");
  r.set(boost::beast::http::field::authorization, "Basic abc");
  EXPECT_EQ(token_from_request(r, true), std::nullopt);
  EXPECT_EQ(token_from_request(req("/ws?token="), true), std::nullopt);
  EXPECT_EQ(token_from_request(req("/ws?x=1&token=a%2Eb"), true), "a.b");
}

TEST(Redact, HidesTokensKeepsTheRest) {
  EXPECT_EQ(redact_target("/ws?token=abc.def&x=1"), "/ws?token=[redacted]&x=1");
  EXPECT_EQ(redact_target("/ws?a=1&ACCESS_TOKEN=zz"), "/ws?a=1&ACCESS_TOKEN=[redacted]");
  EXPECT_EQ(redact_target("/ws"), "/ws");
  EXPECT_EQ(redact_target("/ws?tokenx=1"), "/ws?tokenx=1");
  // a percent-encoded key is the same key to the URL parser that finds the token
  EXPECT_EQ(redact_target("/ws?%74oken=abc.def"), "/ws?%74oken=[redacted]");
  EXPECT_EQ(redact_target("/ws?x=1&to%6Ben=abc"), "/ws?x=1&to%6Ben=[redacted]");
  EXPECT_EQ(redact_target("/ws?JWT=abc"), "/ws?JWT=[redacted]");
  EXPECT_EQ(redact_target("/ws?a=1#token=abc"), "/ws?a=1");
  EXPECT_EQ(redact_target("/ws?token=a&token=b"), "/ws?token=[redacted]&token=[redacted]");
  EXPECT_EQ(redact_target("/ws?%"), "/ws?%");
}

TEST(Redact, HidesThePhoneAppsDeviceIds) {
  // OsmAnd / Traccar Client carry the courier token as the device id (PROTOCOL.md §9).
  EXPECT_EQ(redact_target("/api/v1/osmand?id=eyJ.x.y&lat=1&lon=2"),
            "/api/v1/osmand?id=[redacted]&lat=1&lon=2");
  EXPECT_EQ(redact_target("/?lat=1&deviceid=t&DEVICE_ID=u&%69d=v"),
            "/?lat=1&deviceid=[redacted]&DEVICE_ID=[redacted]&%69d=[redacted]");
  EXPECT_EQ(redact_target("/?idx=1&uid=2"), "/?idx=1&uid=2");
}

TEST(BasicAuth, PasswordOfTheHeader) {
  // "jane:tok.en" and "u:p:q" (a colon in the password stays)
  EXPECT_EQ(basic_password("Basic amFuZTp0b2suZW4="), "tok.en");
  EXPECT_EQ(basic_password("basic  dTpwOnE= "), "p:q");
  EXPECT_EQ(basic_password("Basic OnRvaw"), "tok");  // ":tok", no padding
  EXPECT_FALSE(basic_password("Bearer abc"));
  EXPECT_FALSE(basic_password("Basic "));
  EXPECT_FALSE(basic_password("Basic amFuZQ=="));  // "jane": no colon
  EXPECT_FALSE(basic_password("Basic amFuZTo="));  // "jane:": empty password
  EXPECT_FALSE(basic_password("Basic ***"));
  EXPECT_FALSE(basic_password("Basic am=Fu"));  // padding in the middle
}

TEST(Redact, AccessLogLine) {
  EXPECT_EQ(access_log_line("GET", "/ws?token=eyJ.x.y", 401), "http GET /ws?token=[redacted] 401");
  EXPECT_EQ(access_log_line("POST", "/a b\r\nX", 404), "http POST /a?b??X 404");
  EXPECT_EQ(access_log_line("G\nT", "/", 400), "http G?T / 400");
}

TEST(Origin, SameHostByDefault) {
  EXPECT_TRUE(origin_allowed("", "127.0.0.1:8082", {}));
  EXPECT_TRUE(origin_allowed("http://127.0.0.1:8082", "127.0.0.1:8082", {}));
  EXPECT_TRUE(origin_allowed("https://Panel.Example:443", "panel.example:443", {}));
  EXPECT_FALSE(origin_allowed("http://evil.example", "127.0.0.1:8082", {}));
  EXPECT_FALSE(origin_allowed("http://127.0.0.1:9999", "127.0.0.1:8082", {}));
  EXPECT_FALSE(origin_allowed("null", "127.0.0.1:8082", {}));
  // nothing may follow the authority (Boost.URL 1.81 reads ".evil.example" as a path)
  EXPECT_FALSE(origin_allowed("http://127.0.0.1:8082.evil.example", "127.0.0.1:8082", {}));
  EXPECT_FALSE(origin_allowed("http://127.0.0.1:8082/x", "127.0.0.1:8082", {}));
  EXPECT_FALSE(origin_allowed("http://127.0.0.1:8082?x", "127.0.0.1:8082", {}));
  EXPECT_FALSE(origin_allowed("http://127.0.0.1:8082#x", "127.0.0.1:8082", {}));
  EXPECT_FALSE(origin_allowed("http://u@127.0.0.1:8082", "127.0.0.1:8082", {}));
  EXPECT_FALSE(origin_allowed("http://127.0.0.1:8082@evil.example", "127.0.0.1:8082", {}));
}

TEST(Origin, AllowList) {
  std::vector<std::string> allow{"https://panel.example"};
  EXPECT_TRUE(origin_allowed("https://panel.example", "x:1", allow));
  EXPECT_FALSE(origin_allowed("http://127.0.0.1:8082", "127.0.0.1:8082", allow));
  EXPECT_TRUE(origin_allowed("http://anything", "x", {"*"}));
}

TEST(ContentType, Json) {
  EXPECT_TRUE(is_json_content_type("application/json"));
  EXPECT_TRUE(is_json_content_type("Application/JSON; charset=utf-8"));
  EXPECT_FALSE(is_json_content_type("text/plain"));
  EXPECT_FALSE(is_json_content_type(""));
  EXPECT_FALSE(is_json_content_type("application/jsonx"));
}

TEST(RateText, DrfStyle) {
  EXPECT_EQ(rate_text(60), "1/m");
  EXPECT_EQ(rate_text(2), "30/m");
  EXPECT_EQ(rate_text(1), "60/m");
  EXPECT_EQ(rate_text(120), "30/h");
  EXPECT_EQ(rate_text(7), "1/7s");
}

TEST(ErrorBody, Shape) {
  auto v = boost::json::parse(error_body("invalid_field", "bad \"x\"", "latitude")).as_object();
  EXPECT_EQ(v.at("error").as_string(), "invalid_field");
  EXPECT_EQ(v.at("message").as_string(), "bad \"x\"");
  EXPECT_EQ(v.at("field").as_string(), "latitude");
  EXPECT_FALSE(boost::json::parse(error_body("a", "b")).as_object().contains("field"));
}

}  // namespace
}  // namespace peyk::http
