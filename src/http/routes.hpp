#pragma once
// The routes of the HTTP layer, written against a small `responder` so that they need
// not know the session type.

#include <functional>
#include <memory>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "http/request_util.hpp"
#include "http/server.hpp"

namespace peyk::http {

using response = boost::beast::http::response<boost::beast::http::string_body>;

class responder {
 public:
  virtual ~responder() = default;
  virtual void send(response res) = 0;
  // Runs `fn` on the connection's own thread (for completions from the broker's thread).
  virtual void post(std::function<void()> fn) = 0;
  // Hands the connection to the gateway (after the upgrade request was authorized).
  virtual void upgrade(std::shared_ptr<const auth::identity> who, gateway::subprotocol proto) = 0;
};

void route(const request& req, const std::shared_ptr<responder>& r, const settings& cfg,
           const services& svc);

// Pieces of `route`, one per file.
void handle_ingest(const request& req, const std::shared_ptr<responder>& r, const settings& cfg,
                   const services& svc);
void handle_upgrade(const request& req, const std::shared_ptr<responder>& r, const settings& cfg,
                    const services& svc);
bool serve_static(const request& req, const std::shared_ptr<responder>& r, const settings& cfg);

response json_response(unsigned status, std::string body);
response error_response(unsigned status, std::string_view code, std::string_view message,
                        std::string_view field = {});

}  // namespace peyk::http
