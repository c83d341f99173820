// The built panel (web/dist): "/" is the panel, "/track" the customer page.
#include <filesystem>
#include <fstream>
#include <sstream>

#include <boost/beast/http/field.hpp>

#include "http/routes.hpp"

namespace peyk::http {

namespace bhttp = boost::beast::http;
namespace fs = std::filesystem;

namespace {

const char* mime(const fs::path& p) {
  auto ext = p.extension().string();
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".json" || ext == ".map") return "application/json";
  if (ext == ".png") return "image/png";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".woff2") return "font/woff2";
  return "application/octet-stream";
}

}  // namespace

bool serve_static(const request& req, const std::shared_ptr<responder>& r, const settings& cfg) {
  if (cfg.web_root.empty()) return false;
  std::string path(target_path(req.target()));
  if (path == "/" || path.empty()) path = "/index.html";
  if (path == "/track" || path == "/track/") path = "/track.html";
  if (path.find("..") != std::string::npos || path.find('\0') != std::string::npos) return false;
  std::error_code ec;
  fs::path root = fs::weakly_canonical(cfg.web_root, ec);
  if (ec) return false;
  fs::path file = fs::weakly_canonical(root / path.substr(1), ec);
  if (ec) return false;
  auto rel = file.lexically_relative(root);
  if (rel.empty() || *rel.begin() == "..") return false;
  if (!fs::is_regular_file(file, ec)) return false;
  std::ifstream in(file, std::ios::binary);
  if (!in) return false;
  std::ostringstream body;
  body << in.rdbuf();
  response res{bhttp::status::ok, 11};
  res.set(bhttp::field::content_type, mime(file));
  // Hashed assets may be cached; pages must not be (they carry no token, but they change).
  bool asset = path.rfind("/assets/", 0) == 0;
  res.set(bhttp::field::cache_control, asset ? "public, max-age=31536000, immutable" : "no-cache");
  res.set("Referrer-Policy", "no-referrer");
  if (req.method() != bhttp::verb::head) res.body() = body.str();
  r->send(std::move(res));
  return true;
}

}  // namespace peyk::http
