// JSON views: how records are rendered for the API (Zun's views/*.py shapes).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "model/action.h"
#include "model/container.h"
#include "service/host_service.h"
#include "service/volume_service.h"

namespace zunvm {

nlohmann::json Links(const std::string& base_url, const std::string& collection,
                     const std::string& id);
// Fields only admins see (Zun's container:get_one:<field> rules) and may filter on.
inline constexpr const char* kAdminOnlyContainerFields[] = {"host", "image_pull_policy", "privileged", "runtime"};
// A container as the API shows it; without `admin`, the admin-only fields are left out.
nlohmann::json ContainerView(const Container& c, const std::string& base_url, TimePoint now, bool admin);
nlohmann::json ActionView(const ContainerAction& a, bool with_events, bool finish_time);
// A container's `mounts` (zunvm's rendering; Zun does not show them): never a bind's contents.
nlohmann::json MountsView(const std::vector<ContainerMount>& mounts);
// zunvm extension /v1/volumes.
nlohmann::json VolumeView(const VolumeRecord& v, const std::string& base_url);
nlohmann::json HostView(const HostRecord& h, const std::string& base_url);
// Collection body {"<name>": items, "next": url|null}; next is set when the page is full.
nlohmann::json Collection(const std::string& name, nlohmann::json items, size_t limit,
                          const std::string& next_url);

}  // namespace zunvm
