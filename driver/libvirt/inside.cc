// LibvirtDriver: what runs inside a sandbox: exec, the process list, stats, files and live
// limits.
#include "driver/libvirt/driver_internal.h"

#include <csignal>
#include <thread>

#include "common/logging.h"
#include "common/timefmt.h"

namespace zunvm::libvirt {

// ---- Inside the running container --------------------------------------------------------------

Result<ExecResult> LibvirtDriver::Exec(const std::string& uuid, const std::vector<std::string>& argv,
                                       seconds timeout) {
  auto b = FindOrNotFound(uuid);
  if (!b) return Err(b.error());
  Box& box = **b;
  auto a = RunningAgent(box);
  if (!a) return Err(a.error());
  if (argv.empty()) return Err(Status::Invalid("the command is empty"));
  std::string id = "exec-" + std::to_string(next_exec_++);
  auto sink = std::make_shared<ExecSink>();
  SandboxSpec spec;
  {
    std::lock_guard<std::mutex> lock(box.mu);
    box.execs[id] = sink;
    spec = box.rec.spec;
  }
  auto forget = [&] {
    std::lock_guard<std::mutex> lock(box.mu);
    box.execs.erase(id);
  };
  agent::op::Exec::Request req;
  req.exec_id = id;
  req.argv = argv;
  req.env = EnvList(spec);
  req.container = uuid;
  req.cwd = spec.workdir.empty() ? "/" : spec.workdir;
  auto r = (*a)->Call<agent::op::Exec>(req, kCallTimeout);
  if (!r) {
    forget();
    if (r.error().code() == Code::kNotFound || r.error().code() == Code::kForbidden) {
      // As Docker reports an exec whose program cannot run: output and exit code 126/127.
      bool missing = r.error().code() == Code::kNotFound;
      return ExecResult{"exec failed: " + r.error().message() + "\n", missing ? 127 : 126};
    }
    return Err(r.error());
  }
  auto deadline = Clock::now() + timeout;
  std::unique_lock<std::mutex> lock(box.mu);
  while (!sink->code && (*a)->Alive() && Clock::now() < deadline) box.cv.wait_for(lock, milliseconds(100));
  box.execs.erase(id);
  if (!sink->code) {
    lock.unlock();
    (void)(*a)->Call<agent::op::Signal>({id, SIGKILL}, seconds(5));
    if (!(*a)->Alive()) return Err(Status::Unavailable("the sandbox VM went away during the exec"));
    return Err(Status(Code::kDeadlineExceeded, "the command did not finish in time"));
  }
  return ExecResult{std::move(sink->out), *sink->code};
}

Status LibvirtDriver::ResizeTty(const std::string& uuid, int width, int height) {
  auto b = FindOrNotFound(uuid);
  if (!b) return b.error();
  auto a = RunningAgent(**b);
  if (!a) return a.error();
  auto r = (*a)->Call<agent::op::ResizeTty>({uuid, width, height}, kCallTimeout);
  return r ? Status::Ok() : r.error();
}

Result<std::string> LibvirtDriver::ExecInteractive(const std::string& uuid, const std::vector<std::string>& argv,
                                                   bool tty, int width, int height,
                                                   std::shared_ptr<ProcessSink> sink) {
  auto b = FindOrNotFound(uuid);
  if (!b) return Err(b.error());
  Box& box = **b;
  auto a = RunningAgent(box);
  if (!a) return Err(a.error());
  if (argv.empty()) return Err(Status::Invalid("the command is empty"));
  std::string id = "console-" + std::to_string(next_exec_++);
  auto entry = std::make_shared<ExecSink>();
  entry->live = sink;
  SandboxSpec spec;
  {
    std::lock_guard<std::mutex> lock(box.mu);
    box.execs[id] = entry;  // before the call: its first output may come before the answer
    spec = box.rec.spec;
  }
  agent::op::Exec::Request req;
  req.exec_id = id;
  req.argv = argv;
  req.env = EnvList(spec, tty);
  req.container = uuid;
  req.cwd = spec.workdir.empty() ? "/" : spec.workdir;
  req.tty = tty;
  req.stdin = true;
  auto r = (*a)->Call<agent::op::Exec>(req, kCallTimeout);
  if (!r) {
    {
      std::lock_guard<std::mutex> lock(box.mu);
      box.execs.erase(id);
    }
    if (r.error().code() == Code::kNotFound || r.error().code() == Code::kForbidden) {
      // As `docker exec -it` reports a program that cannot run: a message and 127/126.
      sink->OnOutput("exec failed: " + r.error().message() + "\r\n");
      sink->OnClosed(r.error().code() == Code::kNotFound ? 127 : 126);
      return id;
    }
    return Err(r.error());
  }
  if (tty && width > 0 && height > 0) {
    auto rs = (*a)->Call<agent::op::ResizeTty>({id, width, height}, kCallTimeout);
    if (!rs) Logger("libvirt")->debug("sandbox {}: resize of {}: {}", uuid, id, rs.error().ToString());
  }
  return id;
}

Result<uint64_t> LibvirtDriver::Watch(const std::string& uuid, std::shared_ptr<ProcessSink> sink) {
  auto b = FindOrNotFound(uuid);
  if (!b) return Err(b.error());
  std::lock_guard<std::mutex> lock((*b)->mu);
  if (!(*b)->vm_up || (*b)->main_exit) return Err(Status::Conflict("the container is not running"));
  uint64_t handle = (*b)->next_watcher++;
  (*b)->watchers[handle] = std::move(sink);
  return handle;
}

void LibvirtDriver::Unwatch(const std::string& uuid, uint64_t handle) {
  auto b = Find(uuid);
  if (!b) return;
  std::shared_ptr<ProcessSink> dropped;  // released outside the mutex
  std::lock_guard<std::mutex> lock(b->mu);
  auto it = b->watchers.find(handle);
  if (it == b->watchers.end()) return;
  dropped = std::move(it->second);
  b->watchers.erase(it);
}

Status LibvirtDriver::WriteStdin(const std::string& uuid, const std::string& process, const std::string& data) {
  auto b = FindOrNotFound(uuid);
  if (!b) return b.error();
  auto a = RunningAgent(**b);
  if (!a) return a.error();
  const std::string& id = process.empty() ? uuid : process;
  // One request per chunk that fits a frame comfortably; each waits for the guest's write.
  constexpr size_t kChunk = 256 << 10;
  for (size_t off = 0; off < data.size() || (off == 0 && data.empty()); off += kChunk) {
    auto r = (*a)->Call<agent::op::WriteStdin>({id, data.substr(off, kChunk)}, kCallTimeout);
    if (!r) return r.error();
    if (data.empty()) break;
  }
  return Status::Ok();
}

Status LibvirtDriver::CloseStdin(const std::string& uuid, const std::string& process) {
  auto b = FindOrNotFound(uuid);
  if (!b) return b.error();
  auto a = RunningAgent(**b);
  if (!a) return a.error();
  auto r = (*a)->Call<agent::op::CloseStdin>({process.empty() ? uuid : process}, kCallTimeout);
  return r ? Status::Ok() : r.error();
}

Status LibvirtDriver::ResizeProcess(const std::string& uuid, const std::string& process, int width, int height) {
  if (process.empty()) return ResizeTty(uuid, width, height);
  auto b = FindOrNotFound(uuid);
  if (!b) return b.error();
  auto a = RunningAgent(**b);
  if (!a) return a.error();
  auto r = (*a)->Call<agent::op::ResizeTty>({process, width, height}, kCallTimeout);
  return r ? Status::Ok() : r.error();
}

Result<TopResult> LibvirtDriver::Top(const std::string& uuid, const std::string&) {
  auto b = FindOrNotFound(uuid);
  if (!b) return Err(b.error());
  auto a = RunningAgent(**b);
  if (!a) return Err(a.error());
  auto r = (*a)->Call<agent::op::Processes>({}, kCallTimeout);
  if (!r) return Err(r.error());
  return TopResult{std::move(r->titles), std::move(r->processes)};
}

Result<SandboxStats> LibvirtDriver::Stats(const std::string& uuid) {
  auto b = FindOrNotFound(uuid);
  if (!b) return Err(b.error());
  Box& box = **b;
  auto a = RunningAgent(box);
  if (!a) return Err(a.error());
  auto sample = [&]() { return (*a)->Call<agent::op::Stats>({}, kCallTimeout); };
  auto r = sample();
  if (!r) return Err(r.error());
  uint64_t usec = r->cpu_usage_usec;
  Clock::time_point now = Clock::now();
  uint64_t prev_usec;
  Clock::time_point prev_at;
  {
    std::lock_guard<std::mutex> lock(box.mu);
    prev_usec = box.cpu_usec;
    prev_at = box.cpu_at;
  }
  if (prev_at == Clock::time_point{} || now - prev_at > seconds(60)) {
    // No recent sample: take a second one shortly after, as `docker stats` does.
    prev_usec = usec;
    prev_at = now;
    std::this_thread::sleep_for(milliseconds(200));
    r = sample();
    if (!r) return Err(r.error());
    usec = r->cpu_usage_usec;
    now = Clock::now();
  }
  SandboxStats s;
  double wall_usec = std::chrono::duration<double, std::micro>(now - prev_at).count();
  int vcpus;
  {
    std::lock_guard<std::mutex> lock(box.mu);
    box.cpu_usec = usec;
    box.cpu_at = now;
    vcpus = VcpusFor(box.vm_cpu);
  }
  if (wall_usec > 0 && usec >= prev_usec) s.cpu_percent = 100.0 * (usec - prev_usec) / wall_usec / vcpus;
  s.mem_usage_mib = static_cast<double>(r->mem_used_bytes) / 1048576.0;
  {
    std::lock_guard<std::mutex> lock(box.mu);
    s.mem_limit_mib = static_cast<double>(box.rec.spec.memory_mib);
  }
  s.block_read = r->block_read_bytes;
  s.block_write = r->block_write_bytes;
  s.net_rx = r->net_rx_bytes;
  s.net_tx = r->net_tx_bytes;
  return s;
}

// Files of a stopped sandbox are on its writable disk: a VM is booted for the copy (the
// container is created, never started) and shut down again. A paused container's agent
// answers as usual (pause freezes the container, not the VM).
Status LibvirtDriver::WithFiles(const std::string& uuid,
                                const std::function<Status(agent::AgentClient&)>& fn) {
  auto b = FindOrNotFound(uuid);
  if (!b) return b.error();
  Box& box = **b;
  std::shared_ptr<agent::AgentClient> a;
  {
    std::lock_guard<std::mutex> lock(box.mu);
    if (box.lost) return Status::Conflict("The sandbox VM of " + uuid + " is gone: " + box.lost_reason);
    a = box.vm_up ? box.agent : nullptr;
    // A pod member's files are in its pod's VM, and only while its container exists there.
    if (!box.pod.empty() && (!a || box.rec.state == RecordState::kStopped)) {
      return Status::Conflict("The files of capsule member " + uuid + " can be copied only while it runs or before its first start");
    }
  }
  if (a) return fn(*a);
  std::lock_guard<std::mutex> op(box.op);
  {
    std::lock_guard<std::mutex> lock(box.mu);
    a = box.vm_up ? box.agent : nullptr;  // started meanwhile
  }
  if (a) return fn(*a);
  ZUNVM_RETURN_IF_ERROR(Boot(box));
  {
    std::lock_guard<std::mutex> lock(box.mu);
    a = box.agent;
  }
  Status st = fn(*a);
  a.reset();
  Teardown(box, /*graceful=*/true);  // keeps rec.state (stopped or created)
  return st;
}

Result<Archive> LibvirtDriver::GetArchive(const std::string& uuid, const std::string& path) {
  agent::op::PathStat stat;
  Result<std::string> tar = Err(Status::Internal("no copy was made"));
  Status st = WithFiles(uuid, [&](agent::AgentClient& a) {
    tar = a.CopyOut(uuid, path, &stat, seconds(300));
    return tar ? Status::Ok() : tar.error();
  });
  if (!st.ok()) return Err(st);
  Archive out;
  out.tar = std::move(*tar);
  out.stat.name = stat.name;
  out.stat.size = stat.size;
  out.stat.mode = stat.mode;
  out.stat.mtime = FormatRfc3339Nano(FromMicros(stat.mtime * 1000000));
  out.stat.link_target = stat.link_target;
  return out;
}

Status LibvirtDriver::PutArchive(const std::string& uuid, const std::string& path, const std::string& tar) {
  return WithFiles(uuid, [&](agent::AgentClient& a) { return a.CopyIn(uuid, path, tar, seconds(300)); });
}

// A NIC joins the spec (so every later boot has it); a running VM gets it hot-plugged on a
// spare root port and configured by its agent.
Result<bool> LibvirtDriver::Update(const std::string& uuid, double cpu, int64_t memory_mib) {
  auto b = FindOrNotFound(uuid);
  if (!b) return Err(b.error());
  Box& box = **b;
  std::lock_guard<std::mutex> op(box.op);
  ZUNVM_RETURN_IF_ERROR(Record(box, [&](SandboxRecord& r) {
    r.spec.cpu = cpu;
    r.spec.memory_mib = memory_mib;
  }));
  std::shared_ptr<agent::AgentClient> a;
  double vm_cpu;
  int64_t vm_mem;
  {
    std::lock_guard<std::mutex> lock(box.mu);
    if (!box.vm_up) return false;
    a = box.agent;
    vm_cpu = box.vm_cpu;
    vm_mem = box.vm_mem_mib;
  }
  // Live only within what the VM was booted with: its vCPUs and RAM are fixed until next boot.
  if (VcpusFor(cpu) > VcpusFor(vm_cpu) || memory_mib + opts_.memory_overhead_mib > vm_mem) return false;
  auto r = a->Call<agent::op::Update>({uuid, memory_mib << 20, cpu}, kCallTimeout);
  if (!r) return Err(r.error());
  if (!box.pod.empty()) return true;  // a pod member: its cgroup in the guest; the VM is the pod's
  Status st = hv_->SetVcpuQuota(box.name(), kCpuPeriodUs, VcpuQuotaFor(cpu + opts_.cpu_overhead, VcpusFor(vm_cpu)));
  if (!st.ok()) Logger("libvirt")->warn("sandbox {}: {}", uuid, st.ToString());
  return true;
}

Result<std::string> LibvirtDriver::Commit(const std::string&, const std::string&, const std::string&) {
  return Err(Status::NotImplemented("commit is done by the image service from the container's files"));
}

}  // namespace zunvm::libvirt
