#include "tests/fakes/fake_hypervisor.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>

#include "common/subprocess.h"

namespace zunvm::libvirt {

namespace {

// A text between two markers of our own domain XML (BuildDomainXml: trusted input).
std::string Between(const std::string& s, const std::string& open, const std::string& close, size_t from = 0) {
  size_t a = s.find(open, from);
  if (a == std::string::npos) return "";
  a += open.size();
  size_t b = s.find(close, a);
  return b == std::string::npos ? "" : s.substr(a, b - a);
}

// The value of attribute `attr` in the first element `tag` of `s`.
std::string Attr(const std::string& s, const std::string& tag, const std::string& attr) {
  std::smatch m;
  std::regex re("<" + tag + "\\b[^>]*\\b" + attr + "=[\"']([^\"']*)[\"']");
  return std::regex_search(s, m, re) ? m[1].str() : "";
}

// The MACs of the <interface> elements of `xml`.
std::vector<std::string> Macs(const std::string& xml) {
  std::vector<std::string> out;
  std::regex re("<mac\\b[^>]*\\baddress=[\"']([^\"']*)[\"']");
  for (auto it = std::sregex_iterator(xml.begin(), xml.end(), re); it != std::sregex_iterator(); ++it) {
    out.push_back((*it)[1].str());
  }
  return out;
}

// A NIC `name` with `mac` in the network namespace of process `pid` (the fake VM's), as a
// guest sees a virtio-net device: a veth whose other end stays beside it.
Status AddNic(pid_t pid, const std::string& mac, const std::string& name) {
  auto r = RunProcess({"nsenter", "-t", std::to_string(pid), "-n", "ip", "link", "add", name, "address", mac, "type",
                       "veth", "peer", "name", "peer-" + name});
  if (!r || r->exit_code != 0) return Status::Internal("cannot add the fake NIC " + mac + ": " + (r ? r->output : ""));
  return Status::Ok();
}

// Unplugs NIC `name` (its peer goes with it).
Status RemoveNic(pid_t pid, const std::string& name) {
  auto r = RunProcess({"nsenter", "-t", std::to_string(pid), "-n", "ip", "link", "del", name});
  if (!r || r->exit_code != 0) return Status::Internal("cannot remove the fake NIC " + name + ": " + (r ? r->output : ""));
  return Status::Ok();
}

Status Away(const std::string& op) { return Status::Unavailable("not connected to libvirt (the fake is away): " + op); }

}  // namespace

FakeHypervisor::FakeHypervisor(std::string agent_bin) : agent_bin_(std::move(agent_bin)) {
  watcher_ = std::thread([this] { Watch(); });
}

FakeHypervisor::~FakeHypervisor() {
  stop_ = true;
  if (watcher_.joinable()) watcher_.join();
  std::map<std::string, std::shared_ptr<Domain>> left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    left.swap(domains_);
  }
  for (auto& [name, d] : left) Remove(d);
}

void FakeHypervisor::SetEventHandler(EventHandler h) {
  std::lock_guard<std::mutex> lock(mu_);
  on_event_ = std::move(h);
}

void FakeHypervisor::SetReconnectHandler(std::function<void()> h) {
  std::lock_guard<std::mutex> lock(mu_);
  on_reconnect_ = std::move(h);
}

void FakeHypervisor::Reconnected() {
  std::function<void()> h;
  {
    std::lock_guard<std::mutex> lock(mu_);
    h = on_reconnect_;
  }
  if (h) h();
}

Status FakeHypervisor::Open() { return Status::Ok(); }

int FakeHypervisor::Calls(const std::string& op) {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_[op];
}

std::vector<std::string> FakeHypervisor::Definitions() {
  std::lock_guard<std::mutex> lock(mu_);
  return definitions_;
}

std::vector<std::string> FakeHypervisor::Devices(const std::string& name) {
  auto d = Find(name);
  std::lock_guard<std::mutex> lock(mu_);
  return d ? d->devices : std::vector<std::string>{};
}

std::shared_ptr<FakeHypervisor::Domain> FakeHypervisor::Find(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = domains_.find(name);
  return it == domains_.end() ? nullptr : it->second;
}

