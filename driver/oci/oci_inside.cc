// OciDriver: what happens inside a container: exec, processes, resource use, files, limits,
// NICs.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/proc_stats.h"
#include "common/root_files.h"
#include "common/strings.h"
#include "common/subprocess.h"
#include "common/timefmt.h"
#include "driver/oci/oci_driver_internal.h"
#include "driver/oci/runtime_cmd.h"
#include "driver/sandbox_usage.h"

namespace zunvm::oci {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string ReadFirstLine(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  return line;
}

// The pids a cgroup.procs file lists (none when it cannot be read).
std::vector<pid_t> ReadPids(const std::string& file) {
  std::vector<pid_t> out;
  std::ifstream f(file);
  long pid = 0;
  while (f >> pid) {
    if (pid > 0) out.push_back(static_cast<pid_t>(pid));
  }
  return out;
}

}  // namespace

CgroupSample SampleCgroup(const std::string& path) {
  CgroupSample s;
  for (const char* base : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
    const std::string dir = std::string(base) + path;
    std::ifstream stat(dir + "/cpu.stat");
    if (!stat) continue;
    std::string key;
    uint64_t v;
    while (stat >> key >> v) {
      if (key == "usage_usec") s.cpu_ns = v * 1000;
    }
    if (auto m = ParseInt(ReadFirstLine(dir + "/memory.current"))) s.mem_bytes = static_cast<uint64_t>(*m);
    if (s.pids.empty()) s.pids = ReadPids(dir + "/cgroup.procs");
    if (s.cpu_ns && s.mem_bytes) return s;
  }
  // v1 hierarchies, for what v2 did not have (a hybrid host keeps memory in v1).
  if (!s.cpu_ns) {
    if (auto c = ParseInt(ReadFirstLine("/sys/fs/cgroup/cpuacct" + path + "/cpuacct.usage"))) s.cpu_ns = static_cast<uint64_t>(*c);
  }
  if (!s.mem_bytes) {
    if (auto m = ParseInt(ReadFirstLine("/sys/fs/cgroup/memory" + path + "/memory.usage_in_bytes"))) {
      s.mem_bytes = static_cast<uint64_t>(*m);
    }
  }
  if (s.pids.empty()) s.pids = ReadPids("/sys/fs/cgroup/memory" + path + "/cgroup.procs");
  return s;
}

namespace {

// Bytes through the NICs of the network namespace `pid` is in (loopback left out).
void NetBytes(int pid, SandboxStats* s) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/net/dev");
  std::string line;
  for (int i = 0; std::getline(f, line); ++i) {
    if (i < 2) continue;
    auto colon = line.find(':');
    if (colon == std::string::npos || Trim(line.substr(0, colon)) == "lo") continue;
    std::istringstream in(line.substr(colon + 1));
    uint64_t v[9] = {};
    for (auto& x : v) in >> x;
    s->net_rx += v[0];
    s->net_tx += v[8];
  }
}

}  // namespace

Result<ExecResult> OciDriver::Exec(const std::string& uuid, const std::vector<std::string>& argv,
                                   std::chrono::seconds timeout) {
  auto t = Running(uuid, false);
  if (!t) return Err(t.error());
  auto& [b, rt] = *t;
  auto process = ExecProcess(b->dir, argv, false);
  if (!process) return Err(process.error());
  return ExecInContainer(*rt, uuid, MonitorPaths{b->dir}, *process, timeout);
}

