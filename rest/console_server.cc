#include "rest/console_server.h"

#include <atomic>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "common/base64.h"
#include "common/ids.h"
#include "common/logging.h"
#include "common/serial_executor.h"
#include "common/strings.h"
#include "rest/errors.h"
#include "rest/query.h"
#include "rest/ws_frame.h"
#include "service/console_service.h"

namespace zunvm {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr size_t kReadChunk = 64 << 10;
// A connection must complete its TLS handshake and HTTP request within this (else anyone who
// reaches the port could hold every connection slot with idle sockets).
constexpr auto kRequestTimeout = std::chrono::seconds(10);
constexpr const char kDockerApiVersion[] = "1.26";

// Plain TCP or TLS, as asynchronous byte I/O. Completions run on the socket's executor (the
// connection's strand); calls are made from that strand only.
class Transport {
 public:
  using Done = std::function<void(error_code, size_t)>;
  virtual ~Transport() = default;
  virtual void Handshake(std::function<void(error_code)> done) = 0;
  virtual void Read(asio::mutable_buffer b, Done done) = 0;
  virtual void Write(asio::const_buffer b, Done done) = 0;  // all of it
  virtual void Close() = 0;
};

class PlainTransport : public Transport {
 public:
  explicit PlainTransport(tcp::socket s) : s_(std::move(s)) {}
  void Handshake(std::function<void(error_code)> done) override {
    asio::post(s_.get_executor(), [done] { done({}); });
  }
  void Read(asio::mutable_buffer b, Done done) override { s_.async_read_some(b, std::move(done)); }
  void Write(asio::const_buffer b, Done done) override { asio::async_write(s_, b, std::move(done)); }
  void Close() override {
    error_code ec;
    s_.shutdown(tcp::socket::shutdown_both, ec);
    s_.close(ec);
  }

 private:
  tcp::socket s_;
};

class TlsTransport : public Transport {
 public:
  TlsTransport(tcp::socket s, asio::ssl::context& ctx) : s_(std::move(s), ctx) {}
  void Handshake(std::function<void(error_code)> done) override {
    s_.async_handshake(asio::ssl::stream_base::server, std::move(done));
  }
  void Read(asio::mutable_buffer b, Done done) override { s_.async_read_some(b, std::move(done)); }
  void Write(asio::const_buffer b, Done done) override { asio::async_write(s_, b, std::move(done)); }
  void Close() override {
    error_code ec;
    s_.lowest_layer().shutdown(tcp::socket::shutdown_both, ec);
    s_.lowest_layer().close(ec);
  }

 private:
  asio::ssl::stream<tcp::socket> s_;
};

std::string ReasonOf(int status) {
  switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 426: return "Upgrade Required";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

std::string Head(int status, const std::vector<std::pair<std::string, std::string>>& headers,
                  const std::string& reason = "") {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + (reason.empty() ? ReasonOf(status) : reason) + "\r\n";
  for (const auto& [k, v] : headers) out += k + ": " + v + "\r\n";
  return out + "\r\n";
}

bool HeaderHasToken(std::string_view value, std::string_view token) {
  for (auto& t : Split(ToLower(value), ',')) {
    auto b = t.find_first_not_of(" \t");
    auto e = t.find_last_not_of(" \t");
    if (b != std::string::npos && t.substr(b, e - b + 1) == ToLower(token)) return true;
  }
  return false;
}

// "/v1.26/exec/..." or "/exec/...": the path without Docker's version prefix.
std::string StripDockerVersion(const std::string& path) {
  if (path.size() > 3 && path[0] == '/' && path[1] == 'v' && std::isdigit(static_cast<unsigned char>(path[2]))) {
    auto slash = path.find('/', 1);
    return slash == std::string::npos ? "/" : path.substr(slash);
  }
  return path;
}

}  // namespace

// ---- the server's shared state ------------------------------------------------------------------

class ConsoleConnection;

struct ConsoleServer::Impl {
  ConsoleService* consoles;
  ConsoleServerOptions opts;
  asio::io_context ioc;
  std::optional<asio::ssl::context> tls;
  std::optional<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  SerialExecutor workers;
  std::atomic<size_t> connections{0};
  std::atomic<uint64_t> next_id{1};
  int bound_port = 0;
  std::mutex mu;  // guards live
  std::map<uint64_t, std::weak_ptr<ConsoleConnection>> live;

