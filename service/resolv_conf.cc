#include "service/resolv_conf.h"

#include <algorithm>
#include <sstream>

#include "common/ipv4.h"

namespace zunvm {

std::vector<std::string> ReachableNameservers(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string key, value;
    if (!(words >> key >> value) || key != "nameserver") continue;
    auto a = ParseIpv4(value);
    if (!a || (*a >> 24) == 127) continue;
    out.push_back(FormatIpv4(*a));
  }
  return out;
}

std::string BuildResolvConf(const std::vector<SandboxNic>& nics, const std::vector<std::string>& nameservers,
                            const std::vector<std::string>& search) {
  std::vector<std::string> all;
  auto add = [&](const std::string& ns) {
    if (std::find(all.begin(), all.end(), ns) == all.end()) all.push_back(ns);
  };
  for (const auto& n : nics) {
    for (const auto& ns : n.nameservers) add(ns);
  }
  for (const auto& ns : nameservers) add(ns);
  if (all.empty()) return "";
  std::string out;
  for (const auto& ns : all) out += "nameserver " + ns + "\n";
  if (!search.empty()) {
    out += "search";
    for (const auto& d : search) out += " " + d;
    out += "\n";
  }
  return out;
}

}  // namespace zunvm
