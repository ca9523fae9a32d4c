// LibvirtDriver: the sandbox's NICs: taps on zunvmd's networks, Neutron ports on Open vSwitch,
// their configuration in the guest, and hot-plug.
#include "driver/libvirt/driver_internal.h"

#include "common/logging.h"

namespace zunvm::libvirt {

// ---- NICs --------------------------------------------------------------------------------------

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

Result<std::vector<std::string>> LibvirtDriver::NicPorts(const std::string& uuid) {
  auto b = FindOrNotFound(uuid);
  if (!b) return Err(b.error());
  std::lock_guard<std::mutex> lock((*b)->mu);
  std::vector<std::string> out;
  for (const auto& n : (*b)->rec.spec.nics) out.push_back(n.port_id);
  return out;
}

}  // namespace zunvm::libvirt
