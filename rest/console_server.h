// ConsoleServer: the console listener (docs/console.md). One TCP port ([console] port), HTTP
// parsed by Boost.Beast, optionally TLS (the API's certificate), serving:
//   GET /v1/console/containers/<uuid>/attach?ticket=T            websocket: the main process
//   GET /v1/console/containers/<uuid>/exec/<exec_id>?ticket=T    websocket: an interactive exec
//   GET /_ping, GET [/v<api>]/version                            Docker's API, for Zun's proxy
//   POST /v<api>/exec/<exec_id>/start  (Upgrade: tcp)            Docker's hijacked exec stream
//   POST /v<api>/exec/<exec_id>/resize?h=&w=
// Websocket subprotocols: `binary` (raw bytes both ways; output cut on UTF-8 boundaries, as
// python-zunclient decodes each frame on its own), `base64` (text frames of base64), or none
// offered (Zun's proxy: binary frames out, text or binary frames of any bytes in).
//
// Flow control: a console reads no further client input while its last chunk is being
// written to the guest; output waiting for a client is bounded by `max_queued` (past it the
// client is too slow and its console is closed; the container's log still gets every byte).
//
// Threads: `threads` I/O threads run the sockets (each connection on its own strand); calls
// into the guest (open, stdin, resize, close) run on `workers` threads, in order per
// connection. Thread safety: Start/Stop from one thread; the rest is internal.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"

namespace zunvm {

class ConsoleService;

struct ConsoleServerOptions {
  std::string host = "127.0.0.1";
  int port = 9518;                 // 0: any free port
  std::string cert_file, key_file; // both set: TLS (wss://; Docker's API over https)
  int threads = 2;
  int workers = 4;
  size_t max_connections = 256;
  size_t max_message = size_t{1} << 20;  // one websocket message from a client
  size_t max_queued = size_t{4} << 20;   // output waiting for one client
};

class ConsoleServer {
 public:
  ConsoleServer(ConsoleService* consoles, ConsoleServerOptions opts);
  ~ConsoleServer();
  // Binds and starts serving. Errors: Unavailable (cannot bind), InvalidArgument (TLS files).
  Status Start();
  void Stop();
  int port() const;
  // ws://host:port, or wss:// with TLS.
  std::string BaseUrl() const;
  // Connections open now (for tests).
  size_t Connections() const;

 public:
  struct Impl;  // public to the listener's connections (console_server.cc)
  std::unique_ptr<Impl> impl_;
};

}  // namespace zunvm
