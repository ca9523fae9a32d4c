#include "app/zunvmd_main.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <cstdio>
#include <iostream>
#include <string>

#include "common/config.h"
#include "common/logging.h"
#include "common/strings.h"
#include "db/container_store.h"
#include "db/database.h"
#include "app/daemon.h"
#include "service/image_service.h"

namespace {

const char* kUsage =
    "usage: zunvmd [--config-file PATH] [--debug] [--state-dir DIR] [--host-ip ADDR] "
    "[--port N]\n"
    "              [--driver NAME] [--virt-type kvm|qemu] [--pool-size N]\n"
    "       zunvmd import-image [--config-file PATH] [--state-dir DIR] [--repo NAME] ARCHIVE\n"
    "       zunvmd pull-image [--config-file PATH] [--state-dir DIR] IMAGE\n"
    "       zunvmd check [--json] [--config-file PATH] [--state-dir DIR] [--virt-type T] ...\n"
    "  --config-file PATH  oslo-style INI file (see etc/zun/zunvm.conf.sample); without it the\n"
    "                      embedded defaults apply\n"
    "  --debug             debug logging ([DEFAULT] debug)\n"
    "  --state-dir DIR     overrides [DEFAULT] state_dir\n"
    "  --host-ip ADDR      overrides [api] host_ip\n"
    "  --port N            overrides [api] port (0 picks a free port)\n"
    "  --driver NAME       overrides [DEFAULT] container_driver (libvirt: a VM per container)\n"
    "  --virt-type TYPE    overrides [libvirt] virt_type (kvm, the default; qemu where KVM is\n"
    "                      missing or nested KVM does not work)\n"
    "  --pool-size N       overrides [pool] size (VMs kept booted for fast creates; 0: none)\n"
    "  import-image        imports a `docker save` or OCI image-layout archive (tar or tar.gz)\n"
    "                      into the image store and exits; --repo names images that carry only\n"
    "                      a tag. Safe while zunvmd runs.\n"
    "  pull-image          pulls IMAGE (e.g. 127.0.0.1:5000/team/app:1) from its registry into\n"
    "                      the image store and exits ([image] insecure_registries apply).\n"
    "  check               says whether this host can run zunvmd as configured, check by check\n"
    "                      (--json: as JSON); exit code 0 when nothing is fatal, 1 otherwise.\n"
    "                      zunvmd runs the same checks at start and refuses a fatal one.\n";

// Every idle or slow client connection, console and open disk holds a descriptor: the soft
// limit (often 1024) is raised to the hard one so that hundreds of them cannot starve a new
// client. The host check warns when the hard limit itself is low.
void RaiseOpenFileLimit() {
  struct rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) return;
  rl.rlim_cur = rl.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) zunvm::Logger("service")->warn("cannot raise the open files limit: {}", std::strerror(errno));
}

int Fail(const std::string& msg) {
  std::fprintf(stderr, "zunvmd: %s\n", msg.c_str());
  return 2;
}

}  // namespace

