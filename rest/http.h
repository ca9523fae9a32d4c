// Our own small HTTP server interface, so handlers never see cpprestsdk (whose listener its
// maintainers call unfit for heavy production load) and it can be swapped for Boost.Beast.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace zunvm {

struct HttpRequest {
  std::string method;                          // upper case
  std::string raw_path;                        // still percent-encoded, no query
  std::string raw_query;                       // still percent-encoded, no '?'
  std::map<std::string, std::string> headers;  // names lower-cased; repeated ones joined by ", "
  std::string body;                            // raw bytes
  std::string scheme = "http";
  bool body_too_large = false;                 // set by the server; body is then empty
  std::string Header(const std::string& lower_name) const;
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string content_type;                    // empty: no body type (and usually no body)
  void SetHeader(const std::string& name, const std::string& value);
  static HttpResponse Json(int status, const std::string& body);
  static HttpResponse Empty(int status);
};

// Called on a server-owned worker thread (never on the I/O threads); may block.
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;                   // 0: a free port is chosen
  int io_threads = 4;
  int workers = 8;
  int64_t max_body_bytes = 64 << 20;
  std::string cert_file, key_file;  // both set: HTTPS
};

class HttpServer {
 public:
  virtual ~HttpServer() = default;
  // Binds and starts serving; Unavailable if the address cannot be bound.
  virtual Status Start(const HttpServerOptions& opts, HttpHandler handler) = 0;
  virtual int Port() const = 0;
  // Stops accepting, waits for running handlers. Idempotent.
  virtual void Stop() = 0;
};

std::unique_ptr<HttpServer> MakeCpprestServer();

// Binds a TCP socket to host:0 and returns the port the kernel chose (then closes it).
Result<int> PickFreePort(const std::string& host);

}  // namespace zunvm
