#include "driver/libvirt/libvirt_driver.h"

#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <limits>
#include <type_traits>

#include "agent/client/agent_client.h"
#include "common/base64.h"
#include "common/ids.h"
#include "common/ipv4.h"
#include "common/logging.h"
#include "common/strings.h"
#include "common/timefmt.h"
#include "driver/libvirt/domain_xml.h"
#include "driver/libvirt/sandbox_record.h"

namespace zunvm::libvirt {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

// The guest kernel keeps its CPU vulnerability mitigations: it is the wall between the
// container and the agent (docs/security.md has the measured cost; [guest]
// kernel_cmdline_extra can trade them away).
const char kDefaultGuestCmdline[] =
    "console=ttyS0 quiet cryptomgr.notests tsc=reliable no_timer_check "
    "i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd 8250.nr_uarts=1 audit=0 "
    "rcupdate.rcu_expedited=1 random.trust_cpu=on";

namespace {

constexpr const char kDefaultPath[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
constexpr auto kCallTimeout = seconds(30);

struct ExecSink {
  std::string out;
  std::optional<int> code;
};

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

milliseconds Left(Clock::time_point deadline) {
  return std::max(milliseconds(1), std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
}

// "uid", "uid:gid" or "root". User names other than root would need the image's /etc/passwd.
Status ParseUser(const std::string& user, uint32_t* uid, uint32_t* gid) {
  *uid = *gid = 0;
  if (user.empty() || user == "root" || user == "root:root") return Status::Ok();
  auto colon = user.find(':');
  auto u = ParseInt(user.substr(0, colon));
  std::optional<int64_t> g = u;
  if (colon != std::string::npos) g = ParseInt(user.substr(colon + 1));
  if (!u || !g || *u < 0 || *g < 0 || *u > 0x7fffffff || *g > 0x7fffffff) {
    return Status::Invalid("user " + user + " is not supported: give a numeric uid[:gid]");
  }
  *uid = static_cast<uint32_t>(*u);
  *gid = static_cast<uint32_t>(*g);
  return Status::Ok();
}

std::vector<std::string> EnvList(const SandboxSpec& s) {
  std::vector<std::string> env;
  bool path = false;
  for (const auto& [k, v] : s.env) {
    env.push_back(k + "=" + v);
    path = path || k == "PATH";
  }
  if (!path) env.push_back(kDefaultPath);
  return env;
}

// The last lines of a console log, for error messages about a guest that did not come up.
std::string ConsoleTail(const std::string& path) {
  std::ifstream f(path);
  std::string all((std::istreambuf_iterator<char>(f)), {});
  if (all.size() > 400) all = all.substr(all.size() - 400);
  for (char& c : all) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return all;
}

// A field of an agent answer (untrusted): its value when it has the expected type, else T{}.
template <typename T>
T Field(const json& j, const char* key) {
  if (!j.is_object()) return T{};
  auto it = j.find(key);
  if (it == j.end()) return T{};
  if constexpr (std::is_same_v<T, std::string>) {
    return it->is_string() ? it->get<std::string>() : T{};
  } else if constexpr (std::is_unsigned_v<T>) {
    return it->is_number_unsigned() && it->get<uint64_t>() <= std::numeric_limits<T>::max() ? it->get<T>() : T{};
  } else {
    return it->is_number_integer() ? it->get<T>() : T{};
  }
}

bool IsNeutron(const SandboxNic& nic) { return !nic.ovs_bridge.empty(); }

// A sandbox NIC as libvirt plugs it: a tap on one of zunvmd's networks, with libvirt managing
// nothing; or a Neutron port that libvirt plugs into the OVS bridge itself, its tap named as
// Nova names it ("tap" + the first 11 characters of the port id).
NicConfig NicFor(const SandboxNic& nic) {
  if (IsNeutron(nic)) {
    return NicConfig{NicConfig::Kind::kOpenvswitch, nic.mac, "tap" + nic.port_id.substr(0, 11), nic.ovs_bridge,
                     nic.port_id, nic.mtu};
  }
  return NicConfig{NicConfig::Kind::kTap, nic.mac, TapName(nic.port_id)};
}

SandboxState ToSandboxState(RecordState s) {
  switch (s) {
    case RecordState::kRunning: return SandboxState::kRunning;
    case RecordState::kPaused: return SandboxState::kPaused;
    case RecordState::kStopped: return SandboxState::kStopped;
    default: return SandboxState::kCreated;
  }
}

}  // namespace

struct LibvirtDriver::Box {
  std::string uuid, dir;
  std::mutex op;                  // one life-cycle operation at a time
  std::mutex mu;                  // the fields below
  std::condition_variable cv;     // main_exit and exec exits
  SandboxRecord rec;
  bool vm_up = false;             // a VM of the current generation runs with its agent
  bool lost = false;
  std::string lost_reason;
  uint64_t gen = 0;               // bumped on every boot and teardown: stale events are dropped
  bool stopping = false;          // the main exit belongs to Stop/Delete, not to OnExit
  std::optional<int> main_exit;   // the exit of this generation's main process
  std::shared_ptr<agent::AgentClient> agent;
  double vm_cpu = 0;
  int64_t vm_mem_mib = 0;
  uint64_t acked = 0;
  std::map<std::string, std::shared_ptr<ExecSink>> execs;
  uint64_t cpu_usec = 0;
  Clock::time_point cpu_at{};

  std::string name() const { return DomainName(uuid); }
  std::string socket() const { return dir + "/agent.sock"; }
  std::string console() const { return dir + "/console.log"; }
  std::string record() const { return dir + "/sandbox.json"; }
};

LibvirtDriver::LibvirtDriver(LibvirtDriverOptions opts, std::unique_ptr<Hypervisor> hv,
                             std::unique_ptr<HostNetwork> net)
    : opts_(std::move(opts)), hv_(std::move(hv)), net_(std::move(net)) {
  worker_ = std::thread([this] { WorkerLoop(); });
}

LibvirtDriver::~LibvirtDriver() {
  {
    std::lock_guard<std::mutex> lock(work_mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  // Agents go first: their reader threads call into the boxes and the event sink. The VMs keep
  // running; the next zunvmd adopts them.
  std::map<std::string, std::shared_ptr<Box>> boxes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    boxes.swap(boxes_);
  }
  for (auto& [uuid, b] : boxes) {
    std::shared_ptr<agent::AgentClient> a;
    {
      std::lock_guard<std::mutex> lock(b->mu);
      a = std::move(b->agent);
      b->gen++;
    }
    if (a) a->Ack();
  }
  hv_.reset();
}

std::string LibvirtDriver::SandboxDir(const std::string& uuid) const {
  return opts_.state_dir + "/sandboxes/" + uuid;
}

void LibvirtDriver::Post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(work_mu_);
    work_.push_back(std::move(fn));
  }
  work_cv_.notify_one();
}

void LibvirtDriver::WorkerLoop() {
  std::unique_lock<std::mutex> lock(work_mu_);
  for (;;) {
    work_cv_.wait_for(lock, milliseconds(200), [&] { return stopping_ || !work_.empty(); });
    if (stopping_) return;
    if (!work_.empty()) {
      auto fn = std::move(work_.front());
      work_.pop_front();
      lock.unlock();
      fn();
      lock.lock();
      continue;
    }
    lock.unlock();
    // Tick: acknowledge delivered events (a restart then replays little) and notice agents
    // whose channel died without a libvirt event.
    for (auto& b : Boxes()) {
      std::shared_ptr<agent::AgentClient> a;
      {
        std::lock_guard<std::mutex> l(b->mu);
        if (!b->vm_up || !b->agent) continue;
        a = b->agent;
      }
      if (!a->Alive()) {
        CheckLost(b, "the guest agent's channel closed");
        continue;
      }
      uint64_t seq = a->LastSeq();
      if (seq != b->acked) {
        a->Ack();
        b->acked = seq;
      }
    }
    lock.lock();
  }
}

std::shared_ptr<LibvirtDriver::Box> LibvirtDriver::Find(const std::string& uuid) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = boxes_.find(uuid);
  return it == boxes_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<LibvirtDriver::Box>> LibvirtDriver::Boxes() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<Box>> out;
  for (auto& [uuid, b] : boxes_) out.push_back(b);
  return out;
}

Result<std::shared_ptr<LibvirtDriver::Box>> LibvirtDriver::FindOrNotFound(const std::string& uuid) {
  auto b = Find(uuid);
  if (!b) return Err(Status::NotFound("No such sandbox: " + uuid));
  return b;
}

Status LibvirtDriver::Record(Box& b, const std::function<void(SandboxRecord&)>& change) {
  SandboxRecord copy;
  {
    std::lock_guard<std::mutex> lock(b.mu);
    change(b.rec);
    copy = b.rec;
  }
  return SaveRecord(b.record(), copy);
}

// ---- Events -----------------------------------------------------------------------------------

void LibvirtDriver::OnAgentEvent(const std::weak_ptr<Box>& weak, uint64_t gen, agent::Message& m) {
  auto b = weak.lock();
  if (!b) return;
  if (m.op == agent::op::OutputEvent::kName) {
    auto ev = agent::Get<agent::op::OutputEvent>(m);
    if (!ev) return;  // hostile or broken: dropped
    Stream stream = ev->stream == 2 ? Stream::kStderr : Stream::kStdout;
    if (ev->exec_id == b->uuid) {
      {
        std::lock_guard<std::mutex> lock(b->mu);
        if (b->gen != gen) return;
      }
      // The mark lets the log drop what a replay after a zunvmd restart sends again.
      OutputMark mark{ev->boot, ev->seq};
      if (events_) events_->OnOutput(b->uuid, stream, ev->data, mark);
      return;
    }
    std::lock_guard<std::mutex> lock(b->mu);
    auto it = b->execs.find(ev->exec_id);
    if (it != b->execs.end() && it->second->out.size() < (size_t{16} << 20)) it->second->out += ev->data;
  } else if (m.op == agent::op::ExitEvent::kName) {
    auto ev = agent::Get<agent::op::ExitEvent>(m);
    if (!ev) return;
    const std::string& exec_id = ev->status.exec_id;
    int code = static_cast<int>(ev->status.exit_code);
    bool ours = false;
    {
      std::lock_guard<std::mutex> lock(b->mu);
      if (b->gen != gen) return;
      if (exec_id == b->uuid) {
        b->main_exit = code;
        ours = !b->stopping;
      } else if (auto it = b->execs.find(exec_id); it != b->execs.end()) {
        it->second->code = code;
      }
    }
    b->cv.notify_all();
    if (ours) Post([this, b, gen] { HandleMainExit(b, gen); });
  } else if (m.op == agent::op::OomEvent::kName) {
    auto ev = agent::Get<agent::op::OomEvent>(m);
    if (ev) Logger("libvirt")->info("sandbox {}: the container ran out of memory ({} OOM kills)", b->uuid, ev->oom_kills);
  }
}

// The main process exited on its own (or through Kill): shut the VM down, keep the exit code,
// and tell the service.
void LibvirtDriver::HandleMainExit(const std::shared_ptr<Box>& b, uint64_t gen) {
  int code;
  {
    std::lock_guard<std::mutex> op(b->op);
    {
      std::lock_guard<std::mutex> lock(b->mu);
      if (b->gen != gen || b->stopping || !b->main_exit) return;
      code = *b->main_exit;
    }
    Teardown(*b, /*graceful=*/true);
    Status st = Record(*b, [&](SandboxRecord& r) {
      r.state = RecordState::kStopped;
      r.exit_code = code;
    });
    if (!st.ok()) Logger("libvirt")->warn("sandbox {}: {}", b->uuid, st.ToString());
  }
  Logger("libvirt")->info("sandbox {}: main process exited with {}; VM shut down", b->uuid, code);
  if (events_) events_->OnExit(b->uuid, code);
}

// The VM may have died (a libvirt event, or the agent channel closed): if it really is gone,
// the sandbox is lost.
void LibvirtDriver::CheckLost(const std::shared_ptr<Box>& b, const std::string& reason) {
  uint64_t gen;
  {
    std::lock_guard<std::mutex> lock(b->mu);
    if (!b->vm_up || b->stopping) return;
    gen = b->gen;
  }
  auto state = hv_->State(b->name());
  if (state && (*state == DomainState::kRunning || *state == DomainState::kPaused)) {
    std::shared_ptr<agent::AgentClient> a;
    {
      std::lock_guard<std::mutex> lock(b->mu);
      a = b->agent;
    }
    if (!a || a->Alive()) return;  // a stale event of an earlier VM
  } else if (!state && state.error().code() == Code::kUnavailable) {
    return;  // libvirt is away; checked again after the reconnect
  }
  std::shared_ptr<agent::AgentClient> a;
  {
    std::lock_guard<std::mutex> lock(b->mu);
    if (b->gen != gen || !b->vm_up || b->stopping) return;
    b->vm_up = false;
    b->lost = true;
    b->lost_reason = reason;
    b->gen++;
    a = std::move(b->agent);
  }
  b->cv.notify_all();
  (void)hv_->Destroy(b->name());  // the agent may be dead in a live VM
  a.reset();
  Logger("libvirt")->warn("sandbox {} lost: {}", b->uuid, reason);
  if (events_) events_->OnLost(b->uuid, "The sandbox VM stopped unexpectedly: " + reason);
}

// ---- Boot and teardown ------------------------------------------------------------------------

Status LibvirtDriver::Boot(Box& b) {
  uint32_t uid, gid;
  ZUNVM_RETURN_IF_ERROR(ParseUser(b.rec.spec.user, &uid, &gid));
  const SandboxSpec& s = b.rec.spec;
  if (s.image_disk.empty() || s.upper_disk.empty()) {
    return Status::Invalid("the sandbox has no root disk (the image was not prepared)");
  }
  uint64_t gen;
  {
    std::lock_guard<std::mutex> lock(b.mu);
    gen = ++b.gen;
    b.main_exit.reset();
    b.stopping = false;
    b.lost = false;
    b.lost_reason.clear();
  }
  ::unlink(b.socket().c_str());
  DomainConfig dc;
  dc.uuid = b.uuid;
  dc.instance = instance_;
  dc.virt_type = opts_.virt_type;
  dc.cpu = s.cpu;
  dc.memory_mib = s.memory_mib + opts_.memory_overhead_mib;
  dc.kernel = opts_.kernel;
  dc.initrd = opts_.initrd;
  dc.cmdline = opts_.cmdline.empty() ? kDefaultGuestCmdline : opts_.cmdline;
  dc.console_log = b.console();
  dc.agent_socket = b.socket();
  dc.disks = {{s.image_disk, "rootfs", true}, {s.upper_disk, "upper", false}};
  dc.hotplug_ports = opts_.hotplug_ports;
  if (b.socket().size() >= 108) return Status::Invalid("state_dir is too long for a unix socket path: " + b.socket());

  auto t0 = Clock::now();
  auto deadline = t0 + opts_.boot_timeout;
  for (const auto& nic : s.nics) {
    NicConfig n = NicFor(nic);
    ZUNVM_RETURN_IF_ERROR(ValidateNic(n));
    ZUNVM_RETURN_IF_ERROR(PrepareTap(nic));
    dc.nics.push_back(n);
  }
  auto fail = [&](const Status& st) {
    Status out(st.code() == Code::kDeadlineExceeded ? Code::kUnavailable : st.code(),
               st.message() + " (guest console: " + ConsoleTail(b.console()) + ")");
    Teardown(b, false);
    return out;
  };
  if (Status st = hv_->Create(BuildDomainXml(dc)); !st.ok()) {
    Teardown(b, false);  // removes the taps
    return st;
  }
  double defined = Since(t0);
  // qemu holds the taps open now: they move onto their networks' bridges.
  for (const auto& nic : s.nics) {
    if (Status st = JoinNetwork(nic); !st.ok()) return fail(st);
  }
  std::weak_ptr<Box> weak = Find(b.uuid);
  auto client = agent::AgentClient::Connect(
      b.socket(), Left(deadline),
      [this, weak, gen](agent::Message& m) { OnAgentEvent(weak, gen, m); });
  if (!client) return fail(client.error());
  std::shared_ptr<agent::AgentClient> a(std::move(*client));
  auto hello = a->Call<agent::op::Hello>({agent::kProtocolVersion, std::nullopt}, Left(deadline));
  if (!hello) return fail(Status(hello.error().code(), "the guest agent did not answer: " + hello.error().message()));
  double ready = Since(t0);
  // The guest's own clock: how long the agent had been running when it answered.
  double init_age = static_cast<double>(hello->uptime_ms - hello->started_uptime_ms) / 1000.0;
  {
    std::lock_guard<std::mutex> lock(b.mu);
    b.agent = a;
    b.vm_up = true;
    b.vm_cpu = s.cpu;
    b.vm_mem_mib = dc.memory_mib;
    b.acked = 0;
    b.cpu_at = {};
  }
  agent::op::CreateContainer::Request body;
  body.id = b.uuid;
  body.rootfs_disk = agent::op::DiskRef{"rootfs", "ext4", true};
  body.upper_disk = agent::op::DiskRef{"upper", "ext4", false};
  body.argv = s.argv;
  body.env = EnvList(s);
  body.cwd = s.workdir.empty() ? "/" : s.workdir;
  body.uid = uid;
  body.gid = gid;
  body.hostname = s.hostname.substr(0, 63);
  body.hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
               (s.nics.empty() ? std::string("127.0.1.1") : s.nics[0].address) + "\t" + s.hostname.substr(0, 63) + "\n";
  body.memory_bytes = s.memory_mib << 20;
  body.cpus = s.cpu;
  body.resolv_conf = s.resolv_conf;
  body.tty = s.tty;
  body.stdin = s.interactive;
  body.privileged = s.privileged;
  if (s.argv.empty()) return fail(Status::Invalid("the container has no command (the image gives none either)"));
  if (!s.nics.empty()) {
    if (Status st = ConfigureGuestNics(*a, s.nics, true, Left(deadline)); !st.ok()) return fail(st);
  }
  auto created = a->Call<agent::op::CreateContainer>(body, Left(deadline));
  if (!created) return fail(created.error());
  std::lock_guard<std::mutex> lock(b.mu);
  b.rec.boot = {{"domain_started_s", defined},
                {"kernel_booted_s", std::max(defined, ready - init_age)},
                {"agent_ready_s", ready},
                {"container_created_s", Since(t0)},
                {"vcpus", VcpusFor(s.cpu)},
                {"memory_mib", dc.memory_mib}};
  Logger("libvirt")->info("sandbox {}: VM up in {:.2f} s (domain {:.2f} s, agent {:.2f} s)", b.uuid,
                          Since(t0), defined, ready);
  return Status::Ok();
}

void LibvirtDriver::Teardown(Box& b, bool graceful) {
  std::shared_ptr<agent::AgentClient> a;
  {
    std::lock_guard<std::mutex> lock(b.mu);
    b.vm_up = false;
    b.gen++;
    a = std::move(b.agent);
    b.execs.clear();
  }
  b.cv.notify_all();
  if (graceful && a && a->Alive()) {
    // The agent syncs and powers off; the transient domain then disappears on its own.
    if (a->Call<agent::op::Shutdown>({}, seconds(3))) {
      auto deadline = Clock::now() + seconds(5);
      while (Clock::now() < deadline) {
        auto st = hv_->State(b.name());
        if (!st || *st == DomainState::kShutoff) break;
        std::this_thread::sleep_for(milliseconds(20));
      }
    }
  }
  Status st = hv_->Destroy(b.name());
  if (!st.ok() && st.code() != Code::kNotFound) {
    Logger("libvirt")->warn("sandbox {}: {}", b.uuid, st.ToString());
  }
  a.reset();
  ::unlink(b.socket().c_str());
  std::vector<SandboxNic> nics;
  {
    std::lock_guard<std::mutex> lock(b.mu);
    nics = b.rec.spec.nics;
  }
  for (const auto& nic : nics) {
    Status del = RemoveTap(nic);
    if (!del.ok()) Logger("libvirt")->warn("sandbox {}: {}", b.uuid, del.ToString());
  }
}

Status LibvirtDriver::JoinNetwork(const SandboxNic& nic) {
  if (IsNeutron(nic)) return Status::Ok();  // libvirt plugged it into the OVS bridge
  return net_->AttachToNetwork(TapName(nic.port_id), nic.netns);
}

Status LibvirtDriver::RemoveTap(const SandboxNic& nic) {
  if (IsNeutron(nic)) return Status::Ok();  // libvirt unplugs it and qemu's exit removes it
  return net_->DeleteLink(TapName(nic.port_id), nic.netns);
}

Status LibvirtDriver::PrepareTap(const SandboxNic& nic) {
  if (IsNeutron(nic)) return Status::Ok();  // libvirt makes the tap
  auto gw = ParseIpv4(nic.gateway);
  if (!gw || nic.prefix_len < 1 || nic.prefix_len > 30) {
    return Status::Invalid("NIC " + nic.port_id + " has a bad gateway or prefix");
  }
  ZUNVM_RETURN_IF_ERROR(net_->EnsureNetwork(nic.netns, nic.gateway + "/" + std::to_string(nic.prefix_len)));
  if (opts_.nat) {
    Ipv4Subnet subnet{*gw & Ipv4Subnet{0, nic.prefix_len}.Mask(), nic.prefix_len};
    ZUNVM_RETURN_IF_ERROR(net_->EnableNat(nic.netns, subnet.ToString()));
  }
  std::string tap = TapName(nic.port_id);
  ZUNVM_RETURN_IF_ERROR(net_->DeleteLink(tap, nic.netns));  // left by a VM that died
  return net_->CreateTap(tap);
}

Status LibvirtDriver::ConfigureGuestNics(agent::AgentClient& a, const std::vector<SandboxNic>& nics,
                                         bool route, std::chrono::milliseconds timeout) {
  agent::op::ConfigureNetwork::Request body;
  for (const auto& n : nics) body.nics.push_back({n.mac, n.address + "/" + std::to_string(n.prefix_len), n.mtu});
  if (route && !nics.empty()) body.gateway = nics[0].gateway;
  auto r = a.Call<agent::op::ConfigureNetwork>(body, timeout);
  if (!r) return Status(r.error().code(), "the guest could not configure its network: " + r.error().message());
  return Status::Ok();
}

// ---- Life cycle -------------------------------------------------------------------------------

Result<SandboxInfo> LibvirtDriver::Create(const SandboxSpec& spec) {
  if (!IsUuidLike(spec.uuid)) return Err(Status::Invalid("bad sandbox uuid " + spec.uuid));
  auto b = std::make_shared<Box>();
  b->uuid = spec.uuid;
  b->dir = SandboxDir(spec.uuid);
  b->rec.spec = spec;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = boxes_.find(spec.uuid);
    if (it != boxes_.end()) {
      if (!it->second->lost) return Err(Status::Conflict("Sandbox " + spec.uuid + " already exists"));
      b = it->second;  // a lost sandbox is made again in place
      std::lock_guard<std::mutex> l(b->mu);
      b->rec.spec = spec;
    }
    boxes_[spec.uuid] = b;
  }
  std::lock_guard<std::mutex> op(b->op);
  std::error_code ec;
  fs::create_directories(b->dir, ec);
  if (ec) return Err(Status::Internal("cannot create " + b->dir + ": " + ec.message()));
  // qemu (libvirt's unprivileged qemu user, group kvm on Debian) creates the agent socket here.
  if (group* g = ::getgrnam("kvm"); g && ::chown(b->dir.c_str(), 0, g->gr_gid) == 0) {
    ::chmod(b->dir.c_str(), 0770);
  } else {
    ::chmod(b->dir.c_str(), 0777);
  }
  Status st = Record(*b, [](SandboxRecord& r) {
    r.state = RecordState::kCreating;
    r.exit_code.reset();
  });
  if (st.ok()) st = Boot(*b);
  if (st.ok()) st = Record(*b, [](SandboxRecord& r) { r.state = RecordState::kCreated; });
  if (!st.ok()) {
    Teardown(*b, false);
    fs::remove_all(b->dir, ec);
    std::lock_guard<std::mutex> lock(mu_);
    boxes_.erase(spec.uuid);
    return Err(st);
  }
  return SandboxInfo{spec.uuid, b->name(), SandboxState::kCreated, std::nullopt, spec.hostname};
}

