#include "driver/libvirt/pool.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "agent/client/agent_client.h"
#include "common/ids.h"
#include "common/logging.h"
#include "common/sha256.h"
#include "common/subprocess.h"

namespace zunvm::libvirt {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using nlohmann::json;

namespace {

constexpr const char kStateFd[] = "zunvm-state";
constexpr auto kRefillQuiet = std::chrono::seconds(2);
// The warm-up NIC's MAC (locally administered); it exists only inside one member at a time.
constexpr const char kWarmNicMac[] = "02:00:00:7a:77:01";

double Since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

milliseconds Left(Clock::time_point deadline) {
  return std::max(milliseconds(1), std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
}

// A file's identity for the template key: a rebuilt kernel or initramfs makes a new template.
std::string FileStamp(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return path + ":missing";
  return path + ":" + std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec);
}

// A QMP reply is {"return": ...} or {"error": {"desc": ...}}.
Result<json> Qmp(Hypervisor& hv, const std::string& name, const json& cmd, int fd = -1) {
  auto out = hv.MonitorCommand(name, cmd.dump(), fd);
  if (!out) return Err(out.error());
  json j = json::parse(*out, nullptr, false);
  if (!j.is_object()) return Err(Status::Internal("qemu answered " + cmd.value("execute", "") + " with " + *out));
  if (j.contains("error")) {
    std::string desc = j["error"].is_object() ? j["error"].value("desc", "") : "";
    return Err(Status::Internal("qemu refused " + cmd.value("execute", "") + ": " + desc));
  }
  return j.value("return", json::object());
}

// Waits for the migration (outgoing or incoming) to finish.
Status AwaitMigration(Hypervisor& hv, const std::string& name, Clock::time_point deadline) {
  for (;;) {
    auto r = Qmp(hv, name, {{"execute", "query-migrate"}});
    if (!r) return r.error();
    std::string status = r->is_object() ? r->value("status", "") : "";
    if (status == "completed") return Status::Ok();
    if (status == "failed" || status == "cancelled") {
      return Status::Internal("migration of " + name + " " + status + ": " + r->value("error-desc", ""));
    }
    if (Clock::now() > deadline) return Status(Code::kDeadlineExceeded, "migration of " + name + " did not finish");
    std::this_thread::sleep_for(milliseconds(2));
  }
}

Status IgnoreShared(Hypervisor& hv, const std::string& name) {
  json caps = {{"capabilities", json::array({{{"capability", "x-ignore-shared"}, {"state", true}}})}};
  auto r = Qmp(hv, name, {{"execute", "migrate-set-capabilities"}, {"arguments", caps}});
  return r ? Status::Ok() : r.error();
}

// Hands `path`'s descriptor to qemu under kStateFd.
Status PassFile(Hypervisor& hv, const std::string& name, const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Internal("cannot open " + path + ": " + std::strerror(errno));
  auto r = Qmp(hv, name, {{"execute", "getfd"}, {"arguments", {{"fdname", kStateFd}}}}, fd);
  ::close(fd);
  return r ? Status::Ok() : r.error();
}

// A small empty ext4 file system (sparse) for the warm-up container.
Status MakeScratchDisk(const std::string& path, const std::string& label) {
  std::string tmp = path + ".tmp";
  auto r = RunProcess({"mkfs.ext4", "-q", "-F", "-L", label, "-E", "lazy_itable_init=1,lazy_journal_init=1", tmp, "16M"});
  if (!r || r->exit_code != 0) {
    return Status::Internal("mkfs.ext4 " + tmp + ": " + (r ? r->output : r.error().message()));
  }
  ::chmod(tmp.c_str(), 0640);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Status::Internal("cannot write " + path);
  return Status::Ok();
}

}  // namespace

Status MakeQemuReachableDir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::Internal("cannot create " + dir + ": " + ec.message());
  // libvirt's unprivileged qemu user is in group kvm on Debian.
  if (group* g = ::getgrnam("kvm"); g && ::chown(dir.c_str(), 0, g->gr_gid) == 0) {
    ::chmod(dir.c_str(), 0770);
  } else {
    ::chmod(dir.c_str(), 0777);
  }
  return Status::Ok();
}