Status FakeHypervisor::Create(const std::string& xml) {
  if (away_) return Away("create");
  auto d = std::make_shared<Domain>();
  d->xml = xml;
  d->name = Between(xml, "<name>", "</name>");
  d->uuid = Between(xml, ":container>", "</");
  d->instance = Between(xml, ":instance>", "</");
  d->socket = Attr(Between(xml, "<channel", "</channel>"), "source", "path");
  std::string console = Attr(Between(xml, "<serial type", "</serial>"), "source", "path");
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++calls_["create"];
    definitions_.push_back(xml);
    if (domains_.count(d->name)) return Status::Conflict("domain " + d->name + " exists");
  }
  if (d->name.empty() || d->socket.empty()) return Status::Invalid("the fake hypervisor cannot read this definition");
  char tmpl[] = "/tmp/zunvm-fakevm-XXXXXX";
  if (!::mkdtemp(tmpl)) return Status::Internal("mkdtemp");
  d->disks_dir = tmpl;
  std::filesystem::create_directories(d->disks_dir + "/block");
  std::filesystem::create_directories(d->disks_dir + "/dev");
  // Disks: each a loop device under its serial, as /sys/block/vdX/serial and /dev/vdX.
  char letter = 'a';
  for (size_t at = xml.find("<disk"); at != std::string::npos; at = xml.find("<disk", at + 1)) {
    std::string disk = Between(xml, "<disk", "</disk>", at);
    std::string file = Attr(disk, "source", "file"), serial = Between(disk, "<serial>", "</serial>");
    bool ro = disk.find("<readonly") != std::string::npos;
    std::vector<std::string> argv = {"losetup", "--find", "--show"};
    if (ro) argv.push_back("--read-only");
    argv.push_back(file);
    auto r = RunProcess(argv);
    if (!r || r->exit_code != 0) {
      Remove(d);
      return Status::Internal("losetup " + file + ": " + (r ? r->output : r.error().message()));
    }
    std::string loop = r->output.substr(0, r->output.find('\n'));
    d->loops.push_back(loop);
    std::string vd = std::string("vd") + letter++;
    std::filesystem::create_directories(d->disks_dir + "/block/" + vd);
    std::ofstream(d->disks_dir + "/block/" + vd + "/serial") << serial << "\n";
    std::filesystem::create_symlink(loop, d->disks_dir + "/dev/" + vd);
  }
  ::unlink(d->socket.c_str());
  // The "VM": the agent as PID 1 of namespaces of its own (pids, mounts, network), so that
  // when it dies everything it started dies with it, as with a VM.
  pid_t pid = static_cast<pid_t>(::syscall(SYS_clone, CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | SIGCHLD, nullptr,
                                           nullptr, nullptr, nullptr));
  if (pid < 0) {
    Remove(d);
    return Status::Internal("clone");
  }
  if (pid == 0) {
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        ::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
      ::_exit(126);
    }
    int log = ::open(console.empty() ? "/dev/null" : console.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log >= 0) {
      ::dup2(log, 1);
      ::dup2(log, 2);
    }
    ::execl(agent_bin_.c_str(), "zunvm-agent", "--listen", d->socket.c_str(), "--disks", d->disks_dir.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  d->agent = pid;
  for (const auto& mac : Macs(xml)) {
    std::string name = "eth" + std::to_string(d->next_nic++);
    if (Status st = AddNic(pid, mac, name); !st.ok()) {
      Remove(d);
      return st;
    }
    d->nic_names[mac] = name;
  }
  std::lock_guard<std::mutex> lock(mu_);
  domains_[d->name] = d;
  return Status::Ok();
}

void FakeHypervisor::Remove(const std::shared_ptr<Domain>& d) {
  if (d->agent > 0) {
    ::kill(d->agent, SIGKILL);
    ::waitpid(d->agent, nullptr, 0);
    d->agent = -1;
  }
  for (const auto& loop : d->loops) (void)RunProcess({"losetup", "--detach", loop});
  d->loops.clear();
  if (!d->disks_dir.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(d->disks_dir, ec);
  }
}

Status FakeHypervisor::Destroy(const std::string& name) {
  if (away_) return Away("destroy");
  std::shared_ptr<Domain> d;
  EventHandler on_event;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++calls_["destroy"];
    auto it = domains_.find(name);
    if (it == domains_.end()) return Status::NotFound("domain " + name + " not found");
    d = it->second;
    domains_.erase(it);
    on_event = on_event_;
  }
  Remove(d);
  if (on_event) on_event(DomainEvent{name, true, "destroyed"});  // libvirt reports it too
  return Status::Ok();
}

Status FakeHypervisor::Crash(const std::string& name) {
  auto d = Find(name);
  if (!d) return Status::NotFound("domain " + name + " not found");
  ::kill(d->agent, SIGKILL);  // the watcher reaps it and reports the domain gone
  return Status::Ok();
}