Status LibvirtDriver::Start(const std::string& uuid) {
  auto b = FindOrNotFound(uuid);
  if (!b) return b.error();
  Box& box = **b;
  std::lock_guard<std::mutex> op(box.op);
  bool up;
  {
    std::lock_guard<std::mutex> lock(box.mu);
    up = box.vm_up;
  }
  if (up && box.rec.state != RecordState::kCreated) {
    return Status::Conflict("Sandbox " + uuid + " is already " + RecordStateName(box.rec.state));
  }
  if (!up) {
    Status st = Boot(box);
    if (!st.ok()) return st;
  }
  std::shared_ptr<agent::AgentClient> a;
  {
    std::lock_guard<std::mutex> lock(box.mu);
    a = box.agent;
  }
  auto r = a->Call<agent::op::StartContainer>({uuid}, kCallTimeout);
  if (!r) {
    Teardown(box, false);
    (void)Record(box, [](SandboxRecord& rec) { rec.state = RecordState::kStopped; });
    return r.error();
  }
  return Record(box, [](SandboxRecord& rec) {
    rec.state = RecordState::kRunning;
    rec.exit_code.reset();
  });
}

Result<int> LibvirtDriver::Stop(const std::string& uuid, seconds timeout) {
  auto b = FindOrNotFound(uuid);
  if (!b) return Err(b.error());
  Box& box = **b;
  std::lock_guard<std::mutex> op(box.op);
  std::shared_ptr<agent::AgentClient> a;
  {
    std::lock_guard<std::mutex> lock(box.mu);
    if (!box.vm_up) return box.rec.exit_code.value_or(0);
    box.stopping = true;
    a = box.agent;
  }
  if (box.rec.state == RecordState::kPaused) (void)Freeze(*a, uuid, false);
  if (box.rec.state != RecordState::kCreated) {
    auto exited = [&](Clock::time_point deadline) {
      std::unique_lock<std::mutex> lock(box.mu);
      while (!box.main_exit && a->Alive() && Clock::now() < deadline) {
        box.cv.wait_for(lock, milliseconds(100));
      }
      return box.main_exit.has_value() || !a->Alive();
    };
    (void)a->Call<agent::op::Signal>({uuid, SIGTERM}, kCallTimeout);
    if (!exited(Clock::now() + timeout)) {
      (void)a->Call<agent::op::Signal>({uuid, SIGKILL}, kCallTimeout);
      exited(Clock::now() + seconds(10));
    }
  }
  int code;
  {
    std::lock_guard<std::mutex> lock(box.mu);
    code = box.main_exit.value_or(box.rec.state == RecordState::kCreated ? 0 : 128 + SIGKILL);
  }
  Teardown(box, /*graceful=*/true);
  {
    std::lock_guard<std::mutex> lock(box.mu);
    box.stopping = false;
  }
  ZUNVM_RETURN_IF_ERROR(Record(box, [&](SandboxRecord& r) {
    r.state = RecordState::kStopped;
    r.exit_code = code;
  }));
  return code;
}