void EventRoute::Set(std::function<void(agent::Message&)> fn) {
  auto p = std::make_shared<std::function<void(agent::Message&)>>(std::move(fn));
  std::lock_guard<std::mutex> lock(mu);
  to = std::move(p);
}

void EventRoute::Deliver(agent::Message& m) {
  std::shared_ptr<std::function<void(agent::Message&)>> fn;
  {
    std::lock_guard<std::mutex> lock(mu);
    fn = to;
  }
  if (fn && *fn) (*fn)(m);
}

SandboxPool::SandboxPool(PoolOptions opts, Hypervisor& hv) : opts_(std::move(opts)), hv_(hv) {}

SandboxPool::~SandboxPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (refill_.joinable()) refill_.join();
  for (const auto& m : ready_) Discard(m);
  // Cold-booted members' scratch disk (templates keep theirs beside the template). VMs that
  // still have it plugged keep their descriptor.
  if (!opts_.use_templates && !warm_root_.empty()) ::unlink(warm_root_.c_str());
}

void SandboxPool::Start(const std::vector<DomainInfo>& ours) {
  for (const auto& d : ours) {
    if (d.pool && d.container_uuid.empty()) {
      Logger("libvirt")->info("destroying unclaimed pool VM {} left by an earlier run", d.name);
      (void)hv_.Destroy(d.name);
    }
  }
  std::error_code ec;
  fs::remove_all(opts_.member_dir, ec);  // claimed members' files were moved into their sandboxes
  if (Status st = MakeQemuReachableDir(opts_.member_dir); !st.ok()) Logger("libvirt")->warn("pool: {}", st.ToString());
  if (opts_.size <= 0) return;
  refill_ = std::thread([this] { RefillLoop(); });
}

DomainConfig SandboxPool::MemberConfig(const std::string& uuid, const std::string& dir, bool clone) const {
  DomainConfig c = opts_.shape;
  c.uuid = uuid;
  c.pool = true;
  c.console_log = dir + "/console.log";
  c.agent_socket = dir + "/agent.sock";
  c.disks.clear();
  c.nics.clear();
  if (opts_.use_templates) c.template_memory = TemplateMemory{template_ram_, clone};
  return c;
}