// `zunvmd import-image` / `pull-image`: the same ImageService the daemon uses, on the same
// state dir.
static int ImageCommand(const zunvm::Config& cfg, const std::string& what, const std::string& repo, bool pull) {
  std::error_code ec;
  std::filesystem::create_directories(cfg.state_dir, ec);
  auto db = zunvm::Database::Open(cfg.DbPath());
  if (!db) return Fail(db.error().message());
  zunvm::ContainerStore containers(db->get());
  zunvm::ImageService images(db->get(), &containers, cfg.ImageDir());
  zunvm::Status st = images.Init();
  if (!st.ok()) return Fail(st.message());
  images.SetInsecureRegistries(cfg.insecure_registries);
  images.SetRegistryCaFile(cfg.registry_ca_file);
  st = images.SetRegistryCredentials(cfg.registry_credentials);
  if (!st.ok()) return Fail(st.message());
  std::vector<zunvm::ImageRecord> done;
  if (pull) {
    auto r = images.Pull(what);
    if (!r) return Fail("pull of " + what + " failed: " + r.error().message());
    done.push_back(*r);
  } else {
    int fd = ::open(what.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Fail("cannot open " + what + ": " + std::strerror(errno));
    auto r = images.Import(fd, repo);
    ::close(fd);
    if (!r) return Fail("import of " + what + " failed: " + r.error().message());
    done = *r;
  }
  for (const auto& img : done) {
    std::printf("%s %s:%s %s (%lld bytes)\n", pull ? "pulled" : "imported", img.repo.c_str(), img.tag.c_str(),
                img.image_id.c_str(), static_cast<long long>(img.size));
  }
  return 0;
}

namespace zunvm {

int ZunvmdMain(int argc, char** argv, const DriverFactory& drivers, const HostCheck& checks) {
  zunvm::Config cfg;
  std::string config_file, state_dir, host_ip, port, repo, archive, driver, virt_type, pool_size;
  bool debug = false, json = false;
  bool import_image = argc > 1 && std::string(argv[1]) == "import-image";
  bool pull_image = argc > 1 && std::string(argv[1]) == "pull-image";
  bool check = argc > 1 && std::string(argv[1]) == "check";
  for (int i = import_image || pull_image || check ? 2 : 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= argc) return false;
      out = argv[++i];
      return true;
    };
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a == "--debug") {
      debug = true;
    } else if (a == "--config-file") {
      if (!value(config_file)) return Fail("--config-file needs a path");
    } else if (a == "--state-dir") {
      if (!value(state_dir)) return Fail("--state-dir needs a directory");
    } else if (a == "--host-ip") {
      if (!value(host_ip)) return Fail("--host-ip needs an address");
    } else if (a == "--port") {
      if (!value(port)) return Fail("--port needs a number");
    } else if (a == "--driver") {
      if (!value(driver)) return Fail("--driver needs a name");
    } else if (a == "--virt-type") {
      if (!value(virt_type)) return Fail("--virt-type needs kvm or qemu");
    } else if (a == "--pool-size") {
      if (!value(pool_size)) return Fail("--pool-size needs a number");
    } else if (check && a == "--json") {
      json = true;
    } else if (import_image && a == "--repo") {
      if (!value(repo)) return Fail("--repo needs a name");
    } else if ((import_image || pull_image) && archive.empty() && !a.empty() && a[0] != '-') {
      archive = a;
    } else {
      std::fputs(kUsage, stderr);
      return Fail("unknown argument " + a);
    }
  }
  if (!config_file.empty()) {
    zunvm::Status st = zunvm::LoadConfigFile(config_file, cfg);
    if (!st.ok()) return Fail(st.message());
  }
  if (debug) cfg.debug = true;
  if (!state_dir.empty()) cfg.state_dir = state_dir;
  if (!host_ip.empty()) cfg.host_ip = host_ip;
  if (!driver.empty()) cfg.container_driver = driver;
  if (!virt_type.empty()) cfg.virt_type = virt_type;
  if (!pool_size.empty()) {
    auto n = zunvm::ParseInt(pool_size);
    if (!n || *n < 0 || *n > 256) return Fail("--pool-size: not a number between 0 and 256: " + pool_size);
    cfg.pool_size = static_cast<int>(*n);
  }
  if (!port.empty()) {
    try {
      size_t used = 0;
      cfg.port = std::stoi(port, &used);
      if (used != port.size()) throw std::invalid_argument(port);
    } catch (const std::exception&) {
      return Fail("--port: not a number: " + port);
    }
  }
  zunvm::Status st = zunvm::ValidateConfig(cfg);
  if (!st.ok()) return Fail(st.message());
  zunvm::InitLogging(cfg.debug);
  if (!cfg.log_file.empty()) {
    st = zunvm::SetLogFile(cfg.log_file, static_cast<size_t>(cfg.log_max_bytes),
                           static_cast<size_t>(cfg.log_backup_count));
    if (!st.ok()) return Fail(st.message());
  }
  if (import_image || pull_image) {
    if (archive.empty()) return Fail(pull_image ? "pull-image needs an image name" : "import-image needs an archive");
    return ImageCommand(cfg, archive, repo, pull_image);
  }

  std::vector<CheckItem> found = checks(cfg);
  if (check) {
    std::fputs(json ? (CheckJson(found).dump(2) + "\n").c_str() : CheckTable(found).c_str(), stdout);
    return AnyFatal(found) ? 1 : 0;
  }
  for (const CheckItem& item : found) {
    if (item.level == CheckLevel::kWarn) Logger("service")->warn("host check {}: {} ({})", item.name, item.found, item.fix);
    if (item.level != CheckLevel::kFatal) continue;
    return Fail("this host cannot run zunvmd as configured: " + item.name + ": " + item.found + "; fix: " + item.fix +
                " (zunvmd check lists every check)");
  }

  RaiseOpenFileLimit();

  // Signals are taken synchronously by this thread; block them before any thread starts.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  zunvm::Daemon daemon(cfg, drivers);
  st = daemon.Start();
  if (!st.ok()) return Fail(st.message());
  if (!daemon.ConsoleUrl().empty()) std::printf("zunvmd consoles on %s\n", daemon.ConsoleUrl().c_str());
  std::printf("zunvmd listening on %s://%s:%d\n", cfg.ssl_cert_file.empty() ? "http" : "https",
              cfg.host_ip.c_str(), daemon.Port());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  zunvm::Logger("service")->info("signal {}: shutting down", sig);
  daemon.Stop();
  return 0;
}

}  // namespace zunvm
