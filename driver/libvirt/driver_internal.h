// The libvirt driver's own parts, shared by its files (libvirt_driver.cc: life cycle;
// boot.cc: boot and teardown; nics.cc: NICs; events.cc: agent events and lost VMs;
// recovery.cc: adoption at start; inside.cc: exec, processes, stats, files and limits).
// Not for use outside driver/libvirt/.
#pragma once

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/client/agent_client.h"
#include "common/ipv4.h"
#include "common/strings.h"
#include "driver/libvirt/domain_xml.h"
#include "driver/libvirt/libvirt_driver.h"
#include "driver/libvirt/sandbox_record.h"
#include "network/host_network.h"

namespace zunvm::libvirt {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;
using nlohmann::json;

inline constexpr const char kDefaultPath[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
inline constexpr auto kCallTimeout = seconds(30);

// A process started by Exec (collects its output until it exits) or ExecInteractive (`live`
// set: its output and end go there instead).
struct ExecSink {
  std::string out;
  std::optional<int> code;
  std::shared_ptr<ProcessSink> live;
};

inline double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

inline milliseconds Left(Clock::time_point deadline) {
  return std::max(milliseconds(1), std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
}

// "uid", "uid:gid" or "root". User names other than root would need the image's /etc/passwd.
inline Status ParseUser(const std::string& user, uint32_t* uid, uint32_t* gid) {
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

// The container's environment; `tty` (the container's, or an exec's) adds TERM=xterm unless
// the spec sets TERM, as Docker does.
inline std::vector<std::string> EnvList(const SandboxSpec& s, bool tty = false) {
  std::vector<std::string> env;
  bool path = false, term = false;
  for (const auto& [k, v] : s.env) {
    env.push_back(k + "=" + v);
    path = path || k == "PATH";
    term = term || k == "TERM";
  }
  if (!path) env.push_back(kDefaultPath);
  if ((tty || s.tty) && !term) env.push_back("TERM=xterm");
  return env;
}

// A sandbox's disks in device order: the image's root (vda), its writable disk (vdb), then its
// volumes. A pod's: each image once (serial img<k>), each member's writable disk (up<i>), then
// the pod's volumes.
std::vector<DiskConfig> SandboxDisks(const SandboxSpec& s);
// The serials of a pod member's root disks in SandboxDisks' layout.
std::pair<std::string, std::string> MemberDiskSerials(const SandboxSpec& pod, size_t member);
// The agent's create_container for a container spec (a pod member's with `disks` its serials;
// `pod` gives its volumes' disks). InvalidArgument for a user that is not numeric.
Result<agent::op::CreateContainer::Request> CreateRequestFor(const SandboxSpec& s, const std::pair<std::string, std::string>& disks,
                                                             const SandboxSpec* pod);
// InvalidArgument for volumes or injected files the guest could not take (count, serials,
// paths, sizes). Checked before anything of the sandbox is made.
Status ValidateVolumes(const SandboxSpec& s);

// The last lines of a console log, for error messages about a guest that did not come up.
inline std::string ConsoleTail(const std::string& path) {
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
inline T Field(const json& j, const char* key) {
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

inline bool IsNeutron(const SandboxNic& nic) { return !nic.ovs_bridge.empty(); }

// A sandbox NIC as libvirt plugs it: a tap on one of zunvmd's networks, with libvirt managing
// nothing; or a Neutron port that libvirt plugs into the OVS bridge itself, its tap named as
// Nova names it ("tap" + the first 11 characters of the port id).
inline NicConfig NicFor(const SandboxNic& nic) {
  if (IsNeutron(nic)) {
    return NicConfig{NicConfig::Kind::kOpenvswitch, nic.mac, OvsTapName(nic.port_id), nic.ovs_bridge,
                     nic.port_id, nic.mtu};
  }
  return NicConfig{NicConfig::Kind::kTap, nic.mac, TapName(nic.port_id)};
}

inline SandboxState ToSandboxState(RecordState s) {
  switch (s) {
    case RecordState::kRunning: return SandboxState::kRunning;
    case RecordState::kPaused: return SandboxState::kPaused;
    case RecordState::kStopped: return SandboxState::kStopped;
    default: return SandboxState::kCreated;
  }
}

// One sandbox: its record, its VM's agent, and what is in flight. `op` serialises life-cycle
// operations; `mu` guards the fields (never held across a call to the agent or libvirt).
struct LibvirtDriver::Box {
  std::string uuid, dir;
  std::mutex op;                  // one life-cycle operation at a time
  std::mutex name_mu;             // guards `domain` alone (name() is called under mu too)
  std::string domain;             // mirrors rec.domain
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
  std::map<uint64_t, std::shared_ptr<ProcessSink>> watchers;  // of the main process (Watch)
  uint64_t next_watcher = 1;
  uint64_t cpu_usec = 0;
  Clock::time_point cpu_at{};
  Clock::time_point booted_at{};  // when the last Boot began (set and read under op)
  // Pods (driver.h SandboxSpec::members): a member's box names its pod; it mirrors the pod's
  // agent and vm_up (AttachMembers) and keeps its own state, exits, execs and watchers; its
  // record lives in the pod's (SandboxRecord::members). Set once, before the box is shared.
  std::string pod;
  std::vector<std::string> members;  // a pod's member uuids

  // The VM's domain: zunvm-<uuid>, or the pool member it claimed (rec.domain, set under op).
  std::string name() {
    std::lock_guard<std::mutex> lock(name_mu);
    return domain.empty() ? DomainName(uuid) : domain;
  }
  void set_name(const std::string& d) {
    std::lock_guard<std::mutex> lock(name_mu);
    domain = d;
  }
  std::string socket() const { return dir + "/agent.sock"; }
  std::string console() const { return dir + "/console.log"; }
  std::string record() const { return dir + "/sandbox.json"; }
};

}  // namespace zunvm::libvirt
