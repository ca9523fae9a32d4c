#include "service/container_networking.h"

#include <optional>
#include <set>

#include "common/failpoint.h"
#include "common/logging.h"
#include "service/state_table.h"

namespace zunvm {

namespace {
Status NoNetworks() { return Status::NotImplemented("This zunvmd has no networks."); }
}  // namespace

Result<std::vector<NetRequest>> ContainerNetworking::Plan(const nlohmann::json& requested_nets) const {
  if (!networks_) return std::vector<NetRequest>{};
  return networks_->ParseNets(requested_nets);
}

Status ContainerNetworking::Allocate(Container& c, const std::vector<NetRequest>& nets) {
  if (!networks_) return Status::Ok();
  auto nics = networks_->Allocate(c.uuid, c.project_id, nets);
  if (!nics) return nics.error();
  c.addresses = NetworkService::Addresses(*nics);
  return Status::Ok();
}

Status ContainerNetworking::AddTo(SandboxSpec& spec) {
  if (!networks_) return Status::Ok();
  auto nics = networks_->NicsOf(spec.uuid);
  if (!nics) return nics.error();
  spec.nics = *nics;
  spec.resolv_conf = networks_->ResolvConf(*nics);
  return Status::Ok();
}

void ContainerNetworking::Release(const std::string& uuid) {
  if (!networks_) return;
  Status released = networks_->ReleaseContainer(uuid);
  if (!released.ok()) Logger("service")->warn("addresses of {}: {}", uuid, released.ToString());
}

Result<Container> ContainerNetworking::Attach(const RequestContext& ctx, const Container& c,
                                              const nlohmann::json& net) {
  if (!networks_) return Err(NoNetworks());
  if (c.capsule_id) return Err(Status::Conflict("Container " + c.uuid + " shares the network of capsule " + *c.capsule_id + "."));
  ZUNVM_RETURN_IF_ERROR(CheckAllowed(Op::kNetworkAttach, c.uuid, c.status));
  auto request = networks_->ParseNet(net);
  if (!request) return Err(request.error());
  int64_t action = records_->StartAction(ctx, c.uuid, "network_attach");
  auto nic = networks_->AllocateOne(c.uuid, c.project_id, *request);
  Status st = nic ? Status::Ok() : nic.error();
  if (st.ok()) Failpoint("network_attach.port_allocated");
  if (st.ok() && c.container_id) {
    st = driver_->AttachNic(c.uuid, *nic);
    if (!st.ok()) (void)networks_->ReleasePort(nic->port_id);
    if (st.ok()) Failpoint("network_attach.nic_attached");
  }
  records_->FinishAction(action, st);
  if (!st.ok()) return Err(st);
  return RefreshAddresses(c.uuid);
}

Result<Container> ContainerNetworking::Detach(const RequestContext& ctx, const Container& c,
                                              const std::string& network_or_port) {
  if (!networks_) return Err(NoNetworks());
  ZUNVM_RETURN_IF_ERROR(CheckAllowed(Op::kNetworkDetach, c.uuid, c.status));
  auto nics = networks_->NicsOf(c.uuid);
  if (!nics) return Err(nics.error());
  auto net = networks_->Find(network_or_port, c.project_id);
  std::optional<SandboxNic> nic;
  for (const auto& n : *nics) {
    if (n.port_id == network_or_port || n.network_uuid == network_or_port || (net && n.network_uuid == net->uuid)) {
      nic = n;
    }
  }
  if (!nic) {
    return Err(Status::NotFound("Container " + c.uuid + " has no port on " + network_or_port + ".",
                                "NetworkNotFound"));
  }
  int64_t action = records_->StartAction(ctx, c.uuid, "network_detach");
  Status st = Status::Ok();
  if (c.container_id) {
    st = driver_->DetachNic(c.uuid, nic->port_id);
    if (st.code() == Code::kNotFound) st = Status::Ok();  // not in the sandbox: only the address to free
    if (st.ok()) Failpoint("network_detach.nic_detached");
  }
  if (st.ok()) st = networks_->ReleasePort(nic->port_id);
  records_->FinishAction(action, st);
  if (!st.ok()) return Err(st);
  return RefreshAddresses(c.uuid);
}

Status ContainerNetworking::ReconcileNics(const Container& c) {
  if (!networks_) return Status::Ok();
  auto nics = networks_->NicsOf(c.uuid);
  if (!nics) return nics.error();
  auto plugged = c.container_id ? driver_->NicPorts(c.uuid) : Result<std::vector<std::string>>(Err(Status::NotFound("")));
  if (plugged) {
    std::set<std::string> have(plugged->begin(), plugged->end()), ports;
    for (const auto& n : *nics) ports.insert(n.port_id);
    bool changed = false;
    for (const std::string& p : have) {
      if (ports.count(p)) continue;
      Logger("service")->info("container {}: unplugging port {}, which the network store no longer has", c.uuid, p);
      ZUNVM_RETURN_IF_ERROR(driver_->DetachNic(c.uuid, p));
    }
    for (const std::string& p : ports) {
      if (have.count(p)) continue;
      Logger("service")->info("container {}: releasing port {}, which its sandbox does not have", c.uuid, p);
      ZUNVM_RETURN_IF_ERROR(networks_->ReleasePort(p));
      changed = true;
    }
    if (changed) {
      nics = networks_->NicsOf(c.uuid);
      if (!nics) return nics.error();
    }
  }
  if (NetworkService::Addresses(*nics) == c.addresses) return Status::Ok();
  Logger("service")->info("container {}: addresses taken again from its ports", c.uuid);
  auto r = RefreshAddresses(c.uuid);
  return r ? Status::Ok() : r.error();
}

Result<Container> ContainerNetworking::RefreshAddresses(const std::string& uuid) {
  if (!networks_) return Err(NoNetworks());
  auto nics = networks_->NicsOf(uuid);
  if (!nics) return Err(nics.error());
  return records_->Mutate(uuid, [&](Container& rec) -> Status {
    rec.addresses = NetworkService::Addresses(*nics);
    return Status::Ok();
  });
}

}  // namespace zunvm
