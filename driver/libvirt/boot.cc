// LibvirtDriver: booting a sandbox's VM to a running agent with its container created, and
// tearing it down.
#include "driver/libvirt/driver_internal.h"

#include <grp.h>
#include <unistd.h>

#include "common/logging.h"

namespace zunvm::libvirt {

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
  dc.cpu_overhead = opts_.cpu_overhead;
  dc.tb_cache_mib = opts_.tb_cache_mib;
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

}  // namespace zunvm::libvirt