// The template for the shape, made if missing: <template_dir>/<instance>/<key>/{ram,state}, the
// key a hash of the shape's definition and the kernel's and initramfs's files. Refill thread only.
Status SandboxPool::EnsureTemplate() {
  std::string base = opts_.template_dir + "/" + opts_.shape.instance;
  Sha256 h;
  template_ram_ = "/template/ram";  // placeholder paths: the key covers the shape, not the place
  h.Update(BuildDomainXml(MemberConfig("00000000-0000-0000-0000-000000000000", "/member", true)));
  h.Update(FileStamp(opts_.shape.kernel));
  h.Update(FileStamp(opts_.shape.initrd));
  std::string key = h.Digest().substr(7, 16);
  std::string dir = base + "/" + key;
  template_ram_ = dir + "/ram";
  template_state_ = dir + "/state";
  if (!ValidTemplatePath(template_ram_)) {
    return Status::Invalid("[pool] template_dir " + opts_.template_dir + " has characters qemu's options cannot carry");
  }
  warm_root_ = dir + "/warm-root.ext4";
  if (fs::exists(template_state_) && fs::exists(template_ram_) && fs::exists(warm_root_)) return Status::Ok();
  // Older templates of this instance go (clones still running keep their unlinked RAM file).
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(base, ec)) {
    if (e.path().filename() != key) fs::remove_all(e.path(), ec);
  }
  ZUNVM_RETURN_IF_ERROR(MakeQemuReachableDir(base));
  ::chmod(base.c_str(), 0711);
  ZUNVM_RETURN_IF_ERROR(MakeQemuReachableDir(dir));
  ZUNVM_RETURN_IF_ERROR(MakeScratchDisk(warm_root_, "zunvm-warm"));
  int fd = ::open(template_ram_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0660);
  if (fd < 0) return Status::Internal("cannot create " + template_ram_ + ": " + std::strerror(errno));
  struct stat dst{};
  bool ok = ::stat(dir.c_str(), &dst) == 0 && ::fchown(fd, 0, dst.st_gid) == 0 && ::fchmod(fd, 0660) == 0;
  ::close(fd);
  if (!ok) return Status::Internal("cannot hand " + template_ram_ + " to the qemu user");

  auto t0 = Clock::now();
  auto deadline = t0 + opts_.boot_timeout;
  std::string uuid = NewUuid();
  std::string mdir = opts_.member_dir + "/" + uuid;
  ZUNVM_RETURN_IF_ERROR(MakeQemuReachableDir(mdir));
  DomainConfig c = MemberConfig(uuid, mdir, false);
  std::string name = PoolDomainName(uuid);
  auto cleanup = [&](Status st) {
    (void)hv_.Destroy(name);
    fs::remove_all(mdir, ec);
    fs::remove(template_ram_, ec);
    return st;
  };
  ZUNVM_RETURN_IF_ERROR(hv_.Create(BuildDomainXml(c)));
  auto client = agent::AgentClient::Connect(c.agent_socket, Left(deadline), [](agent::Message&) {});
  if (!client) return cleanup(client.error());
  auto hello = (*client)->Call<agent::op::Hello>({agent::kProtocolVersion, std::nullopt}, Left(deadline));
  if (!hello) return cleanup(hello.error());
  client->reset();  // the agent waits for the next host: each clone connects to its own copy
  auto stopped = Qmp(hv_, name, {{"execute", "stop"}});
  if (!stopped) return cleanup(stopped.error());
  std::string tmp = template_state_ + ".tmp";
  if (Status st = IgnoreShared(hv_, name); !st.ok()) return cleanup(st);
  if (Status st = PassFile(hv_, name, tmp, O_WRONLY | O_CREAT | O_TRUNC); !st.ok()) return cleanup(st);
  auto mig = Qmp(hv_, name, {{"execute", "migrate"}, {"arguments", {{"uri", std::string("fd:") + kStateFd}}}});
  if (!mig) return cleanup(mig.error());
  if (Status st = AwaitMigration(hv_, name, deadline); !st.ok()) return cleanup(st);
  (void)hv_.Destroy(name);
  fs::remove_all(mdir, ec);
  ::chmod(tmp.c_str(), 0640);
  if (struct stat tst{}; ::stat(dir.c_str(), &tst) == 0) (void)::chown(tmp.c_str(), 0, tst.st_gid);
  if (::rename(tmp.c_str(), template_state_.c_str()) != 0) {
    return cleanup(Status::Internal("cannot write " + template_state_ + ": " + std::strerror(errno)));
  }
  Logger("libvirt")->info("pool: template {} made in {:.2f} s ({} vCPU, {} MiB)", key, Since(t0),
                          VcpusFor(opts_.shape.cpu), opts_.shape.memory_mib);
  return Status::Ok();
}

Status SandboxPool::Refresh(agent::AgentClient& a, std::chrono::milliseconds timeout) {
  agent::op::Identity::Request r;
  r.entropy_hex = RandomHex(64);
  r.realtime_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  r.boot_id = RandomHex(16);
  auto out = a.Call<agent::op::Identity>(r, timeout);
  if (!out) return Status(out.error().code(), "the guest did not take its new identity: " + out.error().message());
  return Status::Ok();
}

