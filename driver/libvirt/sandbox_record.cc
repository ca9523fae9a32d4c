#include "driver/libvirt/sandbox_record.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace zunvm::libvirt {

using nlohmann::json;

const char* RecordStateName(RecordState s) {
  switch (s) {
    case RecordState::kCreating: return "creating";
    case RecordState::kCreated: return "created";
    case RecordState::kRunning: return "running";
    case RecordState::kPaused: return "paused";
    case RecordState::kStopped: return "stopped";
  }
  return "creating";
}

json SpecToJson(const SandboxSpec& s) {
  return json{{"uuid", s.uuid}, {"name", s.name}, {"image", s.image}, {"argv", s.argv},
              {"env", s.env}, {"workdir", s.workdir}, {"hostname", s.hostname}, {"user", s.user},
              {"cpu", s.cpu}, {"memory_mib", s.memory_mib}, {"disk_gib", s.disk_gib},
              {"tty", s.tty}, {"interactive", s.interactive}, {"runtime", s.runtime},
              {"labels", s.labels}, {"image_disk", s.image_disk}, {"upper_disk", s.upper_disk}};
}

Result<SandboxSpec> SpecFromJson(const json& j) {
  try {
    SandboxSpec s;
    s.uuid = j.at("uuid").get<std::string>();
    s.name = j.value("name", "");
    s.image = j.value("image", "");
    s.argv = j.value("argv", std::vector<std::string>{});
    s.env = j.value("env", std::map<std::string, std::string>{});
    s.workdir = j.value("workdir", "");
    s.hostname = j.value("hostname", "");
    s.user = j.value("user", "");
    s.cpu = j.value("cpu", 1.0);
    s.memory_mib = j.value("memory_mib", int64_t{512});
    s.disk_gib = j.value("disk_gib", int64_t{0});
    s.tty = j.value("tty", false);
    s.interactive = j.value("interactive", false);
    s.runtime = j.value("runtime", "");
    s.labels = j.value("labels", std::map<std::string, std::string>{});
    s.image_disk = j.value("image_disk", "");
    s.upper_disk = j.value("upper_disk", "");
    return s;
  } catch (const json::exception& e) {
    return Err(Status::Internal(std::string("bad sandbox spec: ") + e.what()));
  }
}

Status SaveRecord(const std::string& path, const SandboxRecord& r) {
  json j{{"spec", SpecToJson(r.spec)}, {"state", RecordStateName(r.state)}, {"boot", r.boot}};
  if (r.exit_code) j["exit_code"] = *r.exit_code;
  std::string data = j.dump();
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Internal("cannot write " + tmp + ": " + std::strerror(errno));
  bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return Status::Internal("cannot write " + path + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

Result<SandboxRecord> LoadRecord(const std::string& path) {
  std::ifstream f(path);
  if (!f) return Err(Status::NotFound("no sandbox record at " + path));
  json j = json::parse(f, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("spec")) return Err(Status::Internal("unreadable sandbox record " + path));
  auto spec = SpecFromJson(j["spec"]);
  if (!spec) return Err(spec.error());
  SandboxRecord r;
  r.spec = *spec;
  std::string st = j.value("state", "creating");
  for (RecordState s : {RecordState::kCreating, RecordState::kCreated, RecordState::kRunning,
                        RecordState::kPaused, RecordState::kStopped}) {
    if (st == RecordStateName(s)) r.state = s;
  }
  if (j.contains("exit_code") && j["exit_code"].is_number_integer()) r.exit_code = j["exit_code"].get<int>();
  if (j.contains("boot") && j["boot"].is_object()) r.boot = j["boot"];
  return r;
}

}  // namespace zunvm::libvirt