Result<std::shared_ptr<agent::AgentClient>> LibvirtDriver::RunningAgent(Box& b) {
  std::lock_guard<std::mutex> lock(b.mu);
  if (!b.vm_up || !b.agent) {
    return Err(Status::Conflict("Sandbox " + b.uuid + " is not running"));
  }
  return b.agent;
}

Status LibvirtDriver::Kill(const std::string& uuid, int signal) {
  auto b = FindOrNotFound(uuid);
  if (!b) return b.error();
  Box& box = **b;
  std::lock_guard<std::mutex> op(box.op);
  auto a = RunningAgent(box);
  if (!a) return a.error();
  if (box.rec.state == RecordState::kPaused) {
    ZUNVM_RETURN_IF_ERROR(Freeze(**a, uuid, false));
    (void)Record(box, [](SandboxRecord& r) { r.state = RecordState::kRunning; });
  }
  auto r = (*a)->Call<agent::op::Signal>({uuid, signal}, kCallTimeout);
  return r ? Status::Ok() : r.error();
}

Status LibvirtDriver::Freeze(agent::AgentClient& a, const std::string& uuid, bool frozen) {
  auto r = a.Call<agent::op::Freeze>({uuid, frozen}, kCallTimeout);
  return r ? Status::Ok() : r.error();
}

