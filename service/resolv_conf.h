// The containers' /etc/resolv.conf, made the way Docker makes it: the nameservers configured
// ([network] dns_nameservers) or else the host's own less loopback addresses (a guest cannot
// reach the host's 127.0.0.53), with a Neutron port's subnet nameservers first.
// Thread safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "driver/driver.h"

namespace zunvm {

// The IPv4 `nameserver` lines of a resolv.conf text, less 127.0.0.0/8, in order.
std::vector<std::string> ReachableNameservers(const std::string& resolv_conf_text);
// The file: the NICs' own nameservers, then `nameservers`, without repeats; then `search`.
// Empty when there is no nameserver at all (the image's file is kept).
std::string BuildResolvConf(const std::vector<SandboxNic>& nics, const std::vector<std::string>& nameservers,
                            const std::vector<std::string>& search);

}  // namespace zunvm
