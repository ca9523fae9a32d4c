// Daemon: wires config, SQLite, the driver, the services, the API and the HTTP server, and
// owns them. Used by ZunvmdMain() and by tests that want a real server in-process (they pass
// a factory that also makes the fake driver).
//
// Lifetime: Start() once; Stop() (or the destructor) shuts the server, the sync loop and the
// workers down in reverse order. Not thread-safe itself; its parts are.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "app/driver_factory.h"
#include "common/config.h"
#include "common/metrics.h"
#include "common/status.h"

namespace zunvm {

class Database;
class ContainerStore;
class ActionStore;
class MetaStore;
class LogStore;
class SandboxDriver;
class SerialExecutor;
class Clock;
class ContainerService;
class HostService;
class ConsoleService;
class ConsoleServer;
class ImageService;
class NetworkStore;
class NetworkService;
class VolumeStore;
class VolumeService;
class CapsuleStore;
class CapsuleService;
class PortPublisher;
class PortBindings;
class TokenValidator;
class Api;
class HttpServer;

class Daemon {
 public:
  explicit Daemon(Config cfg, DriverFactory drivers = MakeDriver);
  ~Daemon();

  // Creates the state dir, opens the database, recovers containers, starts serving.
  Status Start();
  int Port() const;
  // The console listener's base URL (ws://host:port), empty when consoles are off.
  const std::string& ConsoleUrl() const { return console_url_; }
  void Stop();
  // For tests: waits until queued container work is done.
  bool WaitIdle(std::chrono::milliseconds timeout);
  ContainerService* containers() { return containers_.get(); }
  Api* api() { return api_.get(); }
  SandboxDriver* driver() { return driver_.get(); }  // for tests
  ImageService* images() { return images_.get(); }
  ConsoleService* consoles() { return consoles_.get(); }  // for tests

 private:
  // Each configured runtime the driver cannot run gets its reason in cfg_ (a create naming it
  // is then a 400 that says why). Before the API starts.
  void MarkUnavailableRuntimes();
  // Calls fn every `interval` until Stop().
  void Every(std::chrono::seconds interval, const std::function<void()>& fn);

  Config cfg_;
  DriverFactory drivers_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<ContainerStore> store_;
  std::unique_ptr<ActionStore> actions_;
  std::unique_ptr<MetaStore> meta_;
  std::unique_ptr<LogStore> logs_;
  std::unique_ptr<SandboxDriver> driver_;
  std::unique_ptr<SerialExecutor> executor_;
  std::unique_ptr<Clock> clock_;
  std::unique_ptr<ContainerService> containers_;
  std::unique_ptr<HostService> hosts_;
  std::unique_ptr<ImageService> images_;
  std::unique_ptr<NetworkStore> network_store_;
  std::unique_ptr<NetworkService> networks_;
  std::unique_ptr<VolumeStore> volume_store_;
  std::unique_ptr<VolumeService> volumes_;
  std::unique_ptr<CapsuleStore> capsule_store_;
  std::unique_ptr<CapsuleService> capsules_;
  std::unique_ptr<PortPublisher> publisher_;
  std::unique_ptr<PortBindings> ports_;
  std::unique_ptr<TokenValidator> tokens_;  // auth_strategy = keystone only
  std::unique_ptr<ConsoleService> consoles_;  // [console] enabled
  std::unique_ptr<ConsoleServer> console_server_;
  std::string console_url_;                   // what the API hands out
  std::unique_ptr<Api> api_;
  std::unique_ptr<HttpServer> server_;
  std::thread sync_;
  std::thread health_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  // zunvmd's own RSS, threads, fds and database size at scrape time; removed by Stop.
  metrics::CollectorHandle process_metrics_;
};

}  // namespace zunvm