// Pause freezes the container's cgroup inside its guest (as Kata does), not the VM: the agent
// keeps answering, so files can be copied and a commit taken while the container is paused.
Status LibvirtDriver::Pause(const std::string& uuid) {
  auto b = FindOrNotFound(uuid);
  if (!b) return b.error();
  Box& box = **b;
  std::lock_guard<std::mutex> op(box.op);
  auto a = RunningAgent(box);
  if (!a) return a.error();
  if (box.rec.state != RecordState::kRunning) return Status::Conflict("Sandbox " + uuid + " is not running");
  ZUNVM_RETURN_IF_ERROR(Freeze(**a, uuid, true));
  return Record(box, [](SandboxRecord& r) { r.state = RecordState::kPaused; });
}

Status LibvirtDriver::Unpause(const std::string& uuid) {
  auto b = FindOrNotFound(uuid);
  if (!b) return b.error();
  Box& box = **b;
  std::lock_guard<std::mutex> op(box.op);
  if (box.rec.state != RecordState::kPaused) return Status::Conflict("Sandbox " + uuid + " is not paused");
  auto a = RunningAgent(box);
  if (!a) return a.error();
  ZUNVM_RETURN_IF_ERROR(Freeze(**a, uuid, false));
  return Record(box, [](SandboxRecord& r) { r.state = RecordState::kRunning; });
}