Result<PoolMember> SandboxPool::StartMember() {
  if (opts_.use_templates) {
    ZUNVM_RETURN_IF_ERROR(EnsureTemplate());
  } else if (warm_root_.empty()) {
    ZUNVM_RETURN_IF_ERROR(MakeScratchDisk(opts_.member_dir + "/warm-root.ext4", "zunvm-warm"));
    warm_root_ = opts_.member_dir + "/warm-root.ext4";
  }
  auto t0 = Clock::now();
  auto deadline = t0 + opts_.boot_timeout;
  PoolMember m;
  m.uuid = NewUuid();
  m.name = PoolDomainName(m.uuid);
  m.dir = opts_.member_dir + "/" + m.uuid;
  m.route = std::make_shared<EventRoute>();
  ZUNVM_RETURN_IF_ERROR(MakeQemuReachableDir(m.dir));
  DomainConfig c = MemberConfig(m.uuid, m.dir, true);
  auto fail = [&](const Status& st) {
    Discard(m);
    return Err(st);
  };
  if (opts_.use_templates) {
    if (Status st = hv_.CreatePaused(BuildDomainXml(c)); !st.ok()) return fail(st);
    Status st = IgnoreShared(hv_, m.name);
    if (st.ok()) st = PassFile(hv_, m.name, template_state_, O_RDONLY);
    if (st.ok()) {
      auto in = Qmp(hv_, m.name, {{"execute", "migrate-incoming"}, {"arguments", {{"uri", std::string("fd:") + kStateFd}}}});
      if (!in) st = in.error();
    }
    if (st.ok()) st = AwaitMigration(hv_, m.name, deadline);
    if (st.ok()) st = hv_.Resume(m.name);
    if (!st.ok()) return fail(st);
  } else if (Status st = hv_.Create(BuildDomainXml(c)); !st.ok()) {
    return fail(st);
  }
  // The client owns the route: it outlives the PoolMember that carried it to the claim.
  auto client = agent::AgentClient::Connect(m.socket(), Left(deadline),
                                            [route = m.route](agent::Message& msg) { route->Deliver(msg); });
  if (!client) return fail(client.error());
  m.agent = std::shared_ptr<agent::AgentClient>(std::move(*client));
  auto hello = m.agent->Call<agent::op::Hello>({agent::kProtocolVersion, std::nullopt}, Left(deadline));
  if (!hello) return fail(hello.error());
  m.kernel = hello->kernel;
  if (Status st = Refresh(*m.agent, Left(deadline)); !st.ok()) return fail(st);
  if (Status st = WarmUp(m, deadline); !st.ok()) return fail(st);
  m.start_s = Since(t0);
  // For operators (and tests): a member's directory says when it is ready to be claimed.
  if (FILE* f = std::fopen((m.dir + "/ready").c_str(), "w")) std::fclose(f);
  Logger("libvirt")->info("pool: VM {} ready in {:.2f} s", m.uuid, m.start_s);
  return m;
}

