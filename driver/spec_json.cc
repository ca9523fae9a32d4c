#include "driver/spec_json.h"

namespace zunvm {

using nlohmann::json;

json NicToJson(const SandboxNic& n) {
  json out{{"port_id", n.port_id}, {"network_uuid", n.network_uuid}, {"netns", n.netns},
           {"mac", n.mac}, {"address", n.address}, {"prefix_len", n.prefix_len},
           {"gateway", n.gateway}, {"mtu", n.mtu}};
  if (!n.ovs_bridge.empty()) {
    out.update({{"ovs_bridge", n.ovs_bridge}, {"subnet_id", n.subnet_id},
                {"preserve_on_delete", n.preserve_on_delete}, {"nameservers", n.nameservers}});
  }
  return out;
}

SandboxNic NicFromJson(const json& n) {
  SandboxNic nic;
  nic.port_id = n.at("port_id").get<std::string>();
  nic.network_uuid = n.value("network_uuid", "");
  nic.netns = n.at("netns").get<std::string>();
  nic.mac = n.at("mac").get<std::string>();
  nic.address = n.at("address").get<std::string>();
  nic.prefix_len = n.value("prefix_len", 24);
  nic.gateway = n.value("gateway", "");
  nic.mtu = n.value("mtu", 1500);
  nic.ovs_bridge = n.value("ovs_bridge", "");
  nic.subnet_id = n.value("subnet_id", "");
  nic.preserve_on_delete = n.value("preserve_on_delete", false);
  nic.nameservers = n.value("nameservers", std::vector<std::string>{});
  return nic;
}

namespace {

json NicsToJson(const std::vector<SandboxNic>& nics) {
  json out = json::array();
  for (const auto& n : nics) out.push_back(NicToJson(n));
  return out;
}

std::vector<SandboxNic> NicsFromJson(const json& j) {
  std::vector<SandboxNic> out;
  for (const auto& n : j) out.push_back(NicFromJson(n));
  return out;
}

}  // namespace

json SpecToJson(const SandboxSpec& s) {
  return json{{"uuid", s.uuid}, {"name", s.name}, {"image", s.image}, {"argv", s.argv},
              {"env", s.env}, {"workdir", s.workdir}, {"hostname", s.hostname}, {"user", s.user},
              {"cpu", s.cpu}, {"memory_mib", s.memory_mib}, {"disk_gib", s.disk_gib},
              {"tty", s.tty}, {"interactive", s.interactive}, {"privileged", s.privileged}, {"runtime", s.runtime},
              {"labels", s.labels}, {"image_disk", s.image_disk}, {"upper_disk", s.upper_disk},
              {"nics", NicsToJson(s.nics)}, {"resolv_conf", s.resolv_conf}};
}

SandboxSpec SpecFromJson(const json& j) {
  SandboxSpec s;
  s.uuid = j.at("uuid").get<std::string>();
  s.name = j.value("name", "");
  s.image = j.value("image", "");
  s.argv = j.value("argv", std::vector<std::string>{});
  s.env = j.value("env", std::map<std::string, std::string>{});
  s.workdir = j.value("workdir", "");
  s.hostname = j.value("hostname", "");
  s.user = j.value("user", "");
  s.cpu = j.value("cpu", 1.0);
  s.memory_mib = j.value("memory_mib", int64_t{512});
  s.disk_gib = j.value("disk_gib", int64_t{0});
  s.tty = j.value("tty", false);
  s.interactive = j.value("interactive", false);
  s.privileged = j.value("privileged", false);
  s.runtime = j.value("runtime", "");
  s.labels = j.value("labels", std::map<std::string, std::string>{});
  s.image_disk = j.value("image_disk", "");
  s.upper_disk = j.value("upper_disk", "");
  if (j.contains("nics")) s.nics = NicsFromJson(j.at("nics"));
  s.resolv_conf = j.value("resolv_conf", "");
  return s;
}

}  // namespace zunvm