Status LibvirtDriver::Delete(const std::string& uuid, bool force) {
  auto b = Find(uuid);
  if (!b) return Status::Ok();
  {
    std::lock_guard<std::mutex> op(b->op);
    {
      std::lock_guard<std::mutex> lock(b->mu);
      bool live = b->vm_up && (b->rec.state == RecordState::kRunning || b->rec.state == RecordState::kPaused);
      if (live && !force) return Status::Conflict("Sandbox " + uuid + " is running; stop it or force the delete");
      b->stopping = true;
    }
    Teardown(*b, /*graceful=*/false);
    std::error_code ec;
    fs::remove_all(b->dir, ec);
    if (ec) return Status::Internal("cannot remove " + b->dir + ": " + ec.message());
  }
  std::lock_guard<std::mutex> lock(mu_);
  boxes_.erase(uuid);
  return Status::Ok();
}

Result<SandboxInfo> LibvirtDriver::Inspect(const std::string& uuid) {
  auto b = FindOrNotFound(uuid);
  if (!b) return Err(b.error());
  Box& box = **b;
  std::lock_guard<std::mutex> lock(box.mu);
  if (box.lost) return Err(Status::NotFound("The sandbox VM of " + uuid + " is gone: " + box.lost_reason));
  SandboxInfo info{uuid, box.name(), ToSandboxState(box.rec.state), box.rec.exit_code, box.rec.spec.hostname};
  if (box.rec.state == RecordState::kCreating) info.state = SandboxState::kCreated;
  return info;
}

