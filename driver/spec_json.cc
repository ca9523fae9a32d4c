#include "driver/spec_json.h"

#include "common/base64.h"

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

json VolumesToJson(const std::vector<SandboxVolume>& volumes) {
  json out = json::array();
  for (const auto& v : volumes) {
    out.push_back({{"path", v.path}, {"block", v.block}, {"serial", v.serial}, {"fstype", v.fstype},
                   {"destination", v.destination}, {"read_only", v.read_only}});
  }
  return out;
}

std::vector<SandboxVolume> VolumesFromJson(const json& j) {
  std::vector<SandboxVolume> out;
  for (const auto& v : j) {
    out.push_back({v.at("path").get<std::string>(), v.value("block", false), v.at("serial").get<std::string>(),
                   v.value("fstype", "ext4"), v.at("destination").get<std::string>(), v.value("read_only", false)});
  }
  return out;
}

// File contents are bytes: base64 in JSON.
json FilesToJson(const std::vector<SandboxFile>& files) {
  json out = json::array();
  for (const auto& f : files) out.push_back({{"destination", f.destination}, {"content", Base64Encode(f.content)}});
  return out;
}

std::vector<SandboxFile> FilesFromJson(const json& j) {
  std::vector<SandboxFile> out;
  for (const auto& f : j) {
    auto raw = Base64Decode(f.at("content").get<std::string>());
    if (!raw) throw json::other_error::create(501, "a file's content is not base64", &f);
    out.push_back({f.at("destination").get<std::string>(), std::move(*raw)});
  }
  return out;
}

}  // namespace

json SpecToJson(const SandboxSpec& s) {
  json out{{"uuid", s.uuid}, {"name", s.name}, {"image", s.image}, {"argv", s.argv},
              {"env", s.env}, {"workdir", s.workdir}, {"hostname", s.hostname}, {"user", s.user},
              {"cpu", s.cpu}, {"memory_mib", s.memory_mib}, {"disk_gib", s.disk_gib},
              {"tty", s.tty}, {"interactive", s.interactive}, {"privileged", s.privileged}, {"runtime", s.runtime},
              {"labels", s.labels}, {"image_disk", s.image_disk}, {"upper_disk", s.upper_disk},
              {"nics", NicsToJson(s.nics)}, {"resolv_conf", s.resolv_conf},
              {"volumes", VolumesToJson(s.volumes)}, {"files", FilesToJson(s.files)}};
  if (!s.members.empty()) {
    out["members"] = json::array();
    for (const auto& m : s.members) out["members"].push_back(SpecToJson(m));
  }
  return out;
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
  if (j.contains("volumes")) s.volumes = VolumesFromJson(j.at("volumes"));
  if (j.contains("files")) s.files = FilesFromJson(j.at("files"));
  if (j.contains("members")) {
    for (const auto& m : j.at("members")) s.members.push_back(SpecFromJson(m));
  }
  return s;
}

}  // namespace zunvm
