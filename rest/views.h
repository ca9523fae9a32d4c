// JSON views: how records are rendered for the API (Zun's views/*.py shapes).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/action.h"
#include "model/capsule.h"
#include "model/container.h"
#include "rest/microversion.h"
#include "service/host_service.h"
#include "service/volume_service.h"

namespace zunvm {

nlohmann::json Links(const std::string& base_url, const std::string& collection,
                     const std::string& id);
// Fields only admins see (Zun's container:get_one:<field> rules) and may filter on.
inline constexpr const char* kAdminOnlyContainerFields[] = {"host", "image_pull_policy", "privileged", "runtime"};
// A container as the API shows it; without `admin`, the admin-only fields are left out.
nlohmann::json ContainerView(const Container& c, const std::string& base_url, TimePoint now, bool admin);
// A capsule as Zun's capsules_view.format_capsule shows it, its members rendered with
// ContainerView. Below 1.32 the legacy shape (meta_name, meta_labels, restart_policy as its
// Name, empty volumes_info/containers_uuids/init_containers_uuids/capsule_version); from 1.32
// name, labels and restart_policy {"Name", "MaximumRetryCount"}; init_containers from 1.34,
// annotations from 1.38. `host` only for admins (Zun's capsule:get:host is admin_api).
nlohmann::json CapsuleView(const Capsule& c, const std::vector<Container>& init_members,
                           const std::vector<Container>& members, const std::string& base_url,
                           const ApiVersion& v, TimePoint now, bool admin);
nlohmann::json ActionView(const ContainerAction& a, bool with_events, bool finish_time);
// A container's `mounts` (zunvm's rendering; Zun does not show them): never a bind's contents.
nlohmann::json MountsView(const std::vector<ContainerMount>& mounts);
// zunvm extension /v1/volumes.
nlohmann::json VolumeView(const VolumeRecord& v, const std::string& base_url);
nlohmann::json HostView(const HostRecord& h, const std::string& base_url);
// How every JSON answer of the API is serialised: compact, invalid UTF-8 replaced.
std::string DumpJson(const nlohmann::json& j);
// Collection body {"<name>": items, "next": url|null}; next is set when the page is full.
nlohmann::json Collection(const std::string& name, nlohmann::json items, size_t limit,
                          const std::string& next_url);
// The same body, serialised: `append_item(i, out)` appends item i (of `count`), serialised
// with DumpJson, to the body.
std::string CollectionText(const std::string& name, size_t count,
                           const std::function<void(size_t, std::string&)>& append_item, size_t limit,
                           const std::string& next_url);

}  // namespace zunvm
