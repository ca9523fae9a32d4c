#include "app/daemon.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/clock.h"
#include "common/logging.h"
#include "common/proc_stats.h"
#include "db/action_store.h"
#include "db/capsule_store.h"
#include "db/container_store.h"
#include "db/database.h"
#include "db/meta_store.h"
#include "db/network_store.h"
#include "app/driver_factory.h"
#include "rest/api.h"
#include "rest/console_server.h"
#include "service/console_service.h"
#include "rest/http.h"
#include "service/capsule_service.h"
#include "service/container_service.h"
#include "service/host_service.h"
#include "service/image_service.h"
#include "service/keystone_token_validator.h"
#include "service/network_service.h"
#include "service/volume_service.h"
#include "service/port_bindings.h"
#include "network/port_publisher.h"
#include "service/log_store.h"
#include "common/serial_executor.h"

namespace zunvm {

Daemon::Daemon(Config cfg, DriverFactory drivers) : cfg_(std::move(cfg)), drivers_(std::move(drivers)) {}

Daemon::~Daemon() { Stop(); }

void Daemon::MarkUnavailableRuntimes() {
  std::vector<std::string> offered = driver_->Runtimes();
  for (const std::string& name : cfg_.runtimes) {
    RuntimeProfile* p = cfg_.FindRuntime(name);
    if (p == nullptr || std::find(offered.begin(), offered.end(), name) != offered.end()) continue;
    p->unavailable = driver_->RuntimeUnavailable(name);
    if (p->unavailable.empty()) p->unavailable = "the " + driver_->Name() + " driver does not run it";
  }
}

Status Daemon::Start() {
  std::error_code ec;
  std::filesystem::create_directories(cfg_.state_dir + "/logs", ec);
  if (ec) return Status::Internal("cannot create state dir " + cfg_.state_dir + ": " + ec.message());
  // Traversable (qemu, as libvirt's unprivileged user, opens disks and sockets below it) but
  // not listable; what is private is 0600/0700 itself.
  ::chmod(cfg_.state_dir.c_str(), 0711);
  ::chmod((cfg_.state_dir + "/logs").c_str(), 0700);

  auto db = Database::Open(cfg_.DbPath());
  if (!db) return db.error();
  for (const char* suffix : {"", "-wal", "-shm"}) ::chmod((cfg_.DbPath() + suffix).c_str(), 0600);
  db_ = std::move(*db);
  process_metrics_ = metrics::Global().AddCollector([db_path = cfg_.DbPath()](metrics::GaugeWriter& w) {
    const pid_t self = ::getpid();
    if (auto mem = ReadProcMemory(self)) {
      w.Gauge("zunvm_process_resident_memory_bytes", "zunvmd's resident memory", {});
      w.Sample({}, static_cast<double>(mem->rss));
    }
    if (auto n = ReadProcThreads(self)) {
      w.Gauge("zunvm_process_threads", "zunvmd's threads", {});
      w.Sample({}, *n);
    }
    if (auto n = CountOpenFds(self)) {
      w.Gauge("zunvm_process_open_fds", "zunvmd's open file descriptors", {});
      w.Sample({}, *n);
    }
    w.Gauge("zunvm_database_size_bytes", "The SQLite database's file and its write-ahead log", {"file"});
    for (const char* suffix : {"", "-wal"}) {
      struct stat st{};
      if (::stat((db_path + suffix).c_str(), &st) == 0) w.Sample({*suffix ? "wal" : "main"}, static_cast<double>(st.st_size));
    }
  });
  store_ = std::make_unique<ContainerStore>(db_.get());
  actions_ = std::make_unique<ActionStore>(db_.get());
  meta_ = std::make_unique<MetaStore>(db_.get());
  logs_ = std::make_unique<LogStore>(cfg_.state_dir + "/logs", cfg_.container_log_max_bytes);
  auto driver = drivers_(cfg_);
  if (!driver) return driver.error();
  driver_ = std::move(*driver);
  MarkUnavailableRuntimes();
  executor_ = std::make_unique<SerialExecutor>(cfg_.workers);
  images_ = std::make_unique<ImageService>(db_.get(), store_.get(), cfg_.ImageDir());
  if (Status ist = images_->Init(); !ist.ok()) return ist;
  images_->SetInsecureRegistries(cfg_.insecure_registries);
  images_->SetRegistryCaFile(cfg_.registry_ca_file);
  if (Status cst = images_->SetRegistryCredentials(cfg_.registry_credentials); !cst.ok()) return cst;
  if (Status mst = images_->SetRegistryMirrors(cfg_.registry_mirrors); !mst.ok()) return mst;
  network_store_ = std::make_unique<NetworkStore>(db_.get());
  networks_ = std::make_unique<NetworkService>(cfg_, network_store_.get());
  if (Status nst = networks_->Init(); !nst.ok()) return nst;
  publisher_ = std::make_unique<PortPublisher>();
  ports_ = std::make_unique<PortBindings>(cfg_, publisher_.get(), networks_.get());
  clock_ = std::make_unique<SystemClock>();
  volume_store_ = std::make_unique<VolumeStore>(db_.get());
  volumes_ = std::make_unique<VolumeService>(cfg_, volume_store_.get(), cfg_.state_dir + "/volumes");
  containers_ = std::make_unique<ContainerService>(ContainerServiceDeps{
      .cfg = &cfg_, .store = store_.get(), .actions = actions_.get(), .logs = logs_.get(),
      .driver = driver_.get(), .executor = executor_.get(), .clock = clock_.get(), .images = images_.get(),
      .networks = networks_.get(), .ports = ports_.get(), .volumes = volumes_.get()});
  // The driver's Init adopts running sandboxes, whose events then reach the service.
  driver_->SetEvents(containers_.get());
  if (Status dst = driver_->Init(); !dst.ok()) return dst;
  hosts_ = std::make_unique<HostService>(cfg_, meta_.get(), containers_.get(), driver_.get());
  capsule_store_ = std::make_unique<CapsuleStore>(db_.get());
  capsules_ = std::make_unique<CapsuleService>(CapsuleServiceDeps{
      .cfg = &cfg_, .store = capsule_store_.get(), .containers = containers_.get(), .driver = driver_.get(),
      .executor = executor_.get(), .clock = clock_.get(), .logs = logs_.get(), .images = images_.get(),
      .volumes = volumes_.get()});
  Status st = containers_->Recover(capsules_->Uuids());
  if (!st.ok()) return st;
  capsules_->Recover();

  if (cfg_.auth_strategy == "keystone") tokens_ = std::make_unique<KeystoneTokenValidator>(cfg_);
  if (cfg_.console_enabled) {
    consoles_ = std::make_unique<ConsoleService>(containers_.get(), driver_.get(),
                                                 ConsoleOptions{std::chrono::seconds(cfg_.console_ticket_ttl)});
    ConsoleServerOptions copts;
    copts.host = cfg_.ConsoleHost();
    copts.port = cfg_.ConsolePort();
    copts.cert_file = cfg_.ssl_cert_file;
    copts.key_file = cfg_.ssl_key_file;
    copts.max_connections = static_cast<size_t>(cfg_.console_max_connections);
    console_server_ = std::make_unique<ConsoleServer>(consoles_.get(), copts);
    st = console_server_->Start();
    if (!st.ok()) return st;
    console_url_ = cfg_.console_base_url.empty() ? console_server_->BaseUrl() : cfg_.console_base_url;
    while (!console_url_.empty() && console_url_.back() == '/') console_url_.pop_back();
  }
  api_ = std::make_unique<Api>(ApiDeps{&cfg_, containers_.get(), hosts_.get(), images_.get(), tokens_.get(),
                                       consoles_.get(), &console_url_, volumes_.get(), capsules_.get()});
  server_ = MakeCpprestServer();
  HttpServerOptions opts;
  opts.host = cfg_.host_ip;
  opts.port = cfg_.port;
  opts.io_threads = cfg_.api_threads;
  opts.workers = cfg_.api_workers;
  opts.max_body_bytes = cfg_.max_body_bytes;
  opts.cert_file = cfg_.ssl_cert_file;
  opts.key_file = cfg_.ssl_key_file;
  st = server_->Start(opts, [this](const HttpRequest& r) { return api_->Handle(r); });
  if (!st.ok()) return st;
  if (cfg_.sync_container_state_interval > 0) {
    sync_ = std::thread([this] {
      Every(std::chrono::seconds(cfg_.sync_container_state_interval), [this] { containers_->SyncAll(); });
    });
  }
  health_ = std::thread([this] { Every(std::chrono::seconds(1), [this] { containers_->CheckHealth(); }); });
  Logger("service")->info("zunvmd serving on {}://{}:{} (driver {}, state {})",
                          cfg_.ssl_cert_file.empty() ? "http" : "https", cfg_.host_ip,
                          server_->Port(), driver_->Name(), cfg_.state_dir);
  return Status::Ok();
}

int Daemon::Port() const { return server_ ? server_->Port() : 0; }

void Daemon::Every(std::chrono::seconds interval, const std::function<void()>& fn) {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, interval);
    if (stopping_) break;
    lock.unlock();
    fn();
    lock.lock();
  }
}

bool Daemon::WaitIdle(std::chrono::milliseconds timeout) {
  return executor_ ? executor_->WaitIdle(timeout) : true;
}

void Daemon::Stop() {
  process_metrics_.Reset();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (sync_.joinable()) sync_.join();
  if (health_.joinable()) health_.join();
  if (server_) server_->Stop();
  if (console_server_) console_server_->Stop();
  if (executor_) executor_->Shutdown();
  // The driver goes before the service it sends events to.
  driver_.reset();
}

}  // namespace zunvm
