// `zunvmd check`, and the checks zunvmd runs before it serves: whether this host can run
// zunvmd as configured, item by item (common/host_check.h). The product's check covers the
// state dir, memory and cgroups, and for the libvirt driver libvirt, QEMU, KVM, the guest
// images and QEMU's reach of zunvm's files (driver/libvirt/host_check.h), and the network
// (network/network_check.h). Test builds pass their own HostCheck to ZunvmdMain.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/config.h"
#include "common/host_check.h"

namespace zunvm {

using HostCheck = std::function<std::vector<CheckItem>(const Config&)>;

// What every driver needs: room in the state dir's filesystem and how cgroups are mounted.
std::vector<CheckItem> CheckHostBasics(const Config& cfg);
// The product's check: the basics, and for [DEFAULT] container_driver = libvirt the rest.
std::vector<CheckItem> CheckHost(const Config& cfg);

// A table for people (one row per item, its fix below a problem) and the same as JSON:
// {"ok": bool, "checks": [{"name", "result", "found", "fix"}]}.
std::string CheckTable(const std::vector<CheckItem>& items);
nlohmann::json CheckJson(const std::vector<CheckItem>& items);

}  // namespace zunvm