// conmon's control fifo: "<type> <height> <width>\n", type 1 a window resize.
Status OciDriver::ResizeTty(const std::string& uuid, int width, int height) {
  auto bp = Find(uuid);
  if (!bp) return bp.error();
  Box& b = **bp;
  if (!b.rec.spec.tty) return Status::Conflict("Container " + uuid + " has no tty");
  ZUNVM_RETURN_IF_ERROR(RequireRunning(b, true));
  if (width <= 0 || height <= 0 || width > 65535 || height > 65535) return Status::Invalid("bad tty size");
  const std::string ctl = b.dir + "/ctl";
  fsat::UniqueFd fd(::open(ctl.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  if (fd.get() < 0) return Status::Conflict("the monitor of " + uuid + " does not take resizes: " + std::strerror(errno));
  const std::string msg = "1 " + std::to_string(height) + " " + std::to_string(width) + "\n";
  if (::write(fd.get(), msg.data(), msg.size()) != static_cast<ssize_t>(msg.size())) {
    return Status::Internal("resize of " + uuid + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

// `ps -ef`'s columns for the container's processes (the runtime lists their pids).
Result<TopResult> OciDriver::Top(const std::string& uuid, const std::string&) {
  auto t = Running(uuid, true);
  if (!t) return Err(t.error());
  const OciRuntime& rt = *t->second;
  auto ps = detail::RunRuntime(rt, {"ps", "--format", "json", uuid});
  if (!ps) return Err(ps.error());
  if (ps->exit_code() != 0) return Err(detail::Failed(rt, uuid, "ps", *ps));
  json pids = json::parse(ps->out(), nullptr, false);
  if (!pids.is_array()) return Err(Status::Internal("the runtime listed no processes for " + uuid));
  TopResult out;
  out.titles = {"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"};
  if (pids.empty()) return out;
  std::string list;
  for (const auto& p : pids) {
    if (!p.is_number_integer()) continue;
    list += (list.empty() ? "" : ",") + std::to_string(p.get<int64_t>());
  }
  auto r = RunProcess({"ps", "-o", "user=,pid=,ppid=,c=,stime=,tty=,time=,args=", "-p", list});
  if (!r) return Err(r.error());
  std::istringstream lines(r->output);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream in(line);
    std::vector<std::string> row(7);
    for (auto& col : row) in >> col;
    if (row[6].empty()) continue;
    std::string cmd;
    std::getline(in, cmd);
    row.push_back(Trim(cmd));
    out.processes.push_back(std::move(row));
  }
  return out;
}

void OciDriver::CollectMetrics(metrics::GaugeWriter& w) {
  std::vector<std::string> uuids;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [uuid, b] : boxes_) uuids.push_back(uuid);
  }
  std::vector<SandboxUsage> usage;
  for (const auto& uuid : uuids) {
    CgroupSample s = SampleCgroup(CgroupsPath(uuid));
    if (!s.cpu_ns || s.pids.empty()) continue;  // no run going
    SandboxUsage u{uuid, 0, 0, static_cast<double>(*s.cpu_ns) / 1e9};
    for (pid_t pid : s.pids) {
      if (auto mem = ReadProcMemory(pid)) {  // a process may end meanwhile
        u.rss_bytes += mem->rss;
        u.pss_bytes += mem->pss;
      }
    }
    usage.push_back(u);
  }
  WriteSandboxUsage(w, usage);
}

Result<SandboxStats> OciDriver::Stats(const std::string& uuid) {
  auto t = Running(uuid, true);
  if (!t) return Err(t.error());
  Box& b = *t->first;
  auto state = StateOf(*t->second, uuid);
  if (!state) return Err(state.error());
  const std::string cg = CgroupsPath(uuid);
  CgroupSample s = SampleCgroup(cg);
  if (!s.cpu_ns) return Err(Status::Internal("no cgroup statistics for " + uuid + " at " + cg));
  auto now = std::chrono::steady_clock::now();
  uint64_t prev_ns;
  std::chrono::steady_clock::time_point prev_at;
  {
    std::lock_guard<std::mutex> lock(b.mu);
    prev_ns = b.cpu_ns;
    prev_at = b.cpu_at;
  }
  if (prev_at == std::chrono::steady_clock::time_point{} || now - prev_at > std::chrono::seconds(60)) {
    prev_ns = *s.cpu_ns;  // no recent sample: take a second one shortly after, as `docker stats`
    prev_at = now;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    s = SampleCgroup(cg);
    now = std::chrono::steady_clock::now();
  }
  SandboxStats out;
  const double wall_ns = std::chrono::duration<double, std::nano>(now - prev_at).count();
  const uint64_t cpu = s.cpu_ns.value_or(prev_ns);
  const double cpus = b.rec.spec.cpu > 0 ? b.rec.spec.cpu : 1.0;
  if (wall_ns > 0 && cpu >= prev_ns) out.cpu_percent = 100.0 * static_cast<double>(cpu - prev_ns) / wall_ns / cpus;
  {
    std::lock_guard<std::mutex> lock(b.mu);
    b.cpu_ns = cpu;
    b.cpu_at = now;
    out.mem_limit_mib = static_cast<double>(b.rec.spec.memory_mib);
  }
  out.mem_usage_mib = static_cast<double>(s.mem_bytes.value_or(0)) / 1048576.0;
  if (state->pid > 0) NetBytes(state->pid, &out);
  return out;
}

// The merged root as the host sees it: the image and the container's changes (the bind mounts
// of its /etc files and /proc etc. are in the container's mount namespace only).
Result<Archive> OciDriver::GetArchive(const std::string& uuid, const std::string& path) {
  auto bp = Find(uuid);
  if (!bp) return Err(bp.error());
  auto root = OpenRoot((*bp)->dir);
  if (!root) return Err(root.error());
  auto r = rootfiles::CopyOut(root->get(), path);
  if (!r) return Err(r.error());
  Archive out;
  out.tar = std::move(r->tar);
  out.stat.name = r->stat.name;
  out.stat.size = r->stat.size;
  out.stat.mode = r->stat.mode;
  out.stat.mtime = FormatRfc3339Nano(FromMicros(r->stat.mtime * 1000000));
  out.stat.link_target = r->stat.link_target;
  return out;
}

Status OciDriver::PutArchive(const std::string& uuid, const std::string& path, const std::string& tar) {
  auto bp = Find(uuid);
  if (!bp) return bp.error();
  auto root = OpenRoot((*bp)->dir);
  if (!root) return root.error();
  return rootfiles::CopyIn(root->get(), path, tar);
}

// New limits go into the record (every later start's config.json) and, for a running
// container, into its cgroup through the runtime.
Result<bool> OciDriver::Update(const std::string& uuid, double cpu, int64_t memory_mib) {
  bool live = false;
  Status st = Locked(uuid, [&](const std::shared_ptr<Box>& b, const OciRuntime& rt) {
    auto r = UpdateRun(*b, rt, cpu, memory_mib);
    if (r) live = *r;
    return r ? Status::Ok() : r.error();
  });
  if (!st.ok()) return Err(st);
  return live;
}

Result<bool> OciDriver::UpdateRun(Box& b, const OciRuntime& rt, double cpu, int64_t memory_mib) {
  const std::string& uuid = b.uuid;
  {
    std::lock_guard<std::mutex> lock(b.mu);
    if (cpu > 0) b.rec.spec.cpu = cpu;
    if (memory_mib > 0) b.rec.spec.memory_mib = memory_mib;
    ZUNVM_RETURN_IF_ERROR(Save(b));
  }
  SandboxState s = InfoOf(b).state;
  if (s != SandboxState::kRunning && s != SandboxState::kPaused) return false;
  std::vector<std::string> args = {"update"};
  if (memory_mib > 0) {
    args.push_back("--memory=" + std::to_string(memory_mib * 1048576));
    args.push_back("--memory-swap=" + std::to_string(memory_mib * 1048576));
  }
  if (cpu > 0) {
    args.push_back("--cpu-period=100000");
    args.push_back("--cpu-quota=" + std::to_string(static_cast<int64_t>(cpu * 100000)));
  }
  args.push_back(uuid);
  auto r = detail::RunRuntime(rt, args);
  if (!r) return Err(r.error());
  if (r->exit_code() != 0) return Err(detail::Failed(rt, uuid, "update", *r));
  return true;
}

// Commit goes through GetArchive (the service makes the image); nothing is driver-made.
Result<std::string> OciDriver::Commit(const std::string& uuid, const std::string&, const std::string&) {
  return Err(Status::NotImplemented("Commit of " + uuid + " is made from its files by the service"));
}

Status OciDriver::AttachNic(const std::string& uuid, const SandboxNic& nic) {
  auto bp = Find(uuid);
  if (!bp) return bp.error();
  Box& b = **bp;
  std::lock_guard<std::mutex> op(b.op);
  size_t index;
  {
    std::lock_guard<std::mutex> lock(b.mu);
    for (const auto& have : b.rec.spec.nics) {
      if (have.port_id == nic.port_id) return Status::Conflict("port " + nic.port_id + " is already attached");
    }
    index = b.rec.spec.nics.size();
  }
  // A container made without NICs has the runtime's own empty namespace until its next start.
  bool live = index > 0 && (InfoOf(b).state == SandboxState::kRunning || InfoOf(b).state == SandboxState::kPaused);
  if (live || index == 0) ZUNVM_RETURN_IF_ERROR(PlugNic(uuid, nic, index));
  std::lock_guard<std::mutex> lock(b.mu);
  b.rec.spec.nics.push_back(nic);
  return Save(b);
}

Status OciDriver::DetachNic(const std::string& uuid, const std::string& port_id) {
  auto bp = Find(uuid);
  if (!bp) return bp.error();
  Box& b = **bp;
  std::lock_guard<std::mutex> op(b.op);
  std::lock_guard<std::mutex> lock(b.mu);
  auto& nics = b.rec.spec.nics;
  for (auto it = nics.begin(); it != nics.end(); ++it) {
    if (it->port_id != port_id) continue;
    ZUNVM_RETURN_IF_ERROR(UnplugNic(*it));
    nics.erase(it);
    return Save(b);
  }
  return Status::NotFound("Container " + uuid + " has no port " + port_id);
}

Result<std::vector<std::string>> OciDriver::NicPorts(const std::string& uuid) {
  auto bp = Find(uuid);
  if (!bp) return Err(bp.error());
  std::lock_guard<std::mutex> lock((*bp)->mu);
  std::vector<std::string> out;
  for (const auto& n : (*bp)->rec.spec.nics) out.push_back(n.port_id);
  return out;
}

}  // namespace zunvm::oci