Result<std::vector<SandboxInfo>> LibvirtDriver::List() {
  std::vector<SandboxInfo> out;
  for (auto& b : Boxes()) {
    std::lock_guard<std::mutex> lock(b->mu);
    out.push_back(SandboxInfo{b->uuid, b->name(), ToSandboxState(b->rec.state), b->rec.exit_code,
                              b->rec.spec.hostname});
  }
  return out;
}

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
Status LibvirtDriver::AttachNic(const std::string& uuid, const SandboxNic& nic) {
  auto b = FindOrNotFound(uuid);
  if (!b) return b.error();
  Box& box = **b;
  NicConfig n = NicFor(nic);
  ZUNVM_RETURN_IF_ERROR(ValidateNic(n));
  std::lock_guard<std::mutex> op(box.op);
  std::shared_ptr<agent::AgentClient> a;
  {
    std::lock_guard<std::mutex> lock(box.mu);
    for (const auto& have : box.rec.spec.nics) {
      if (have.port_id == nic.port_id) return Status::Conflict("port " + nic.port_id + " is already attached");
    }
    if (box.vm_up) a = box.agent;
  }
  if (a) {
    ZUNVM_RETURN_IF_ERROR(PrepareTap(nic));
    Status st = hv_->AttachDevice(box.name(), BuildInterfaceXml(n));
    if (st.ok()) st = JoinNetwork(nic);
    // The guest sees a hot-plugged NIC once its PCIe hot-plug completes (seconds under TCG).
    auto deadline = Clock::now() + kCallTimeout;
    while (st.ok()) {
      st = ConfigureGuestNics(*a, {nic}, false, kCallTimeout);
      if (st.code() != Code::kNotFound || Clock::now() > deadline) break;
      std::this_thread::sleep_for(milliseconds(200));
      st = Status::Ok();
    }
    if (!st.ok()) {
      (void)hv_->DetachDevice(box.name(), BuildInterfaceXml(n));
      (void)RemoveTap(nic);
      return st;
    }
  }
  return Record(box, [&](SandboxRecord& r) { r.spec.nics.push_back(nic); });
}

