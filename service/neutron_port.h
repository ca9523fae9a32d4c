// A Neutron port as the Zun driver passes it in a create's `nets` (OpenStack mode): zunvmd
// checks it and turns it into the SandboxNic it plugs into [network] ovs_bridge. Neutron made
// the port and owns its address; zunvmd neither allocates nor frees anything in Neutron.
//
// The entry (docs/networking.md):
//   {"network": <uuid>, "port": <uuid>, "mac_address": "fa:16:3e:..",
//    "fixed_ips": [{"ip_address", "cidr", "gateway_ip" (or null), "subnet_id"}],  exactly one, IPv4
//    "mtu": 576..9000 (optional), "dns_nameservers": [IPv4...] (optional),
//    "preserve_on_delete": bool (optional)}
//
// Thread safety: pure functions. Errors: InvalidArgument ("InvalidValue") naming the field; the
// entry is hostile input and nothing in it is trusted.
#pragma once

#include <nlohmann/json.hpp>

#include "common/config.h"
#include "driver/driver.h"

namespace zunvm {

// True when a `nets` entry names a Neutron port (a non-empty "port").
bool IsNeutronPortEntry(const nlohmann::json& entry);
// InvalidArgument also when [network] ovs_bridge is not set (OpenStack mode is off).
Result<SandboxNic> ParseNeutronPort(const nlohmann::json& entry, const Config& cfg);

}  // namespace zunvm
