#include "network/host_network.h"

#include <vector>

#include "common/strings.h"
#include "common/subprocess.h"

namespace zunvm {
namespace {

std::string Hex(const std::string& id, size_t n) {
  std::string out;
  for (char c : id) {
    if (std::isxdigit(static_cast<unsigned char>(c))) out.push_back(static_cast<char>(std::tolower(c)));
    if (out.size() == n) break;
  }
  return out;
}

std::vector<std::string> IpArgv(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

// Runs `ip ARGS`; Internal with the output when it fails.
Status Must(const std::vector<std::string>& args) { return RunChecked(IpArgv(args)); }

bool Succeeds(const std::vector<std::string>& args) {
  auto r = RunProcess(IpArgv(args));
  return r && r->exit_code == 0;
}

}  // namespace

std::string NetnsName(const std::string& network_uuid) { return "zvn-" + Hex(network_uuid, 8); }
std::string TapName(const std::string& port_id) { return "zvt" + Hex(port_id, 12); }
std::string OvsTapName(const std::string& port_id) { return "tap" + port_id.substr(0, 11); }
std::string ContainerNetnsName(const std::string& container_uuid) { return "zvc-" + Hex(container_uuid, 12); }

Status IpHostNetwork::EnsureNetwork(const std::string& netns, const std::string& gateway_cidr) {
  std::lock_guard<std::mutex> lock(ensure_mu_);
  if (!Succeeds({"netns", "exec", netns, "true"})) {
    ZUNVM_RETURN_IF_ERROR(Must({"netns", "add", netns}));
  }
  ZUNVM_RETURN_IF_ERROR(Must({"-n", netns, "link", "set", "lo", "up"}));
  if (!Succeeds({"-n", netns, "link", "show", "br0"})) {
    ZUNVM_RETURN_IF_ERROR(Must({"-n", netns, "link", "add", "br0", "type", "bridge"}));
  }
  ZUNVM_RETURN_IF_ERROR(Must({"-n", netns, "addr", "replace", gateway_cidr, "dev", "br0"}));
  return Must({"-n", netns, "link", "set", "br0", "up"});
}

Status IpHostNetwork::RemoveNetwork(const std::string& netns) {
  if (!Succeeds({"netns", "exec", netns, "true"})) return Status::Ok();
  return Must({"netns", "del", netns});
}

Status IpHostNetwork::CreateTap(const std::string& tap) {
  if (Succeeds({"link", "show", tap})) return Status::Ok();
  return Must({"tuntap", "add", "dev", tap, "mode", "tap"});
}

Status IpHostNetwork::AttachToNetwork(const std::string& ifname, const std::string& netns) {
  // Two `ip` runs (a claim from the pool waits for them); a link already moved by an earlier
  // attempt is only put on the bridge.
  Status moved = Must({"link", "set", ifname, "netns", netns});
  if (!moved.ok() && !Succeeds({"-n", netns, "link", "show", ifname})) return moved;
  return Must({"-n", netns, "link", "set", ifname, "master", "br0", "up"});
}

Status IpHostNetwork::PlugContainerNic(const ContainerNicPlug& n) {
  const std::string& cns = n.container_netns;
  if (!Succeeds({"netns", "exec", cns, "true"})) ZUNVM_RETURN_IF_ERROR(Must({"netns", "add", cns}));
  ZUNVM_RETURN_IF_ERROR(Must({"-n", cns, "link", "set", "lo", "up"}));
  // The host end's namespace: the network's, or the host's own for an OVS port.
  const std::vector<std::string> host = n.ovs_bridge.empty() ? std::vector<std::string>{"-n", n.network_netns}
                                                             : std::vector<std::string>{};
  auto at_host = [&](std::vector<std::string> args) {
    args.insert(args.begin(), host.begin(), host.end());
    return args;
  };
  if (!Succeeds({"-n", cns, "link", "show", n.ifname})) {
    // Both ends are born where they belong: no window in which the peer sits in the host's
    // namespace. A host end left by an earlier attempt (its peer gone) is replaced.
    if (Succeeds(at_host({"link", "show", n.host_if}))) ZUNVM_RETURN_IF_ERROR(Must(at_host({"link", "del", n.host_if})));
    ZUNVM_RETURN_IF_ERROR(Must(at_host({"link", "add", n.host_if, "mtu", std::to_string(n.mtu), "type", "veth", "peer",
                                        "name", n.ifname, "address", n.mac, "mtu", std::to_string(n.mtu), "netns",
                                        cns})));
  }
  if (n.ovs_bridge.empty()) {
    ZUNVM_RETURN_IF_ERROR(Must({"-n", n.network_netns, "link", "set", n.host_if, "master", "br0", "up"}));
  } else {
    ZUNVM_RETURN_IF_ERROR(RunChecked({"ovs-vsctl", "--timeout=30", "--may-exist", "add-port", n.ovs_bridge, n.host_if,
                                      "--", "set", "Interface", n.host_if, "external_ids:iface-id=" + n.port_id,
                                      "external_ids:attached-mac=" + n.mac, "external_ids:iface-status=active"}));
    ZUNVM_RETURN_IF_ERROR(Must({"link", "set", n.host_if, "up"}));
  }
  ZUNVM_RETURN_IF_ERROR(Must({"-n", cns, "addr", "replace", n.cidr, "dev", n.ifname}));
  ZUNVM_RETURN_IF_ERROR(Must({"-n", cns, "link", "set", n.ifname, "up"}));
  if (n.gateway.empty()) return Status::Ok();
  return Must({"-n", cns, "route", "replace", "default", "via", n.gateway, "dev", n.ifname});
}

Status IpHostNetwork::RemoveContainerNetns(const std::string& container_netns) {
  if (!Succeeds({"netns", "exec", container_netns, "true"})) return Status::Ok();
  // The veths first, each with its peer, before the call returns: a namespace's own teardown
  // frees them later, in the kernel's time, and a start right after would meet the old host end.
  auto links = RunProcess(IpArgv({"-n", container_netns, "-o", "link", "show", "type", "veth"}));
  if (links && links->exit_code == 0) {
    for (const std::string& line : Split(links->output, '\n')) {
      // "2: eth0@if7: <BROADCAST,...": the name ends at '@' or ':'.
      size_t start = line.find(": ");
      if (start == std::string::npos) continue;
      start += 2;
      size_t end = line.find_first_of("@:", start);
      if (end == std::string::npos || end == start) continue;
      ZUNVM_RETURN_IF_ERROR(Must({"-n", container_netns, "link", "del", line.substr(start, end - start)}));
    }
  }
  return Must({"netns", "del", container_netns});
}

Status IpHostNetwork::RemoveOvsPort(const std::string& bridge, const std::string& ifname) {
  ZUNVM_RETURN_IF_ERROR(RunChecked({"ovs-vsctl", "--timeout=30", "--if-exists", "del-port", bridge, ifname}));
  return DeleteLink(ifname, "");
}

Status IpHostNetwork::DeleteLink(const std::string& ifname, const std::string& netns) {
  if (Succeeds({"link", "show", ifname})) return Must({"link", "del", ifname});
  if (!netns.empty() && Succeeds({"-n", netns, "link", "show", ifname})) {
    return Must({"-n", netns, "link", "del", ifname});
  }
  return Status::Ok();
}


}  // namespace zunvm