  Impl(ConsoleService* c, ConsoleServerOptions o) : consoles(c), opts(std::move(o)), workers(std::max(1, opts.workers)) {}
  void Accept();
};

// One client connection: HTTP until an upgrade, then a websocket console or Docker's raw
// stream. Everything but the guest calls runs on the connection's strand.
class ConsoleConnection : public std::enable_shared_from_this<ConsoleConnection> {
 public:
  ConsoleConnection(ConsoleServer::Impl* srv, std::unique_ptr<Transport> t, asio::any_io_executor ex,
                    uint64_t id)
      : srv_(srv), t_(std::move(t)), ex_(ex), id_(id), key_("console-" + std::to_string(id)),
        decoder_(srv_->opts.max_message), timer_(ex) {}
  ~ConsoleConnection() { srv_->connections--; }

  void Begin(bool refuse) {
    auto self = shared_from_this();
    ArmRequestTimer();
    t_->Handshake([self, refuse](error_code ec) {
      if (ec) return self->Abort();
      if (refuse) {
        self->SendError(Status::Unavailable("Too many console connections; try again later."), false);
        return self->EndAfterWrites();
      }
      self->NewParser();
      self->ReadMore();
    });
  }
  // From any thread.
  void Post(std::function<void()> fn) { asio::post(ex_, std::move(fn)); }
  void Output(const std::string& data);
  void Ended(std::optional<int> code);
  void Abort();

 private:
  enum class Mode { kHttp, kWebsocket, kRaw, kDone };
  struct Holder {  // the console session, set and used on worker threads (in order per key)
    std::unique_ptr<ConsoleSession> session;
    ~Holder() {
      if (session) session->Close();
    }
  };

  // Until a request is complete: a connection still in HTTP mode when it fires is dropped.
  void ArmRequestTimer() {
    timer_.expires_after(kRequestTimeout);
    std::weak_ptr<ConsoleConnection> weak = weak_from_this();
    timer_.async_wait([weak](error_code ec) {
      auto self = weak.lock();
      if (ec || !self || self->closed_ || self->mode_ != Mode::kHttp || !self->parser_) return;
      Logger("console")->info("console {}: no complete request in {} s; closed", self->id_, kRequestTimeout.count());
      self->Abort();
    });
  }
  void NewParser() {
    ArmRequestTimer();
    parser_.emplace();
    parser_->header_limit(8 << 10);
    parser_->body_limit(64 << 10);
    parser_->eager(true);
  }
  void ReadMore();
  void Process();
  void HandleHttp(http::request<http::string_body> req);
  void HandleDocker(const http::request<http::string_body>& req, const std::string& path,
                    const std::map<std::string, std::string>& query);
  void HandleWebsocket(const http::request<http::string_body>& req, const std::string& path,
                       const std::map<std::string, std::string>& query);
  void OpenConsole(const ConsoleTarget& target);
  void PumpMessages();
  void SendStdin(std::string data);
  void Enqueue(std::string bytes);
  void WriteNext();
  void EndAfterWrites();
  void CloseSession();
  void SendError(const Status& st, bool keep_alive);
  void SendDocker(int status, const nlohmann::json& body, bool keep_alive);
  void SendHttp(int status, const std::string& type, const std::string& body, bool keep_alive,
                std::vector<std::pair<std::string, std::string>> extra = {});

  ConsoleServer::Impl* srv_;  // outlives every connection (Stop drains them)
  std::unique_ptr<Transport> t_;
  asio::any_io_executor ex_;
  uint64_t id_;
  std::string key_;  // the worker queue of this connection
  Mode mode_ = Mode::kHttp;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string in_;
  char buf_[kReadChunk];
  bool reading_ = false;
  bool stdin_busy_ = false;  // a chunk is on its way to the guest: read no further
  bool peer_done_ = false;   // EOF or a close frame from the client
  ws::Decoder decoder_;
  bool base64_ = false;
  ws::Utf8Chunker utf8_;
  std::deque<std::string> out_;
  size_t queued_ = 0;
  bool writing_ = false;
  bool ending_ = false;  // close once the queue is written
  bool closed_ = false;
  std::shared_ptr<Holder> holder_ = std::make_shared<Holder>();
  bool session_started_ = false;
  asio::steady_timer timer_;  // the request deadline (HTTP mode)
};

namespace {

// The sink a console's process writes to: hops onto the connection's strand.
class ConnectionSink : public ProcessSink {
 public:
  explicit ConnectionSink(std::weak_ptr<ConsoleConnection> c) : c_(std::move(c)) {}
  void OnOutput(const std::string& data) override {
    if (auto c = c_.lock()) c->Post([c, data] { c->Output(data); });
  }
  void OnClosed(std::optional<int> code) override {
    if (auto c = c_.lock()) c->Post([c, code] { c->Ended(code); });
  }

