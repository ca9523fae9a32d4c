// oci_spec_tool: the config.json zunvm generates for a container, for tests/oci/test_oci_spec.py.
//
// stdin: {"spec": <a SandboxSpec as driver/spec_json.h writes it>, "options": {root_path,
// root_readonly, cgroups_path, netns_path, uid, gid, volume_sources, nofile,
// grantable_capabilities}} ("options" may be left out). stdout: the config.json. Exit 1 with
// the message on stderr when the spec is refused, 2 on malformed input.
#include <iostream>

#include <nlohmann/json.hpp>

#include "driver/oci/oci_spec.h"
#include "driver/spec_json.h"

namespace {

zunvm::oci::OciSpecOptions OptionsFromJson(const nlohmann::json& j) {
  zunvm::oci::OciSpecOptions o;
  o.root_path = j.value("root_path", o.root_path);
  o.root_readonly = j.value("root_readonly", o.root_readonly);
  o.cgroups_path = j.value("cgroups_path", o.cgroups_path);
  o.netns_path = j.value("netns_path", o.netns_path);
  if (j.contains("uid")) o.uid = j.at("uid").get<uint32_t>();
  if (j.contains("gid")) o.gid = j.at("gid").get<uint32_t>();
  o.volume_sources = j.value("volume_sources", o.volume_sources);
  o.nofile = j.value("nofile", o.nofile);
  o.grantable_capabilities = j.value("grantable_capabilities", o.grantable_capabilities);
  return o;
}

}  // namespace

int main() {
  zunvm::SandboxSpec spec;
  zunvm::oci::OciSpecOptions options;
  try {
    auto in = nlohmann::json::parse(std::cin);
    spec = zunvm::SpecFromJson(in.at("spec"));
    options = OptionsFromJson(in.value("options", nlohmann::json::object()));
  } catch (const nlohmann::json::exception& e) {
    std::cerr << "oci_spec_tool: bad input: " << e.what() << "\n";
    return 2;
  }
  auto config = zunvm::oci::BuildOciSpec(spec, options);
  if (!config) {
    std::cerr << "oci_spec_tool: " << config.error().message() << "\n";
    return 1;
  }
  std::cout << config->dump(2) << "\n";
  return 0;
}
