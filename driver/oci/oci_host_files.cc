// OciDriver: where a container's things are on the host, and the files zunvmd writes for it.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "common/root_files.h"
#include "driver/oci/oci_driver_internal.h"
#include "driver/oci/rootfs.h"

namespace zunvm::oci {

std::string NetnsPath(const std::string& uuid) { return "/run/netns/" + ContainerNetnsName(uuid); }

std::string CgroupsPath(const std::string& uuid) { return "/zunvm/" + uuid; }

std::string VolumeDir(const std::string& dir, const SandboxVolume& v) { return dir + "/volumes/" + v.serial; }

Status MountVolumes(const std::string& dir, const SandboxSpec& spec) {
  for (const auto& v : spec.volumes) {
    Status st = MountVolume(dir, v.serial, v.path, v.block, v.fstype, v.read_only);
    if (!st.ok()) return Status(st.code(), "volume at " + v.destination + ": " + st.message(), st.kind());
  }
  return Status::Ok();
}

Result<nlohmann::json> ExecProcess(const std::string& dir, const std::vector<std::string>& argv, bool tty) {
  if (argv.empty()) return Err(Status::Invalid("the command is empty"));
  std::ifstream f(dir + "/config.json");
  nlohmann::json spec = nlohmann::json::parse(f, nullptr, /*allow_exceptions=*/false);
  if (!spec.is_object() || !spec.contains("process") || !spec["process"].is_object()) {
    return Err(Status::Internal("unreadable " + dir + "/config.json"));
  }
  nlohmann::json process = spec["process"];
  process["args"] = argv;
  process["terminal"] = tty;
  process.erase("consoleSize");
  if (tty) {
    auto& env = process["env"];
    bool term = false;
    for (const auto& e : env) term = term || (e.is_string() && e.get<std::string>().rfind("TERM=", 0) == 0);
    if (!term) env.push_back("TERM=xterm");  // as Docker gives a tty
  }
  return process;
}

Result<fsat::UniqueFd> OpenRoot(const std::string& dir) {
  const std::string path = dir + "/rootfs";
  fsat::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) return Err(Status::Internal("cannot open " + path + ": " + std::strerror(errno)));
  return fd;
}

uint64_t NofileLimit() {
  constexpr uint64_t kDocker = 1048576;
  rlimit own{};
  if (::getrlimit(RLIMIT_NOFILE, &own) != 0 || own.rlim_max >= kDocker) return kDocker;
  // Raising the hard limit needs CAP_SYS_RESOURCE; try it on ourselves and put it back.
  rlimit up{kDocker, kDocker};
  if (::setrlimit(RLIMIT_NOFILE, &up) == 0) {
    (void)::setrlimit(RLIMIT_NOFILE, &own);
    return kDocker;
  }
  return own.rlim_max;
}

Status WriteFiles(const std::string& dir, const SandboxSpec& spec) {
  const std::string etc = dir + "/etc";
  if (::mkdir(etc.c_str(), 0755) != 0 && errno != EEXIST) {
    return Status::Internal("cannot make " + etc + ": " + std::strerror(errno));
  }
  std::string hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
  hosts += (spec.nics.empty() ? std::string("127.0.1.1") : spec.nics[0].address) + "\t" + spec.hostname + "\n";
  ZUNVM_RETURN_IF_ERROR(WriteFileDurably(etc + "/hostname", spec.hostname + "\n", 0644));
  ZUNVM_RETURN_IF_ERROR(WriteFileDurably(etc + "/hosts", hosts, 0644));
  if (!spec.resolv_conf.empty()) ZUNVM_RETURN_IF_ERROR(WriteFileDurably(etc + "/resolv.conf", spec.resolv_conf, 0644));
  if (spec.files.empty()) return Status::Ok();
  auto root = OpenRoot(dir);
  if (!root) return root.error();
  for (const auto& f : spec.files) {
    Status st = rootfiles::WriteFileInRoot(root->get(), f.destination, f.content);
    if (!st.ok()) return Status::Invalid("file " + f.destination + ": " + st.message());
  }
  return Status::Ok();
}

}  // namespace zunvm::oci