 private:
  std::weak_ptr<ConsoleConnection> c_;
};

}  // namespace

void ConsoleConnection::ReadMore() {
  if (reading_ || closed_ || peer_done_ || stdin_busy_) return;
  reading_ = true;
  auto self = shared_from_this();
  t_->Read(asio::buffer(buf_, sizeof buf_), [self](error_code ec, size_t n) {
    self->reading_ = false;
    if (ec) {
      self->peer_done_ = true;
      if (self->mode_ == Mode::kHttp || self->mode_ == Mode::kDone) return self->Abort();
      // The client went away: the console ends (an attach detaches).
      self->CloseSession();
      return self->EndAfterWrites();
    }
    self->in_.append(self->buf_, n);
    self->Process();
  });
}

void ConsoleConnection::Process() {
  if (closed_) return;
  switch (mode_) {
    case Mode::kHttp: {
      while (!in_.empty() && parser_ && !parser_->is_done()) {
        error_code ec;
        size_t used = parser_->put(asio::buffer(in_), ec);
        in_.erase(0, used);
        if (ec == http::error::need_more) break;
        if (ec) {
          Status st = ec == http::error::header_limit || ec == http::error::body_limit
                          ? Status(Code::kPayloadTooLarge, "Request too large: " + ec.message())
                          : Status::Invalid("Malformed HTTP request: " + ec.message());
          SendError(st, false);
          return EndAfterWrites();
        }
        if (used == 0) break;
      }
      if (parser_ && parser_->is_done()) {
        auto req = parser_->release();
        parser_.reset();
        timer_.cancel();
        return HandleHttp(std::move(req));
      }
      if (in_.size() > (16u << 10)) {
        SendError(Status(Code::kPayloadTooLarge, "Request header too large."), false);
        return EndAfterWrites();
      }
      return ReadMore();
    }
    case Mode::kWebsocket:
      decoder_.Feed(in_);
      in_.clear();
      return PumpMessages();
    case Mode::kRaw: {
      if (in_.empty()) return ReadMore();
      std::string data = std::move(in_);
      in_.clear();
      return SendStdin(std::move(data));
    }
    case Mode::kDone:
      in_.clear();
      return;
  }
}

void ConsoleConnection::PumpMessages() {
  while (!stdin_busy_ && !closed_) {
    auto m = decoder_.Next();
    if (!m) {
      bool big = m.error().code() == Code::kPayloadTooLarge;
      Logger("console")->info("console {}: {}", id_, m.error().message());
      Enqueue(ws::EncodeClose(big ? ws::kCloseTooBig : ws::kCloseProtocol, m.error().message()));
      peer_done_ = true;
      CloseSession();
      return EndAfterWrites();
    }
    if (!*m) return ReadMore();
    ws::Message msg = std::move(**m);
    switch (msg.op) {
      case ws::Opcode::kPing:
        Enqueue(ws::EncodeFrame(ws::Opcode::kPong, msg.payload));
        break;
      case ws::Opcode::kPong:
        break;
      case ws::Opcode::kClose:
        peer_done_ = true;
        if (!ending_) Enqueue(ws::EncodeClose(ws::kCloseNormal, ""));
        CloseSession();
        return EndAfterWrites();
      default: {
        std::string data = std::move(msg.payload);
        if (base64_ && msg.op == ws::Opcode::kText) {
          auto raw = Base64Decode(data);
          if (!raw) {
            Enqueue(ws::EncodeClose(ws::kCloseProtocol, "base64 subprotocol: the frame is not base64"));
            peer_done_ = true;
            CloseSession();
            return EndAfterWrites();
          }
          data = std::move(*raw);
        }
        if (!data.empty()) SendStdin(std::move(data));
        break;
      }
    }
  }
}

// Keystrokes to the guest, one chunk at a time: nothing more is read from the client until
// the guest has taken it.
void ConsoleConnection::SendStdin(std::string data) {
  if (ending_ || closed_) return;
  stdin_busy_ = true;
  auto self = shared_from_this();
  auto holder = holder_;
  srv_->workers.Post(key_, [self, holder, data = std::move(data)] {
    Status st = holder->session ? holder->session->Write(data)
                                : Status::Conflict("the console is not open");
    self->Post([self, st] {
      self->stdin_busy_ = false;
      if (!st.ok()) {
        Logger("console")->info("console {}: stdin: {}", self->id_, st.message());
        if (self->mode_ == Mode::kWebsocket) {
          self->Enqueue(ws::EncodeClose(ws::kClosePolicy, "stdin: " + st.message()));
        }
        self->CloseSession();
        return self->EndAfterWrites();
      }
      if (self->mode_ == Mode::kWebsocket) return self->PumpMessages();
      self->Process();
    });
  });
}

void ConsoleConnection::Output(const std::string& data) {
  if (closed_ || ending_) return;
  if (mode_ == Mode::kWebsocket) {
    if (base64_) {
      Enqueue(ws::EncodeFrame(ws::Opcode::kText, Base64Encode(data)));
    } else {
      std::string chunk = utf8_.Take(data);
      if (!chunk.empty()) Enqueue(ws::EncodeFrame(ws::Opcode::kBinary, chunk));
    }
  } else if (mode_ == Mode::kRaw) {
    Enqueue(data);
  }
  if (queued_ > srv_->opts.max_queued) {
    // The client does not read: drop it rather than hold its output without bound. The
    // container's log has every byte.
    Logger("console")->warn("console {}: the client reads too slowly ({} bytes waiting); closing it", id_, queued_);
    CloseSession();
    Abort();
  }
}

void ConsoleConnection::Ended(std::optional<int> code) {
  if (closed_ || ending_) return;
  if (mode_ == Mode::kWebsocket) {
    if (!base64_) {
      std::string rest = utf8_.Flush();
      if (!rest.empty()) Enqueue(ws::EncodeFrame(ws::Opcode::kBinary, rest));
    }
    Enqueue(ws::EncodeClose(ws::kCloseNormal, code ? "exit code " + std::to_string(*code) : "the container stopped"));
  }
  CloseSession();
  EndAfterWrites();
}

void ConsoleConnection::Enqueue(std::string bytes) {
  if (closed_ || ending_ || bytes.empty()) return;
  queued_ += bytes.size();
  out_.push_back(std::move(bytes));
  WriteNext();
}

void ConsoleConnection::WriteNext() {
  if (writing_ || closed_) return;
  if (out_.empty()) {
    if (ending_) Abort();
    return;
  }
  writing_ = true;
  auto self = shared_from_this();
  t_->Write(asio::buffer(out_.front()), [self](error_code ec, size_t) {
    self->writing_ = false;
    if (ec) {
      self->CloseSession();
      return self->Abort();
    }
    self->queued_ -= self->out_.front().size();
    self->out_.pop_front();
    self->WriteNext();
  });
}

void ConsoleConnection::EndAfterWrites() {
  if (closed_) return;
  ending_ = true;
  if (!writing_ && out_.empty()) Abort();
}

void ConsoleConnection::Abort() {
  if (closed_) return;
  closed_ = true;
  timer_.cancel();
  mode_ = Mode::kDone;
  out_.clear();
  queued_ = 0;
  t_->Close();
  CloseSession();
}

void ConsoleConnection::CloseSession() {
  if (!session_started_) return;
  session_started_ = false;
  auto holder = holder_;
  srv_->workers.Post(key_, [holder] {
    if (holder->session) holder->session->Close();
  });
}

void ConsoleConnection::SendHttp(int status, const std::string& type, const std::string& body, bool keep_alive,
                          std::vector<std::pair<std::string, std::string>> extra) {
  extra.emplace_back("Content-Length", std::to_string(body.size()));
  if (!type.empty()) extra.emplace_back("Content-Type", type);
  extra.emplace_back("Connection", keep_alive ? "keep-alive" : "close");
  Enqueue(Head(status, extra) + body);
}

void ConsoleConnection::SendError(const Status& st, bool keep_alive) {
  HttpResponse r = ErrorResponse(st, NewRequestId());
  SendHttp(r.status, "application/json", r.body, keep_alive);
}

void ConsoleConnection::SendDocker(int status, const nlohmann::json& body, bool keep_alive) {
  SendHttp(status, "application/json",
           body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n", keep_alive);
}

void ConsoleConnection::HandleHttp(http::request<http::string_body> req) {
  std::string target(req.target());
  auto qpos = target.find('?');
  auto path = PercentDecode(target.substr(0, qpos), false);
  auto query = ParseQuery(qpos == std::string::npos ? "" : target.substr(qpos + 1));
  if (!path) {
    SendError(Status::Invalid("The request path is not valid."), false);
    return EndAfterWrites();
  }
  if (!query) {  // as on the API's port: a malformed query is the client's error
    SendError(query.error(), false);
    return EndAfterWrites();
  }
  if (StartsWith(*path, "/v1/console/")) return HandleWebsocket(req, *path, *query);
  HandleDocker(req, *path, *query);
}

void ConsoleConnection::HandleWebsocket(const http::request<http::string_body>& req, const std::string& path,
                                 const std::map<std::string, std::string>& query) {
  auto fail = [&](const Status& st, std::vector<std::pair<std::string, std::string>> extra = {}) {
    HttpResponse r = ErrorResponse(st, NewRequestId());
    SendHttp(r.status, "application/json", r.body, false, std::move(extra));
    EndAfterWrites();
  };
  // /v1/console/containers/<uuid>/attach | /v1/console/containers/<uuid>/exec/<exec_id>
  auto parts = Split(path.substr(std::string("/v1/console/").size()), '/');
  ConsoleTarget want;
  if (parts.size() == 3 && parts[0] == "containers" && parts[2] == "attach") {
    want.uuid = parts[1];
  } else if (parts.size() == 4 && parts[0] == "containers" && parts[2] == "exec" && !parts[3].empty()) {
    want.uuid = parts[1];
    want.exec_id = parts[3];
  } else {
    return fail(Status::NotFound("No console at " + path + "."));
  }
  if (req.method() != http::verb::get) return fail(Status(Code::kMethodNotAllowed, "Consoles are opened with GET."));
  if (!HeaderHasToken(std::string(req[http::field::upgrade]), "websocket") ||
      !HeaderHasToken(std::string(req[http::field::connection]), "upgrade")) {
    return fail(Status(Code::kInvalidArgument, "A console is a websocket: send Upgrade: websocket."),
                {{"Upgrade", "websocket"}});
  }
  std::string key(req[http::field::sec_websocket_key]);
  auto raw_key = Base64Decode(key);
  if (std::string(req[http::field::sec_websocket_version]) != "13" || !raw_key || raw_key->size() != 16) {
    return fail(Status::Invalid("Unsupported websocket handshake: version 13 and a 16-byte key are required."),
                {{"Sec-WebSocket-Version", "13"}});
  }
  // Subprotocols: binary preferred, base64 understood; a client that offers others only is refused.
  std::string offered(req[http::field::sec_websocket_protocol]);
  std::string chosen;
  if (!offered.empty()) {
    if (HeaderHasToken(offered, "binary")) {
      chosen = "binary";
    } else if (HeaderHasToken(offered, "base64")) {
      chosen = "base64";
    } else {
      return fail(Status::Invalid("No supported websocket subprotocol: this console speaks binary or base64."));
    }
  }
  auto ticket = query.find("ticket");
  if (ticket == query.end() || ticket->second.empty()) {
    return fail(Status(Code::kUnauthorized, "A console needs its ticket (ticket=...).", "InvalidWebsocketToken"));
  }
  auto target = srv_->consoles->Redeem(ticket->second, want);
  if (!target) return fail(target.error());

  std::vector<std::pair<std::string, std::string>> h = {
      {"Upgrade", "websocket"}, {"Connection", "Upgrade"}, {"Sec-WebSocket-Accept", ws::AcceptKey(key)}};
  if (!chosen.empty()) h.emplace_back("Sec-WebSocket-Protocol", chosen);
  Enqueue(Head(101, h));
  mode_ = Mode::kWebsocket;
  base64_ = chosen == "base64";
  OpenConsole(*target);
  Process();  // frames that came with the handshake
}

void ConsoleConnection::HandleDocker(const http::request<http::string_body>& req, const std::string& raw_path,
                              const std::map<std::string, std::string>& query) {
  bool keep = req.keep_alive();
  std::string path = StripDockerVersion(raw_path);
  auto after = [&] {
    if (keep) {
      NewParser();
      Process();
    } else {
      EndAfterWrites();
    }
  };
  auto message = [](const std::string& m) { return nlohmann::json{{"message", m}}; };
  if (req.method() == http::verb::get && path == "/_ping") {
    SendHttp(200, "text/plain", "OK", keep);
    return after();
  }
  if (req.method() == http::verb::get && path == "/version") {
    SendDocker(200,
               {{"ApiVersion", kDockerApiVersion}, {"MinAPIVersion", "1.24"}, {"Version", "zunvm"},
                {"Os", "linux"}, {"Arch", "amd64"}, {"Components", nlohmann::json::array()}},
               keep);
    return after();
  }
  auto parts = Split(path, '/');  // "", "exec", id, action
  if (parts.size() == 4 && parts[1] == "exec" && req.method() == http::verb::post) {
    const std::string& exec_id = parts[2];
    if (parts[3] == "resize") {
      auto w = ParseInt(query.count("w") ? query.at("w") : "");
      auto h = ParseInt(query.count("h") ? query.at("h") : "");
      if (!w || !h || *w < 1 || *h < 1 || *w > 10000 || *h > 10000) {
        SendDocker(400, message("h and w must be positive integers"), keep);
        return after();
      }
      Status st = srv_->consoles->ResizeExecById(exec_id, static_cast<int>(*w), static_cast<int>(*h));
      SendDocker(st.ok() ? 201 : 404, st.ok() ? nlohmann::json() : message(st.message()), keep);
      return after();
    }
    if (parts[3] == "start") {
      auto body = nlohmann::json::parse(req.body().empty() ? "{}" : req.body(), nullptr, false);
      if (body.is_discarded() || !body.is_object()) {
        SendDocker(400, message("the body must be a JSON object"), false);
        return EndAfterWrites();
      }
      if (body.value("Detach", false) == true) {
        SendDocker(400, message("a detached exec start is not supported: this is a console"), false);
        return EndAfterWrites();
      }
      if (!HeaderHasToken(std::string(req[http::field::upgrade]), "tcp")) {
        SendDocker(400, message("exec start needs Upgrade: tcp (a hijacked stream)"), false);
        return EndAfterWrites();
      }
      auto target = srv_->consoles->RedeemExecId(exec_id);
      if (!target) {
        SendDocker(404, message("No such exec instance: " + exec_id), false);
        return EndAfterWrites();
      }
      Enqueue(Head(101,
                   {{"Content-Type", "application/vnd.docker.raw-stream"}, {"Connection", "Upgrade"}, {"Upgrade", "tcp"}},
                   "UPGRADED"));
      mode_ = Mode::kRaw;
      OpenConsole(*target);
      return Process();
    }
  }
  SendDocker(404, message("page not found: " + raw_path), keep);
  after();
}

// Opens the console on a worker (it may boot nothing but does talk to the guest); output that
// comes meanwhile is queued behind the handshake.
void ConsoleConnection::OpenConsole(const ConsoleTarget& target) {
  session_started_ = true;
  auto self = shared_from_this();
  auto holder = holder_;
  std::weak_ptr<ConsoleConnection> weak = self;
  srv_->workers.Post(key_, [self, holder, target, weak] {
    auto s = self->srv_->consoles->Open(target, std::make_shared<ConnectionSink>(weak));
    if (s) {
      holder->session = std::move(*s);
      return;
    }
    Status st = s.error();
    self->Post([self, st] {
      Logger("console")->info("console {}: {}", self->id_, st.message());
      if (self->mode_ == Mode::kWebsocket) self->Enqueue(ws::EncodeClose(ws::kClosePolicy, st.message()));
      self->EndAfterWrites();
    });
  });
}

// ---- accept loop ---------------------------------------------------------------------------------

void ConsoleServer::Impl::Accept() {
  Impl* self = this;
  acceptor->async_accept(asio::make_strand(ioc), [self](error_code ec, tcp::socket s) {
    if (ec == asio::error::operation_aborted || !self->acceptor || !self->acceptor->is_open()) return;
    if (!ec) {
      error_code ignored;
      s.set_option(tcp::no_delay(true), ignored);
      auto ex = s.get_executor();
      std::unique_ptr<Transport> t;
      if (self->tls) {
        t = std::make_unique<TlsTransport>(std::move(s), *self->tls);
      } else {
        t = std::make_unique<PlainTransport>(std::move(s));
      }
      bool refuse = ++self->connections > self->opts.max_connections;
      uint64_t id = self->next_id++;
      auto c = std::make_shared<ConsoleConnection>(self, std::move(t), ex, id);
      {
        std::lock_guard<std::mutex> lock(self->mu);
        for (auto it = self->live.begin(); it != self->live.end();) {
          it = it->second.expired() ? self->live.erase(it) : std::next(it);
        }
        self->live[id] = c;
      }
      asio::post(ex, [c, refuse] { c->Begin(refuse); });
    }
    self->Accept();
  });
}

ConsoleServer::ConsoleServer(ConsoleService* consoles, ConsoleServerOptions opts)
    : impl_(std::make_unique<Impl>(consoles, std::move(opts))) {}

ConsoleServer::~ConsoleServer() { Stop(); }

Status ConsoleServer::Start() {
  auto& im = *impl_;
  if (!im.opts.cert_file.empty() || !im.opts.key_file.empty()) {
    if (im.opts.cert_file.empty() || im.opts.key_file.empty()) {
      return Status::Invalid("console TLS needs both a certificate and a key file");
    }
    try {
      im.tls.emplace(asio::ssl::context::tls_server);
      im.tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                          asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                          asio::ssl::context::no_tlsv1_1);
      im.tls->use_certificate_chain_file(im.opts.cert_file);
      im.tls->use_private_key_file(im.opts.key_file, asio::ssl::context::pem);
    } catch (const std::exception& e) {
      return Status::Invalid(std::string("console TLS: ") + e.what());
    }
  }
  error_code ec;
  auto addr = asio::ip::make_address(im.opts.host, ec);
  if (ec) return Status::Invalid("[console] host " + im.opts.host + " is not an IP address");
  tcp::endpoint ep(addr, static_cast<unsigned short>(im.opts.port));
  im.acceptor.emplace(im.ioc);
  im.acceptor->open(ep.protocol(), ec);
  if (!ec) im.acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) im.acceptor->bind(ep, ec);
  if (!ec) im.acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    im.acceptor.reset();
    return Status::Unavailable("cannot listen for consoles on " + im.opts.host + ":" + std::to_string(im.opts.port) +
                               ": " + ec.message());
  }
  im.bound_port = im.acceptor->local_endpoint().port();
  im.Accept();
  for (int i = 0; i < std::max(1, im.opts.threads); ++i) {
    im.threads.emplace_back([&im] { im.ioc.run(); });
  }
  return Status::Ok();
}

