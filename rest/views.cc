#include "rest/views.h"

#include "common/json_opt.h"

namespace zunvm {

using nlohmann::json;

namespace {
json OptTime(const std::optional<TimePoint>& t) {
  return t ? json(FormatApiTime(*t)) : json(nullptr);
}
}  // namespace

json Links(const std::string& base_url, const std::string& collection, const std::string& id) {
  return json::array({{{"href", base_url + "/v1/" + collection + "/" + id}, {"rel", "self"}},
                      {{"href", base_url + "/" + collection + "/" + id}, {"rel", "bookmark"}}});
}

json MountsView(const std::vector<ContainerMount>& mounts) {
  json out = json::array();
  for (const auto& m : mounts) {
    json o{{"type", ToString(m.type)}, {"destination", m.destination}, {"read_only", m.read_only}};
    switch (m.type) {
      case ContainerMount::Type::kVolume:
        o["source"] = m.source.empty() ? m.volume_uuid : m.source;
        o["volume_id"] = m.volume_uuid;
        o["size"] = Opt(m.size_gib);
        o["auto_remove"] = m.auto_remove;
        break;
      case ContainerMount::Type::kBind:  // the file's contents are not echoed back
        o["source"] = "";
        o["size_bytes"] = m.content.size();
        break;
      case ContainerMount::Type::kBlock:
        o["source"] = m.source;
        o["serial"] = m.serial;
        break;
    }
    out.push_back(std::move(o));
  }
  return out;
}

json VolumeView(const VolumeRecord& v, const std::string& base_url) {
  json atts = json::array();
  for (const auto& a : v.attachments) {
    atts.push_back({{"container_uuid", a.container_uuid}, {"destination", a.destination}, {"read_only", a.read_only}});
  }
  return {{"uuid", v.uuid},
          {"links", Links(base_url, "volumes", v.uuid)},
          {"name", Opt(v.name)},
          {"size", v.size_gib},
          {"format", v.format},
          {"auto_remove", v.auto_remove},
          {"status", v.attachments.empty() ? "available" : "in-use"},
          {"attachments", std::move(atts)},
          {"project_id", v.project_id},
          {"user_id", v.user_id},
          {"created_at", v.created_at}};
}

json ContainerView(const Container& c, const std::string& base_url, TimePoint now, bool admin) {
  json j;
  j["uuid"] = c.uuid;
  j["links"] = Links(base_url, "containers", c.uuid);
  j["name"] = c.name;
  j["image"] = c.image;
  j["command"] = Opt(c.command);
  j["entrypoint"] = Opt(c.entrypoint);
  j["status"] = ToString(c.status);
  j["status_reason"] = Opt(c.status_reason);
  j["status_detail"] = c.StatusDetail(now);
  j["task_state"] = c.task_state ? json(ToString(*c.task_state)) : json(nullptr);
  j["cpu"] = c.cpu;
  j["memory"] = std::to_string(c.memory);
  j["disk"] = Opt(c.disk);
  j["cpu_policy"] = Opt(c.cpu_policy);
  j["environment"] = c.environment;
  j["workdir"] = Opt(c.workdir);
  j["labels"] = c.labels;
  j["hostname"] = Opt(c.hostname);
  j["ports"] = c.ports;
  j["published_ports"] = c.published_ports;
  j["mounts"] = MountsView(c.mounts);
  j["addresses"] = c.addresses;
  j["host"] = Opt(c.host);
  if (c.restart_policy.name.empty()) {
    j["restart_policy"] = json::object();
  } else {
    j["restart_policy"] = {{"Name", c.restart_policy.name},
                           {"MaximumRetryCount", std::to_string(c.restart_policy.max_retry)}};
  }
  j["image_pull_policy"] = Opt(c.image_pull_policy);
  j["image_driver"] = Opt(c.image_driver);
  j["interactive"] = c.interactive;
  j["tty"] = c.tty;
  j["security_groups"] = c.security_groups;
  j["auto_remove"] = c.auto_remove;
  j["auto_heal"] = c.auto_heal;
  j["runtime"] = Opt(c.runtime);
  j["guest_kernel"] = Opt(c.guest_kernel);  // zunvm extension (docs/runtimes.md)
  j["privileged"] = c.privileged;
  if (c.healthcheck) {
    j["healthcheck"] = {{"test", c.healthcheck->test},
                        {"interval", c.healthcheck->interval},
                        {"retries", c.healthcheck->retries},
                        {"timeout", c.healthcheck->timeout}};
  } else {
    j["healthcheck"] = json::object();
  }
  j["registry_id"] = Opt(c.registry_id);
  j["user_id"] = c.user_id;
  j["project_id"] = c.project_id;
  j["created_at"] = FormatApiTime(c.created_at);
  j["updated_at"] = OptTime(c.updated_at);
  if (!admin) {
    // Zun's policy container:get_one:<field> (admin_api) strips these for other callers.
    for (const char* k : kAdminOnlyContainerFields) j.erase(k);
  }
  return j;
}

json CapsuleView(const Capsule& c, const std::vector<Container>& init_members,
                 const std::vector<Container>& members, const std::string& base_url, const ApiVersion& v,
                 TimePoint now, bool admin) {
  bool legacy = !v.AtLeast(32);
  json j;
  j["uuid"] = c.uuid;
  j["links"] = Links(base_url, "capsules", c.uuid);
  if (legacy) {
    j["volumes_info"] = json::object();
    j["containers_uuids"] = json::array();
    j["init_containers_uuids"] = json::array();
    j["capsule_version"] = "";
  }
  j["user_id"] = c.user_id;
  j["project_id"] = c.project_id;
  j["created_at"] = FormatApiTime(c.created_at);
  j["updated_at"] = OptTime(c.updated_at);
  j["addresses"] = c.addresses;
  j["status"] = ToString(c.status);
  j["status_reason"] = Opt(c.status_reason);
  if (legacy) {
    if (!c.restart_policy.name.empty()) j["restart_policy"] = c.restart_policy.name;
  } else if (c.restart_policy.name.empty()) {
    j["restart_policy"] = json::object();
  } else {
    j["restart_policy"] = {{"Name", c.restart_policy.name},
                           {"MaximumRetryCount", std::to_string(c.restart_policy.max_retry)}};
  }
  j[legacy ? "meta_name" : "name"] = Opt(c.name);
  j[legacy ? "meta_labels" : "labels"] = c.labels;
  if (v.AtLeast(38)) j["annotations"] = c.annotations;
  j["memory"] = std::to_string(c.memory);
  j["cpu"] = c.cpu;
  auto render = [&](const std::vector<Container>& list) {
    json out = json::array();
    for (const auto& m : list) out.push_back(ContainerView(m, base_url, now, admin));
    return out;
  };
  if (v.AtLeast(34)) j["init_containers"] = render(init_members);
  j["containers"] = render(members);
  if (admin) j["host"] = Opt(c.host);
  return j;
}

json ActionView(const ContainerAction& a, bool with_events, bool finish_time) {
  json j = {{"action", a.action},
            {"container_uuid", a.container_uuid},
            {"request_id", a.request_id},
            {"user_id", a.user_id},
            {"project_id", a.project_id},
            {"start_time", FormatApiTime(a.start_time)},
            {"message", Opt(a.message)}};
  if (finish_time) j["finish_time"] = OptTime(a.finish_time);
  if (with_events) {
    json evs = json::array();
    for (const auto& e : a.events) {
      evs.push_back({{"event", e.event},
                     {"start_time", FormatApiTime(e.start_time)},
                     {"finish_time", OptTime(e.finish_time)},
                     {"result", Opt(e.result)},
                     {"traceback", Opt(e.traceback)}});
    }
    j["events"] = evs;
  }
  return j;
}

json HostView(const HostRecord& h, const std::string& base_url) {
  return {{"uuid", h.uuid},
          {"links", Links(base_url, "hosts", h.uuid)},
          {"hostname", h.info.hostname},
          {"mem_total", h.info.mem_total_mib},
          {"mem_used", h.mem_used},
          {"mem_free", h.info.mem_free_mib},
          {"mem_available", h.info.mem_available_mib},
          {"cpus", h.info.cpus},
          {"cpu_used", h.cpu_used},
          {"disk_total", h.info.disk_total_gib},
          {"disk_used", h.disk_used},
          {"disk_quota_supported", h.disk_quota_supported},
          {"total_containers", h.total_containers},
          {"running_containers", h.running_containers},
          {"paused_containers", h.paused_containers},
          {"stopped_containers", h.stopped_containers},
          {"architecture", h.info.architecture},
          {"os_type", h.info.os_type},
          {"os", h.info.os},
          {"kernel_version", h.info.kernel_version},
          {"labels", h.labels},
          {"runtimes", h.runtimes},
          {"enable_cpu_pinning", false}};
}

json Collection(const std::string& name, json items, size_t limit, const std::string& next_url) {
  json j;
  bool full = items.size() == limit && limit > 0;
  j[name] = std::move(items);
  j["next"] = full ? json(next_url) : json(nullptr);
  return j;
}

std::string DumpJson(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string CollectionText(const std::string& name, size_t count,
                           const std::function<void(size_t, std::string&)>& append_item, size_t limit,
                           const std::string& next_url) {
  std::string out;
  out.reserve(count * 1024 + 64);  // a container's view is about 1 KB
  out += "{" + DumpJson(name) + ":[";
  for (size_t i = 0; i < count; ++i) {
    if (i > 0) out += ',';
    append_item(i, out);
  }
  const bool full = count == limit && limit > 0;
  out += "],\"next\":" + (full ? DumpJson(next_url) : std::string("null")) + "}";
  return out;
}

}  // namespace zunvm
