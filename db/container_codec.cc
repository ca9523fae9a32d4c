#include "db/container_codec.h"

#include "common/base64.h"
#include "common/json_opt.h"

namespace zunvm {

using nlohmann::json;

namespace {

std::optional<TimePoint> GetTime(const json& j, const char* key) {
  auto v = GetOpt<int64_t>(j, key);
  if (!v) return std::nullopt;
  return FromMicros(*v);
}

}  // namespace

json ToStorageJson(const Container& c) {
  json j;
  j["uuid"] = c.uuid;
  j["name"] = c.name;
  j["image"] = c.image;
  j["command"] = Opt(c.command);
  j["entrypoint"] = Opt(c.entrypoint);
  j["status"] = ToString(c.status);
  j["status_reason"] = Opt(c.status_reason);
  j["task_state"] = c.task_state ? json(ToString(*c.task_state)) : json(nullptr);
  j["cpu"] = c.cpu;
  j["memory"] = c.memory;
  j["disk"] = Opt(c.disk);
  j["cpu_policy"] = Opt(c.cpu_policy);
  j["environment"] = c.environment;
  j["workdir"] = Opt(c.workdir);
  j["labels"] = c.labels;
  j["hostname"] = Opt(c.hostname);
  j["ports"] = c.ports;
  j["exposed_ports"] = c.exposed_ports;
  j["addresses"] = c.addresses;
  j["nets"] = c.requested_nets;
  j["published_ports"] = c.published_ports;
  json mounts = json::array();
  for (const auto& m : c.mounts) {
    json o{{"type", ToString(m.type)}, {"source", m.source}, {"destination", m.destination},
           {"read_only", m.read_only}, {"auto_remove", m.auto_remove}};
    if (!m.volume_uuid.empty()) o["volume_uuid"] = m.volume_uuid;
    if (m.size_gib) o["size_gib"] = *m.size_gib;
    if (!m.serial.empty()) o["serial"] = m.serial;
    if (!m.fstype.empty()) o["fstype"] = m.fstype;
    if (m.type == ContainerMount::Type::kBind) o["content"] = Base64Encode(m.content);
    mounts.push_back(std::move(o));
  }
  j["mounts"] = std::move(mounts);
  j["host"] = Opt(c.host);
  j["restart_policy"] = {{"name", c.restart_policy.name}, {"max_retry", c.restart_policy.max_retry}};
  j["image_pull_policy"] = Opt(c.image_pull_policy);
  j["image_driver"] = Opt(c.image_driver);
  j["interactive"] = c.interactive;
  j["tty"] = c.tty;
  j["security_groups"] = c.security_groups;
  j["auto_remove"] = c.auto_remove;
  j["auto_heal"] = c.auto_heal;
  j["runtime"] = Opt(c.runtime);
  j["guest_kernel"] = Opt(c.guest_kernel);
  j["privileged"] = c.privileged;
  if (c.healthcheck) {
    j["healthcheck"] = {{"test", c.healthcheck->test},
                        {"interval", c.healthcheck->interval},
                        {"retries", c.healthcheck->retries},
                        {"timeout", c.healthcheck->timeout}};
  } else {
    j["healthcheck"] = nullptr;
  }
  j["health"] = c.health ? json(ToString(*c.health)) : json(nullptr);
  j["registry_id"] = Opt(c.registry_id);
  j["user_id"] = c.user_id;
  j["project_id"] = c.project_id;
  j["created_at"] = ToMicros(c.created_at);
  j["updated_at"] = c.updated_at ? json(ToMicros(*c.updated_at)) : json(nullptr);
  j["container_id"] = Opt(c.container_id);
  j["started_at"] = c.started_at ? json(ToMicros(*c.started_at)) : json(nullptr);
  j["finished_at"] = c.finished_at ? json(ToMicros(*c.finished_at)) : json(nullptr);
  j["exit_code"] = Opt(c.exit_code);
  j["restart_count"] = c.restart_count;
  j["manually_stopped"] = c.manually_stopped;
  j["image_environment"] = c.image_environment;
  j["availability_zone"] = Opt(c.availability_zone);
  j["capsule_id"] = Opt(c.capsule_id);
  j["init_container"] = c.init_container;
  return j;
}

Container FromStorageJson(const json& j) {
  Container c;
  c.uuid = j.at("uuid").get<std::string>();
  c.name = j.at("name").get<std::string>();
  c.image = j.at("image").get<std::string>();
  c.command = GetOpt<std::vector<std::string>>(j, "command");
  c.entrypoint = GetOpt<std::vector<std::string>>(j, "entrypoint");
  c.status = ParseContainerStatus(j.at("status").get<std::string>()).value_or(ContainerStatus::kUnknown);
  c.status_reason = GetOpt<std::string>(j, "status_reason");
  if (auto t = GetOpt<std::string>(j, "task_state")) c.task_state = ParseTaskState(*t);
  c.cpu = j.value("cpu", 1.0);
  c.memory = j.value("memory", int64_t{512});
  c.disk = GetOpt<int64_t>(j, "disk");
  c.cpu_policy = GetOpt<std::string>(j, "cpu_policy");
  c.environment = j.value("environment", std::map<std::string, std::string>{});
  c.workdir = GetOpt<std::string>(j, "workdir");
  c.labels = j.value("labels", std::map<std::string, std::string>{});
  c.hostname = GetOpt<std::string>(j, "hostname");
  c.ports = j.value("ports", std::vector<int>{});
  c.exposed_ports = j.value("exposed_ports", std::map<std::string, json>{});
  c.addresses = j.value("addresses", json::object());
  c.requested_nets = j.value("nets", json::array());
  c.published_ports = j.value("published_ports", json::array());
  if (auto ms = j.find("mounts"); ms != j.end() && ms->is_array()) {
    for (const auto& o : *ms) {
      ContainerMount m;
      m.type = ParseMountType(o.value("type", "volume")).value_or(ContainerMount::Type::kVolume);
      m.source = o.value("source", "");
      m.volume_uuid = o.value("volume_uuid", "");
      m.size_gib = GetOpt<int64_t>(o, "size_gib");
      m.destination = o.value("destination", "");
      m.read_only = o.value("read_only", false);
      m.auto_remove = o.value("auto_remove", false);
      m.serial = o.value("serial", "");
      m.fstype = o.value("fstype", "");
      m.content = Base64Decode(o.value("content", "")).value_or("");
      c.mounts.push_back(std::move(m));
    }
  }
  c.host = GetOpt<std::string>(j, "host");
  if (auto rp = j.find("restart_policy"); rp != j.end() && rp->is_object()) {
    c.restart_policy.name = rp->value("name", std::string());
    c.restart_policy.max_retry = rp->value("max_retry", 0);
  }
  c.image_pull_policy = GetOpt<std::string>(j, "image_pull_policy");
  c.image_driver = GetOpt<std::string>(j, "image_driver");
  c.interactive = j.value("interactive", false);
  c.tty = j.value("tty", false);
  c.security_groups = j.value("security_groups", std::vector<std::string>{});
  c.auto_remove = j.value("auto_remove", false);
  c.auto_heal = j.value("auto_heal", false);
  c.runtime = GetOpt<std::string>(j, "runtime");
  c.guest_kernel = GetOpt<std::string>(j, "guest_kernel");
  c.privileged = j.value("privileged", false);
  if (auto hc = j.find("healthcheck"); hc != j.end() && hc->is_object()) {
    c.healthcheck = Healthcheck{hc->value("test", std::string()), hc->value("interval", 0),
                                hc->value("retries", 0), hc->value("timeout", 0)};
  }
  if (auto h = GetOpt<std::string>(j, "health")) c.health = ParseHealth(*h);
  c.registry_id = GetOpt<std::string>(j, "registry_id");
  c.user_id = j.value("user_id", std::string());
  c.project_id = j.value("project_id", std::string());
  c.created_at = FromMicros(j.value("created_at", int64_t{0}));
  c.updated_at = GetTime(j, "updated_at");
  c.container_id = GetOpt<std::string>(j, "container_id");
  c.started_at = GetTime(j, "started_at");
  c.finished_at = GetTime(j, "finished_at");
  c.exit_code = GetOpt<int>(j, "exit_code");
  c.restart_count = j.value("restart_count", 0);
  c.manually_stopped = j.value("manually_stopped", false);
  c.image_environment = j.value("image_environment", std::map<std::string, std::string>{});
  c.availability_zone = GetOpt<std::string>(j, "availability_zone");
  c.capsule_id = GetOpt<std::string>(j, "capsule_id");
  c.init_container = j.value("init_container", false);
  return c;
}

}  // namespace zunvm
