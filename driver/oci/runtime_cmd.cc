#include "driver/oci/runtime_cmd.h"

#include <signal.h>
#include <sys/stat.h>

#include <fstream>

#include "common/strings.h"

namespace zunvm::oci::detail {

namespace {

bool Absolute(const std::string& path) { return !path.empty() && path[0] == '/'; }

}  // namespace

const std::vector<std::string>& DroppedEnv() {
  static const std::vector<std::string> names = {"NOTIFY_SOCKET", "LISTEN_PID",     "LISTEN_FDS",     "LISTEN_FDNAMES",
                                                 "_OCI_SYNCPIPE", "_OCI_STARTPIPE", "_OCI_ATTACHPIPE"};
  return names;
}

std::string Basename(const std::string& path) { return path.substr(path.rfind('/') + 1); }

Status Check(const OciRuntime& rt, const std::string& id) {
  if (!Absolute(rt.binary) || !Absolute(rt.monitor)) {
    return Status::Invalid("the OCI runtime and its monitor must be absolute paths");
  }
  if (!Absolute(rt.root)) return Status::Invalid("the OCI runtime's root must be an absolute path");
  if (!ValidContainerId(id)) return Status::Invalid("invalid container id for the OCI runtime: " + id);
  return Status::Ok();
}

Status Check(const OciRuntime& rt, const std::string& id, const MonitorPaths& p) {
  ZUNVM_RETURN_IF_ERROR(Check(rt, id));
  if (!Absolute(p.dir)) return Status::Invalid("the container's directory must be an absolute path");
  return Status::Ok();
}

std::optional<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return std::nullopt;
  std::string s(4096, '\0');
  f.read(s.data(), static_cast<std::streamsize>(s.size()));
  s.resize(static_cast<size_t>(f.gcount()));
  return s;
}

std::optional<std::pair<char, int>> ProcStat(int pid) {
  auto fields = ProcStatFields(pid);
  if (!fields || fields->size() < 2 || (*fields)[0].size() != 1) return std::nullopt;
  auto ppid = ParseInt((*fields)[1]);
  if (!ppid) return std::nullopt;
  return std::pair{(*fields)[0][0], static_cast<int>(*ppid)};
}

bool Exited(char state) { return state == 'Z' || state == 'X' || state == 'x'; }

std::string RuntimeMessage(const std::string& text) {
  std::string msg;
  for (size_t at = text.find("msg=\""); at != std::string::npos; at = text.find("msg=\"", at + 1)) {
    msg.clear();
    for (size_t i = at + 5; i < text.size() && text[i] != '"'; ++i) {
      if (text[i] == '\\' && i + 1 < text.size()) ++i;
      msg += text[i];
    }
  }
  if (msg.empty()) msg = Trim(text);
  if (msg.size() > 2000) msg.resize(2000);
  if (!IsValidUtf8(msg)) {  // it goes into JSON error bodies
    for (char& c : msg) {
      if (static_cast<unsigned char>(c) >= 0x80) c = '?';
    }
  }
  return msg;
}

bool KnownToRuntime(const OciRuntime& rt, const std::string& id) {
  struct stat st {};
  return ::stat((rt.root + "/" + id).c_str(), &st) == 0;
}

Result<Child> RunRuntime(const OciRuntime& rt, const std::vector<std::string>& args) {
  ChildSpec s;
  s.argv = {rt.binary, "--root", rt.root};
  s.argv.insert(s.argv.end(), args.begin(), args.end());
  s.env = EnvironmentWith(DroppedEnv(), {});
  auto c = Child::Start(s);
  if (!c) return Err(c.error());
  if (!c->Pump(std::chrono::steady_clock::now() + rt.timeout)) {
    c->Signal(SIGKILL);
    c->Pump(std::chrono::steady_clock::now() + kKillGrace);
    return Err(Status(Code::kDeadlineExceeded, Basename(rt.binary) + " " + args.front() + " did not finish within " +
                                                   std::to_string(rt.timeout.count()) + " s"));
  }
  return c;
}

Status Failed(const OciRuntime& rt, const std::string& id, const std::string& what, const Child& c) {
  if (!KnownToRuntime(rt, id)) return Status::NotFound("container " + id + " is not known to " + Basename(rt.binary));
  return Status::Internal(Basename(rt.binary) + " " + what + " " + id + " failed (" +
                          std::to_string(c.exit_code().value_or(-1)) +
                          "): " + RuntimeMessage(c.err().empty() ? c.out() : c.err()));
}

}  // namespace zunvm::oci::detail