void ConsoleServer::Stop() {
  auto& im = *impl_;
  if (im.threads.empty()) return;
  Impl* impl = impl_.get();
  asio::post(im.ioc, [impl] {
    error_code ec;
    if (impl->acceptor) impl->acceptor->close(ec);
  });
  std::vector<std::shared_ptr<ConsoleConnection>> open;
  {
    std::lock_guard<std::mutex> lock(im.mu);
    for (auto& [id, w] : im.live) {
      if (auto c = w.lock()) open.push_back(c);
    }
    im.live.clear();
  }
  for (auto& c : open) c->Post([c] { c->Abort(); });
  open.clear();
  // Connections end once their pending handlers and guest calls have run.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (im.connections.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    (void)im.workers.WaitIdle(std::chrono::milliseconds(100));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (im.connections.load() > 0) Logger("console")->warn("{} console connections did not end", im.connections.load());
  im.ioc.stop();
  for (auto& t : im.threads) {
    if (t.joinable()) t.join();
  }
  im.threads.clear();
  im.workers.Shutdown();
}

int ConsoleServer::port() const { return impl_->bound_port; }

std::string ConsoleServer::BaseUrl() const {
  std::string host = impl_->opts.host;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return std::string(impl_->tls ? "wss://" : "ws://") + host + ":" + std::to_string(impl_->bound_port);
}

size_t ConsoleServer::Connections() const { return impl_->connections.load(); }

}  // namespace zunvm
