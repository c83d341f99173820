#include "core/metrics.hpp"

#include <gtest/gtest.h>

namespace peyk::core {
namespace {

TEST(Metrics, RendersPrometheusText) {
  metrics m;
  m.deliveries.inc(5);
  m.ws_connections.add(2);
  m.ingest_by_status[429].inc();
  m.delivery_latency.observe_us(300);       // 0.0003 s -> le 0.0005
  m.delivery_latency.observe_us(20000000);  // 20 s -> only +Inf
  auto text = m.render();
  EXPECT_NE(text.find("peyk_deliveries_total 5\n"), std::string::npos);
  EXPECT_NE(text.find("peyk_ws_connections 2\n"), std::string::npos);
  EXPECT_NE(text.find("peyk_ingest_requests_total{status=\"429\"} 1\n"), std::string::npos);
  EXPECT_EQ(text.find("status=\"200\""), std::string::npos);
  EXPECT_NE(text.find("peyk_delivery_latency_seconds_bucket{le=\"0.00025\"} 0\n"),
            std::string::npos);
  EXPECT_NE(text.find("peyk_delivery_latency_seconds_bucket{le=\"0.0005\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("peyk_delivery_latency_seconds_bucket{le=\"10\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("peyk_delivery_latency_seconds_bucket{le=\"+Inf\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("peyk_delivery_latency_seconds_count 2\n"), std::string::npos);
}

}  // namespace
}  // namespace peyk::core
