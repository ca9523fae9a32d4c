#include "network/network_check.h"

#include <unistd.h>

#include "common/subprocess.h"

namespace zunvm {

namespace {

// The first line of a failed command's message.
std::string FirstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

CheckItem CheckBridge() {
  const std::string ns = "zvchk-" + std::to_string(::getpid());
  Status st = RunChecked({"ip", "netns", "add", ns});
  if (st.ok()) {
    st = RunChecked({"ip", "-n", ns, "link", "add", "br0", "type", "bridge"});
    Status del = RunChecked({"ip", "netns", "del", ns});
    if (st.ok()) st = del;
  }
  if (!st.ok()) {
    return {"bridges", CheckLevel::kFatal, FirstLine(st.message()),
            "zunvmd must run as root with iproute2 (apt-get install iproute2) and the bridge module"};
  }
  return {"bridges", CheckLevel::kOk, "a network namespace with a bridge can be made", ""};
}

CheckItem CheckNft(bool nat) {
  Status st = RunChecked({"nft", "list", "tables"});
  if (st.ok()) return {"nftables", CheckLevel::kOk, "nft answers", ""};
  if (!nat) return {"nftables", CheckLevel::kOk, "not used ([network] nat = false): " + FirstLine(st.message()), ""};
  return {"nftables", CheckLevel::kFatal, FirstLine(st.message()),
          "apt-get install nftables, or set [network] nat = false"};
}

CheckItem CheckOvs(const std::string& bridge) {
  Status st = RunChecked({"ovs-vsctl", "--timeout=5", "br-exists", bridge});
  if (st.ok()) return {"open vswitch", CheckLevel::kOk, "bridge " + bridge + " exists", ""};
  return {"open vswitch", CheckLevel::kFatal, "bridge " + bridge + ": " + FirstLine(st.message()),
          "start ovs-vswitchd and create the bridge Neutron's agent uses, or unset [network] ovs_bridge"};
}

}  // namespace

std::vector<CheckItem> CheckNetworkHost(const NetworkCheckInput& in) {
  std::vector<CheckItem> out{CheckBridge(), CheckNft(in.nat)};
  if (!in.ovs_bridge.empty()) out.push_back(CheckOvs(in.ovs_bridge));
  return out;
}

}  // namespace zunvm
