// IpHostNetwork's outbound NAT (host_network.h): iproute2, sysctl files and nft, argv only.
#include <fstream>
#include <vector>

#include "common/ipv4.h"
#include "common/subprocess.h"
#include "network/host_network.h"

namespace zunvm {
namespace {

constexpr const char* kTable = "zunvm";

std::string Output(const std::vector<std::string>& argv) {
  auto r = RunProcess(argv);
  return r && r->exit_code == 0 ? r->output : "";
}

Status WriteSysctl(const std::string& path, const std::string& value) {
  std::ofstream f(path);
  f << value;
  f.flush();
  return f ? Status::Ok() : Status::Internal("cannot write " + path);
}

// The table, its chains and the two rules every network shares (idempotent: `add` of an
// existing table or chain is a no-op, and the fixed rules are added only to new chains).
Status EnsureTable() {
  if (Output({"nft", "list", "table", "inet", kTable}).empty()) {
    ZUNVM_RETURN_IF_ERROR(RunChecked({"nft", "add", "table", "inet", kTable}));
    ZUNVM_RETURN_IF_ERROR(RunChecked({"nft", "add", "chain", "inet", kTable, "input",
                               "{ type filter hook input priority 0 ; policy accept ; }"}));
    ZUNVM_RETURN_IF_ERROR(RunChecked({"nft", "add", "rule", "inet", kTable, "input", "iifname", "zvx*", "ct", "state",
                               "established,related", "accept"}));
    ZUNVM_RETURN_IF_ERROR(RunChecked({"nft", "add", "rule", "inet", kTable, "input", "iifname", "zvx*", "drop"}));
    ZUNVM_RETURN_IF_ERROR(RunChecked({"nft", "add", "chain", "inet", kTable, "forward",
                               "{ type filter hook forward priority 0 ; policy accept ; }"}));
    ZUNVM_RETURN_IF_ERROR(RunChecked({"nft", "add", "rule", "inet", kTable, "forward", "iifname", "zvx*", "oifname",
                               "zvx*", "drop"}));
    ZUNVM_RETURN_IF_ERROR(RunChecked({"nft", "add", "chain", "inet", kTable, "postrouting",
                               "{ type nat hook postrouting priority 100 ; policy accept ; }"}));
  }
  return Status::Ok();
}

// The handle of the masquerade rule of `subnet`, or "".
std::string MasqueradeHandle(const std::string& subnet) {
  std::string text = Output({"nft", "-a", "list", "chain", "inet", kTable, "postrouting"});
  size_t at = text.find("ip saddr " + subnet + " ");
  if (at == std::string::npos) return "";
  size_t eol = text.find('\n', at);
  std::string line = text.substr(at, eol == std::string::npos ? std::string::npos : eol - at);
  size_t h = line.find("# handle ");
  return h == std::string::npos ? "" : line.substr(h + 9);
}

}  // namespace

std::string NatLinkName(const std::string& netns) {
  return "zvx" + (netns.size() > 4 ? netns.substr(4) : netns);
}

Status IpHostNetwork::EnableNat(const std::string& netns, const std::string& subnet) {
  auto s = ParseIpv4Subnet(subnet);
  if (!s) return s.error();
  std::lock_guard<std::mutex> lock(ensure_mu_);
  std::string host = NatLinkName(netns);
  std::string peer = "zvy" + host.substr(3);
  if (Output({"ip", "link", "show", host}).empty()) {
    ZUNVM_RETURN_IF_ERROR(RunChecked({"ip", "link", "add", host, "type", "veth", "peer", "name", peer}));
    ZUNVM_RETURN_IF_ERROR(RunChecked({"ip", "link", "set", peer, "netns", netns}));
  }
  ZUNVM_RETURN_IF_ERROR(RunChecked({"ip", "link", "set", host, "up"}));
  ZUNVM_RETURN_IF_ERROR(RunChecked({"ip", "-n", netns, "link", "set", peer, "up"}));
  ZUNVM_RETURN_IF_ERROR(WriteSysctl("/proc/sys/net/ipv4/ip_forward", "1"));
  ZUNVM_RETURN_IF_ERROR(WriteSysctl("/proc/sys/net/ipv4/conf/" + host + "/proxy_arp", "1"));
  ZUNVM_RETURN_IF_ERROR(RunChecked({"ip", "netns", "exec", netns, "sysctl", "-qw", "net.ipv4.ip_forward=1"}));
  ZUNVM_RETURN_IF_ERROR(RunChecked({"ip", "netns", "exec", netns, "sysctl", "-qw", "net.ipv4.conf." + peer + ".proxy_arp=1"}));
  ZUNVM_RETURN_IF_ERROR(RunChecked({"ip", "-n", netns, "route", "replace", "default", "dev", peer}));
  ZUNVM_RETURN_IF_ERROR(RunChecked({"ip", "route", "replace", s->ToString(), "dev", host}));
  ZUNVM_RETURN_IF_ERROR(EnsureTable());
  if (MasqueradeHandle(s->ToString()).empty()) {
    ZUNVM_RETURN_IF_ERROR(RunChecked({"nft", "add", "rule", "inet", kTable, "postrouting", "ip", "saddr", s->ToString(),
                               "oifname", "!=", "zvx*", "masquerade"}));
  }
  return Status::Ok();
}

Status IpHostNetwork::DisableNat(const std::string& netns, const std::string& subnet) {
  auto s = ParseIpv4Subnet(subnet);
  if (!s) return s.error();
  std::lock_guard<std::mutex> lock(ensure_mu_);
  std::string host = NatLinkName(netns);
  if (!Output({"ip", "link", "show", host}).empty()) ZUNVM_RETURN_IF_ERROR(RunChecked({"ip", "link", "del", host}));
  std::string handle = MasqueradeHandle(s->ToString());
  if (!handle.empty()) {
    ZUNVM_RETURN_IF_ERROR(RunChecked({"nft", "delete", "rule", "inet", kTable, "postrouting", "handle", handle}));
  }
  return Status::Ok();
}

}  // namespace zunvm