Status LibvirtDriver::DetachNic(const std::string& uuid, const std::string& port_id) {
  auto b = FindOrNotFound(uuid);
  if (!b) return b.error();
  Box& box = **b;
  std::lock_guard<std::mutex> op(box.op);
  std::optional<SandboxNic> nic;
  bool live;
  {
    std::lock_guard<std::mutex> lock(box.mu);
    for (const auto& have : box.rec.spec.nics) {
      if (have.port_id == port_id) nic = have;
    }
    live = box.vm_up;
  }
  if (!nic) return Status::NotFound("Sandbox " + uuid + " has no port " + port_id);
  if (live) {
    Status st = hv_->DetachDevice(box.name(), BuildInterfaceXml(NicFor(*nic)));
    if (!st.ok() && st.code() != Code::kNotFound) return st;
  }
  ZUNVM_RETURN_IF_ERROR(Record(box, [&](SandboxRecord& r) {
    auto& v = r.spec.nics;
    v.erase(std::remove_if(v.begin(), v.end(), [&](const SandboxNic& x) { return x.port_id == port_id; }), v.end());
  }));
  return RemoveTap(*nic);
}

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
  Status st = hv_->SetVcpuQuota(box.name(), kCpuPeriodUs, VcpuQuotaFor(cpu, VcpusFor(vm_cpu)));
  if (!st.ok()) Logger("libvirt")->warn("sandbox {}: {}", uuid, st.ToString());
  return true;
}