void FakeHypervisor::Watch() {
  while (!stop_) {
    std::vector<std::shared_ptr<Domain>> dead;
    EventHandler on_event;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto it = domains_.begin(); it != domains_.end();) {
        int st = 0;
        if (it->second->agent > 0 && ::waitpid(it->second->agent, &st, WNOHANG) == it->second->agent) {
          it->second->agent = -1;  // reaped: a powered-off or crashed VM
          dead.push_back(it->second);
          it = domains_.erase(it);
        } else {
          ++it;
        }
      }
      on_event = on_event_;
    }
    for (const auto& d : dead) {
      Remove(d);
      if (on_event) on_event(DomainEvent{d->name, true, "the fake VM's agent exited"});
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a poll, as libvirt's loop
  }
}

std::vector<std::shared_ptr<FakeHypervisor::Domain>> FakeHypervisor::Release() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<Domain>> out;
  for (auto& [name, d] : domains_) out.push_back(d);
  domains_.clear();
  return out;
}

void FakeHypervisor::Adopt(std::vector<std::shared_ptr<Domain>> domains) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& d : domains) domains_[d->name] = d;
}

Status FakeHypervisor::Suspend(const std::string& name) {
  if (away_) return Away("suspend");
  auto d = Find(name);
  if (!d) return Status::NotFound("domain " + name + " not found");
  ::kill(d->agent, SIGSTOP);
  std::lock_guard<std::mutex> lock(mu_);
  d->state = DomainState::kPaused;
  return Status::Ok();
}

Status FakeHypervisor::Resume(const std::string& name) {
  if (away_) return Away("resume");
  auto d = Find(name);
  if (!d) return Status::NotFound("domain " + name + " not found");
  ::kill(d->agent, SIGCONT);
  std::lock_guard<std::mutex> lock(mu_);
  d->state = DomainState::kRunning;
  return Status::Ok();
}

Result<DomainState> FakeHypervisor::State(const std::string& name) {
  if (away_) return Err(Away("state"));
  auto d = Find(name);
  if (!d) return Err(Status::NotFound("domain " + name + " not found"));
  std::lock_guard<std::mutex> lock(mu_);
  return d->state;
}

// Templates and clones need a real qemu: the pool is tested with real VMs.
Status FakeHypervisor::CreatePaused(const std::string&) {
  return Status::NotImplemented("the fake hypervisor cannot start paused clones");
}
Result<std::string> FakeHypervisor::MonitorCommand(const std::string&, const std::string&, int) {
  return Err(Status::NotImplemented("the fake hypervisor has no qemu monitor"));
}
Status FakeHypervisor::SetMetadata(const std::string&, const std::string&) {
  return Status::NotImplemented("the fake hypervisor has no pool members");
}

Result<std::vector<DomainInfo>> FakeHypervisor::ListOurs() {
  if (away_) return Err(Away("list"));
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<DomainInfo> out;
  for (const auto& [name, d] : domains_) out.push_back({name, d->uuid, false, d->instance, d->state});
  return out;
}

Status FakeHypervisor::AttachDevice(const std::string& name, const std::string& xml) {
  if (away_) return Away("attach");
  auto d = Find(name);
  if (!d) return Status::NotFound("domain " + name + " not found");
  std::lock_guard<std::mutex> lock(mu_);
  ++calls_["attach"];
  for (const auto& mac : Macs(xml)) {
    if (d->nic_names.count(mac)) return Status::Conflict("a NIC with MAC " + mac + " is already plugged");
    std::string name = "eth" + std::to_string(d->next_nic++);
    ZUNVM_RETURN_IF_ERROR(AddNic(d->agent, mac, name));
    d->nic_names[mac] = name;
  }
  d->devices.push_back(xml);
  return Status::Ok();
}

Status FakeHypervisor::DetachDevice(const std::string& name, const std::string& xml) {
  if (away_) return Away("detach");
  auto d = Find(name);
  if (!d) return Status::NotFound("domain " + name + " not found");
  std::lock_guard<std::mutex> lock(mu_);
  ++calls_["detach"];
  auto macs = Macs(xml);
  for (auto it = d->devices.begin(); it != d->devices.end(); ++it) {
    if (Macs(*it) == macs) {
      for (const auto& mac : macs) {
        ZUNVM_RETURN_IF_ERROR(RemoveNic(d->agent, d->nic_names[mac]));
        d->nic_names.erase(mac);
      }
      d->devices.erase(it);
      return Status::Ok();
    }
  }
  return Status::NotFound("no such device on " + name);
}

Status FakeHypervisor::SetVcpuQuota(const std::string&, int64_t, int64_t) {
  if (away_) return Away("vcpu_quota");
  std::lock_guard<std::mutex> lock(mu_);
  ++calls_["vcpu_quota"];
  return Status::Ok();
}

}  // namespace zunvm::libvirt
