// zunvm-agent: the guest agent. As PID 1 in the VM (the initramfs's /init) it sets the guest
// up and serves the host over the virtio-serial port org.zunvm.agent.0, powering the VM off on
// `shutdown` or when it cannot serve. With --stdio it serves on file descriptor 0 (a socket),
// which is how host-side tests run the real agent without a VM.
#include <fcntl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>

#include <cstring>
#include <string>

#include "agent/guest/init.h"
#include "agent/guest/server.h"
#include "agent/protocol/message.h"
#include "common/base64.h"

namespace {

// GRND_INSECURE: never waits for the entropy pool. Reading /dev/urandom (or getrandom
// without it) blocks early in a VM whose CPU has no RDRAND until the pool is initialised,
// which cost ~1 s of boot here. A boot id only needs to differ between boots.
std::string BootId() {
  char buf[16] = {0};
  if (::getrandom(buf, sizeof buf, GRND_INSECURE) != static_cast<ssize_t>(sizeof buf)) {
    struct timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    std::memcpy(buf, &ts, sizeof ts);
  }
  return zunvm::Base64Encode(std::string(buf, sizeof buf));
}

int ListenUnix(const char* path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (std::strlen(path) >= sizeof addr.sun_path) return -1;
  std::strcpy(addr.sun_path, path);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ::unlink(path);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd, 1) != 0) {
    std::perror("listen");
    return -1;
  }
  return fd;
}

int RunAsInit() {
  using namespace zunvm::agent;
  int64_t started_ms = UptimeMs();
  zunvm::Status st = LeaveInitramfsRoot();
  if (st.ok()) st = MountPseudoFilesystems();
  if (st.ok()) st = LoadModules("/lib/modules");
  if (!st.ok()) {
    ConsoleLog(st.message());
    PowerOff();
  }
  auto fd = OpenPort("org.zunvm.agent.0", 10000);
  if (!fd) {
    ConsoleLog(fd.error().message());
    PowerOff();
  }
  ConsoleLog("ready");
  ServerOptions opts;
  opts.pid1 = true;
  opts.exit_on_eof = false;
  opts.cgroup_root = "/sys/fs/cgroup/zunvm";
  opts.log = ConsoleLog;
  opts.boot_id = BootId();
  opts.started_uptime_ms = started_ms;
  AgentServer server(*fd, opts);
  server.Run();
  ConsoleLog("powering off");
  PowerOff();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 2 && std::strcmp(argv[1], "--listen") == 0) {
    // Host-side tests (reconnection, the libvirt driver with a fake hypervisor): hosts come and
    // go on a unix socket, like on the virtio port. `--disks DIR` finds disks under
    // DIR/block/vd*/serial and DIR/dev/vd* instead of the guest's /sys/block and /dev.
    int l = ListenUnix(argv[2]);
    if (l < 0) return 1;
    zunvm::agent::ServerOptions opts;
    opts.boot_id = BootId();
    opts.exit_on_eof = false;
    opts.log = zunvm::agent::ConsoleLog;
    if (argc > 4 && std::strcmp(argv[3], "--disks") == 0) {
      opts.disks = {std::string(argv[4]) + "/block", std::string(argv[4]) + "/dev"};
    }
    zunvm::agent::AgentServer server(-1, opts, l);
    return server.Run();
  }
  if (argc > 1 && std::strcmp(argv[1], "--stdio") == 0) {
    zunvm::agent::ServerOptions opts;
    opts.boot_id = BootId();
    zunvm::agent::AgentServer server(0, opts);
    return server.Run();
  }
  if (argc > 1 && std::strcmp(argv[1], "--version") == 0) {
    std::printf("%s\n", zunvm::agent::kProtocolMarker);
    return 0;
  }
  if (::getpid() == 1) return RunAsInit();
  std::fprintf(stderr,
               "usage: zunvm-agent --stdio | --listen SOCKET [--disks DIR] | --version   (or run as PID 1 in the "
               "guest)\n");
  return 2;
}
