// The built panel (web/dist): "/" is the panel, "/track" the customer page.
#include <cctype>
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

// The origin the panel loads tiles from, as a CSP source: "https://tile.example", with a
// leading "{s}." subdomain as "*." ; empty for a relative URL (then 'self' covers it).
std::string tile_source(std::string_view url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return {};
  auto host_end = url.find_first_of("/?#", scheme_end + 3);
  std::string scheme(url.substr(0, scheme_end));
  std::string host(url.substr(scheme_end + 3, host_end == std::string_view::npos
                                                  ? std::string_view::npos
                                                  : host_end - scheme_end - 3));
  if (host.rfind("{s}.", 0) == 0) host = "*." + host.substr(4);
  for (char c : scheme + host) {
    // Anything else (another placeholder, a quote, a space) would not be a source: allow
    // any host of the scheme rather than break the map.
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' ||
          c == '*' || c == '[' || c == ']')) {
      return scheme + ":";
    }
  }
  return scheme + "://" + host;
}

// The Host header, if it is a plain host[:port] (it goes into a header we send).
std::string safe_host(std::string_view host) {
  for (char c : host) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' ||
          c == '[' || c == ']')) {
      return {};
    }
  }
  return std::string(host);
}

// What the panel needs and nothing more: its own scripts and styles (Leaflet sets inline
// styles), images from itself, data: (bundled icons) and the tile server, fetch and the
// WebSocket to this host; never framed (clickjacking), no plugins, no <base>.
std::string content_security_policy(const settings& cfg, std::string_view host_header) {
  std::string img = "'self' data:";
  if (auto t = tile_source(cfg.tiles_url); !t.empty()) img += " " + t;
  std::string connect = "'self'";
  if (auto h = safe_host(host_header); !h.empty()) connect += " ws://" + h + " wss://" + h;
  return "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src " + img +
         "; connect-src " + connect +
         "; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; "
         "frame-ancestors 'none'";
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
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Content-Security-Policy", content_security_policy(cfg, req[bhttp::field::host]));
  res.set("X-Frame-Options", "DENY");  // frame-ancestors for browsers without CSP 3
  if (req.method() != bhttp::verb::head) res.body() = body.str();
  r->send(std::move(res));
  return true;
}

bool serve_panel_missing(const request& req, const std::shared_ptr<responder>& r) {
  auto path = target_path(req.target());
  if (path != "/" && path != "/index.html" && path != "/track" && path != "/track/") return false;
  // Static text only: nothing of the request and no server path goes into it.
  static const std::string page =
      "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<title>peyk: the panel is not built</title>\n"
      "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:42em;margin:3em auto;"
      "padding:0 1em}code,pre{background:#f3f3f3;padding:.1em .3em}pre{padding:.6em}</style>"
      "</head>\n<body>\n<h1>peyk is running; its panel is not built</h1>\n"
      "<p>This server found no built panel: no <code>--web-root</code> directory holding "
      "<code>index.html</code>, and no <code>web/dist</code> beside the binary's source "
      "tree. The API, <code>/ws</code>, <code>/healthz</code> and <code>/metrics</code> "
      "work without it.</p>\n"
      "<p>Build it from the source tree (Node.js and npm needed):</p>\n"
      "<pre>cd web &amp;&amp; npm ci &amp;&amp; npm run build</pre>\n"
      "<p>then restart peyk, or point it at the result: "
      "<code>peyk serve --web-root /path/to/peyk/web/dist</code>. "
      "<code>bash scripts/demo.sh</code> builds the server and the panel in one go.</p>\n"
      "</body></html>\n";
  response res{bhttp::status::not_found, 11};
  res.set(bhttp::field::content_type, "text/html; charset=utf-8");
  res.set(bhttp::field::cache_control, "no-store");
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Referrer-Policy", "no-referrer");
  res.set("X-Frame-Options", "DENY");
  res.set("Content-Security-Policy",
          "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
          "frame-ancestors 'none'");
  if (req.method() != bhttp::verb::head) res.body() = page;
  r->send(std::move(res));
  return true;
}

}  // namespace peyk::http