Result<std::string> LibvirtDriver::Commit(const std::string&, const std::string&, const std::string&) {
  return Err(Status::NotImplemented("commit is done by the image service from the container's files"));
}

// ---- Start-up ---------------------------------------------------------------------------------

// The id that marks this state dir's domains: made once, kept in <state_dir>/instance-id.
Status LibvirtDriver::LoadInstanceId() {
  std::string path = opts_.state_dir + "/instance-id";
  std::ifstream in(path);
  std::string id;
  if (in && std::getline(in, id) && IsUuidLike(id)) {
    instance_ = id;
    return Status::Ok();
  }
  id = NewUuid();
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << id << "\n";
    if (!out.flush()) return Status::Internal("cannot write " + tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Status::Internal("cannot write " + path);
  instance_ = id;
  return Status::Ok();
}

Status LibvirtDriver::Adopt(const std::shared_ptr<Box>& b, const DomainInfo* dom) {
  RecordState rs = b->rec.state;
  bool want_vm = rs == RecordState::kCreated || rs == RecordState::kRunning || rs == RecordState::kPaused;
  if (!dom || !want_vm) {
    if (dom) (void)hv_->Destroy(dom->name);
    if (want_vm || rs == RecordState::kCreating) {
      b->lost = true;
      b->lost_reason = dom ? "zunvmd restarted while the sandbox was being created"
                           : "its VM was gone when zunvmd started";
    }
    return Status::Ok();
  }
  uint64_t gen = ++b->gen;
  std::weak_ptr<Box> weak = b;
  // The VM keeps the channel's unacknowledged events; hello replays them to the new client.
  auto client = agent::AgentClient::Connect(
      b->socket(), seconds(5), [this, weak, gen](agent::Message& m) { OnAgentEvent(weak, gen, m); });
  auto hello = client ? (*client)->Call<agent::op::Hello>({agent::kProtocolVersion, std::nullopt}, seconds(10))
                      : Result<agent::op::Hello::Response>(Err(client.error()));
  if (!hello) {
    (void)hv_->Destroy(dom->name);
    b->lost = true;
    b->lost_reason = "its agent did not answer when zunvmd started: " + hello.error().message();
    return Status::Ok();
  }
  std::lock_guard<std::mutex> lock(b->mu);
  b->agent = std::shared_ptr<agent::AgentClient>(std::move(*client));
  b->vm_up = true;
  b->vm_cpu = b->rec.spec.cpu;
  int64_t booted = Field<int64_t>(b->rec.boot, "memory_mib");
  b->vm_mem_mib = booted > 0 ? booted : b->rec.spec.memory_mib + opts_.memory_overhead_mib;
  // A paused container stays frozen in its running guest: the record keeps saying so.
  Logger("libvirt")->info("adopted running sandbox {} ({})", b->uuid, RecordStateName(b->rec.state));
  return Status::Ok();
}

Status LibvirtDriver::Init() {
  hv_->SetEventHandler([this](const DomainEvent& ev) {
    std::string uuid = ev.name.substr(std::string(kDomainPrefix).size());
    auto b = Find(uuid);
    if (b && ev.stopped) Post([this, b, reason = ev.reason] { CheckLost(b, reason); });
  });
  hv_->SetReconnectHandler([this] {
    Post([this] {
      for (auto& b : Boxes()) CheckLost(b, "its VM vanished while libvirtd was away");
    });
  });
  ZUNVM_RETURN_IF_ERROR(hv_->Open());
  std::string root = opts_.state_dir + "/sandboxes";
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return Status::Internal("cannot create " + root + ": " + ec.message());
  ::chmod(root.c_str(), 0711);
  ZUNVM_RETURN_IF_ERROR(LoadInstanceId());
  auto doms = hv_->ListOurs();
  if (!doms) return doms.error();
  std::map<std::string, DomainInfo> by_uuid;
  for (const auto& d : *doms) {
    if (d.instance == instance_) by_uuid[d.container_uuid] = d;  // other zunvmds' are theirs
  }
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    std::string uuid = entry.path().filename().string();
    if (!IsUuidLike(uuid) || !entry.is_directory()) continue;
    auto b = std::make_shared<Box>();
    b->uuid = uuid;
    b->dir = entry.path().string();
    auto rec = LoadRecord(b->record());
    if (rec) {
      b->rec = *rec;
    } else {
      b->rec.spec.uuid = uuid;  // killed before its record was written: lost, to be deleted
      b->rec.state = RecordState::kCreating;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      boxes_[uuid] = b;
    }
    auto it = by_uuid.find(uuid);
    (void)Adopt(b, it == by_uuid.end() ? nullptr : &it->second);
    if (it != by_uuid.end()) by_uuid.erase(it);
  }
  for (const auto& [uuid, d] : by_uuid) {
    Logger("libvirt")->info("destroying domain {}: it has no sandbox", d.name);
    (void)hv_->Destroy(d.name);
  }
  return Status::Ok();
}

}  // namespace zunvm::libvirt