// Under TCG a guest runs code fast only once qemu has translated it: the first container of a
// VM costs ~0.7 s more than the next. So each member runs one throwaway container through the
// same steps as a claim (disk hot-plug, mounts, namespaces, cgroup, start, exit) on two small
// scratch disks that stay plugged (the shape has root ports for them), and configures one
// throwaway NIC (hot-plug, probe, address, link up: ~45 ms at a claim otherwise), isolated
// (its link down, no host tap of ours) and unplugged again, so a claimed NIC is eth0.
Status SandboxPool::WarmUp(PoolMember& m, Clock::time_point deadline) {
  const NicConfig nic{NicConfig::Kind::kIsolated, kWarmNicMac, "", "", "", 0};
  ZUNVM_RETURN_IF_ERROR(hv_.AttachDevice(m.name, BuildInterfaceXml(nic)));
  std::string upper = m.dir + "/warm-upper.ext4";
  ZUNVM_RETURN_IF_ERROR(MakeScratchDisk(upper, "zunvm-warm"));
  if (struct stat dst{}; ::stat(m.dir.c_str(), &dst) == 0) (void)::chown(upper.c_str(), 0, dst.st_gid);
  ::chmod(upper.c_str(), 0660);
  for (auto [disk, dev] : {std::pair{DiskConfig{warm_root_, "zunvm-warm-root", true}, 'x'},
                           std::pair{DiskConfig{upper, "zunvm-warm-upper", false}, 'y'}}) {
    ZUNVM_RETURN_IF_ERROR(hv_.AttachDevice(m.name, BuildDiskXml(disk, dev)));
  }
  agent::op::CreateContainer::Request c;
  c.id = "zunvm-warmup";
  c.rootfs_disk = agent::op::DiskRef{"zunvm-warm-root", "ext4", true};
  c.upper_disk = agent::op::DiskRef{"zunvm-warm-upper", "ext4", false};
  c.argv = {"/zunvm-warmup"};  // absent: execve fails, the init exits 127
  c.env = {"PATH=/bin"};
  c.cwd = "/";
  c.hostname = "warmup";
  c.hosts = "127.0.0.1\tlocalhost\n";
  c.memory_bytes = int64_t{64} << 20;
  c.cpus = 1;
  auto created = m.agent->Call<agent::op::CreateContainer>(c, Left(deadline));
  if (!created) return Status(created.error().code(), "warm-up container: " + created.error().message());
  auto started = m.agent->Call<agent::op::StartContainer>({c.id}, Left(deadline));
  if (!started) return Status(started.error().code(), "warm-up container: " + started.error().message());
  auto waited = m.agent->Call<agent::op::Wait>({c.id}, Left(deadline));
  if (!waited) return Status(waited.error().code(), "warm-up container: " + waited.error().message());
  m.agent->Ack();  // its events are nobody's: a later replay must not carry them
  agent::op::ConfigureNetwork::Request net;
  net.nics.push_back({kWarmNicMac, "169.254.77.2/30", 0});
  for (;;) {  // the guest has the NIC once its PCIe hot-plug is done
    auto r = m.agent->Call<agent::op::ConfigureNetwork>(net, Left(deadline));
    if (r) break;
    if (r.error().code() != Code::kNotFound || Clock::now() > deadline) {
      return Status(r.error().code(), "warm-up NIC: " + r.error().message());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return hv_.DetachDevice(m.name, BuildInterfaceXml(nic));
}

void SandboxPool::Discard(const PoolMember& m) {
  (void)hv_.Destroy(m.name);
  std::error_code ec;
  fs::remove_all(m.dir, ec);
}

std::optional<PoolMember> SandboxPool::Claim(int vcpus, int64_t memory_mib) {
  if (vcpus != VcpusFor(opts_.shape.cpu) || memory_mib > opts_.shape.memory_mib) return std::nullopt;
  for (;;) {
    std::optional<PoolMember> m;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (ready_.empty()) break;
      m = std::move(ready_.front());
      ready_.pop_front();
      last_claim_ = Clock::now();
      if (m->agent && m->agent->Alive()) {
        ++claiming_;
        return m;
      }
    }
    Logger("libvirt")->warn("pool: VM {} died while waiting; discarded", m->uuid);
    Discard(*m);
  }
  cv_.notify_all();
  return std::nullopt;
}

void SandboxPool::ClaimFinished() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    --claiming_;
    last_claim_ = Clock::now();
  }
  cv_.notify_all();
}

int SandboxPool::Ready() {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(ready_.size());
}

void SandboxPool::RefillLoop() {
  auto backoff = std::chrono::seconds(1);
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (static_cast<int>(ready_.size()) >= opts_.size) {
      cv_.wait(lock, [&] { return stopping_ || static_cast<int>(ready_.size()) < opts_.size; });
      continue;
    }
    // A claim in progress hot-plugs through the same libvirtd (which makes it wait while a
    // domain starts: 0.5 s here) and wants the CPU: a refill waits for claims to finish, and
    // while members are left, until claims have been quiet for a moment.
    if (claiming_ > 0) {
      cv_.wait(lock, [&] { return stopping_ || claiming_ == 0; });
      continue;
    }
    if (!ready_.empty() && Clock::now() - last_claim_ < kRefillQuiet) {
      cv_.wait_until(lock, last_claim_ + kRefillQuiet, [&] { return stopping_; });
      continue;
    }
    lock.unlock();
    auto m = StartMember();
    lock.lock();
    if (m) {
      backoff = std::chrono::seconds(1);
      if (stopping_) {
        lock.unlock();
        Discard(*m);
        lock.lock();
      } else {
        ready_.push_back(std::move(*m));
      }
      continue;
    }
    Logger("libvirt")->warn("pool: cannot start a VM: {} (retrying in {} s)", m.error().ToString(), backoff.count());
    cv_.wait_for(lock, backoff, [&] { return stopping_; });
    backoff = std::min(backoff * 2, std::chrono::seconds(60));
  }
}

}  // namespace zunvm::libvirt
