// HttpServer over cpprestsdk's listener. Its I/O threads only copy the request and hand it to
// our own worker pool; handlers run and reply from there, so a slow handler never blocks the
// listener (cpprestsdk deadlocks when its pool threads wait on its own tasks).
#include <atomic>
#include <mutex>

// spdlog/fmt must come before cpprestsdk, whose U() macro breaks fmt's templates.
#include "common/logging.h"

#include <cpprest/http_listener.h>
#include <pplx/threadpool.h>

#include "common/strings.h"
#include "rest/http.h"
#include "common/serial_executor.h"

namespace zunvm {

namespace {

using web::http::http_request;
using web::http::experimental::listener::http_listener;
using web::http::experimental::listener::http_listener_config;

void InitThreadPoolOnce(int threads) {
  static std::once_flag once;
  std::call_once(once, [threads] {
    try {
      crossplat::threadpool::initialize_with_threads(static_cast<size_t>(std::max(threads, 2)));
    } catch (const std::exception& e) {
      // Already initialised by an earlier cpprestsdk user in this process: keep it.
      Logger("api")->debug("cpprestsdk thread pool: {}", e.what());
    }
  });
}

bool AsksToClose(const http_request& req) {
  auto it = req.headers().find("Connection");
  if (it == req.headers().end()) return false;
  return ToLower(it->second).find("close") != std::string::npos;
}

void Reply(http_request req, HttpResponse&& r) {
  web::http::http_response resp(static_cast<web::http::status_code>(r.status));
  for (const auto& [k, v] : r.headers) resp.headers().add(k, v);
  // cpprestsdk closes the connection after answering a request that said `Connection: close`
  // but does not say so (RFC 9112 9.6: the server SHOULD); a client that pools the connection
  // (urllib3, as tempest does) then sends its next request into the closing socket.
  if (AsksToClose(req)) resp.headers()["Connection"] = "close";
  if (!r.content_type.empty()) {
    resp.set_body(std::move(r.body), r.content_type);
  }
  req.reply(resp).then([](pplx::task<void> t) {
    try {
      t.get();
    } catch (const std::exception& e) {
      Logger("api")->debug("reply failed: {}", e.what());
    }
  });
}

class CpprestServer : public HttpServer {
 public:
  ~CpprestServer() override { Stop(); }

  Status Start(const HttpServerOptions& opts, HttpHandler handler) override {
    InitThreadPoolOnce(opts.io_threads);
    opts_ = opts;
    handler_ = std::move(handler);
    pool_ = std::make_unique<SerialExecutor>(opts.workers);
    bool tls = !opts.cert_file.empty();
    std::string last_error;
    for (int attempt = 0; attempt < 5; ++attempt) {
      int port = opts.port;
      if (port == 0) {
        auto p = PickFreePort(opts.host);
        if (!p) return p.error();
        port = *p;
      }
      std::string host = opts.host.find(':') != std::string::npos ? "[" + opts.host + "]" : opts.host;
      std::string uri = std::string(tls ? "https://" : "http://") + host + ":" + std::to_string(port);
      http_listener_config conf;
      conf.set_timeout(std::chrono::seconds(120));
      if (tls) {
        std::string cert = opts.cert_file, key = opts.key_file;
        conf.set_ssl_context_callback([cert, key](boost::asio::ssl::context& ctx) {
          ctx.set_options(boost::asio::ssl::context::default_workarounds |
                          boost::asio::ssl::context::no_sslv2 |
                          boost::asio::ssl::context::no_sslv3 |
                          boost::asio::ssl::context::no_tlsv1 |
                          boost::asio::ssl::context::no_tlsv1_1);
          ctx.use_certificate_chain_file(cert);
          ctx.use_private_key_file(key, boost::asio::ssl::context::pem);
        });
      }
      try {
        auto listener = std::make_unique<http_listener>(uri, conf);
        listener->support([this, tls](http_request req) { Accept(std::move(req), tls); });
        listener->open().wait();
        listener_ = std::move(listener);
        port_ = port;
        return Status::Ok();
      } catch (const std::exception& e) {
        last_error = e.what();
        if (opts.port != 0) break;  // a fixed port: no point retrying
      }
    }
    return Status::Unavailable("cannot listen on " + opts.host + ":" + std::to_string(opts.port) +
                               ": " + last_error);
  }

  int Port() const override { return port_; }

  void Stop() override {
    std::unique_ptr<http_listener> l;
    {
      std::lock_guard<std::mutex> lock(mu_);
      l = std::move(listener_);
    }
    if (l) {
      try {
        l->close().wait();
      } catch (const std::exception& e) {
        Logger("api")->warn("closing listener: {}", e.what());
      }
    }
    if (pool_) pool_->Shutdown();
  }

 private:
  void Accept(http_request req, bool tls) {
    HttpRequest r;
    try {
      r.method = req.method();
      r.raw_path = req.request_uri().path();
      r.raw_query = req.request_uri().query();
      r.scheme = tls ? "https" : "http";
      for (const auto& h : req.headers()) {
        std::string name = ToLower(h.first);
        auto it = r.headers.find(name);
        if (it == r.headers.end()) r.headers.emplace(name, h.second);
        else it->second += ", " + h.second;
      }
    } catch (const std::exception& e) {
      Reply(req, HttpResponse::Json(400, R"({"errors": [{"request_id": "", "code": "container.invalid-value", "status": 400, "title": "Malformed request", "detail": "Malformed request", "links": []}]})"));
      return;
    }
    uint64_t cl = req.headers().content_length();
    if (cl > static_cast<uint64_t>(opts_.max_body_bytes)) {
      r.body_too_large = true;
      Dispatch(std::move(req), std::move(r));
      return;
    }
    req.extract_vector().then([this, req, r](pplx::task<std::vector<unsigned char>> t) mutable {
      try {
        auto v = t.get();
        if (v.size() > static_cast<size_t>(opts_.max_body_bytes)) {
          r.body_too_large = true;
        } else {
          r.body.assign(v.begin(), v.end());
        }
      } catch (const std::exception& e) {
        Logger("api")->debug("reading body: {}", e.what());
        return;  // the connection is gone
      }
      Dispatch(std::move(req), std::move(r));
    });
  }

  void Dispatch(http_request req, HttpRequest r) {
    std::string key = std::to_string(seq_.fetch_add(1));
    pool_->Post(key, [this, req, r = std::move(r)]() mutable {
      HttpResponse resp;
      try {
        resp = handler_(r);
      } catch (const std::exception& e) {
        Logger("api")->error("handler threw: {}", e.what());
        resp = HttpResponse::Json(500, R"({"errors": [{"request_id": "", "code": "container.", "status": 500, "title": "Internal Server Error", "detail": "Your request could not be handled because of a problem in the server.", "links": []}]})");
      }
      Reply(req, std::move(resp));
    });
  }

  std::mutex mu_;
  HttpServerOptions opts_;
  HttpHandler handler_;
  std::unique_ptr<SerialExecutor> pool_;
  std::unique_ptr<http_listener> listener_;
  std::atomic<uint64_t> seq_{0};
  int port_ = 0;
};

}  // namespace

std::unique_ptr<HttpServer> MakeCpprestServer() { return std::make_unique<CpprestServer>(); }

}  // namespace zunvm
