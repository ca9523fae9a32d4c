#include "rest/capsule_template.h"

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/ids.h"
#include "common/strings.h"
#include "rest/capsule_schema.h"

namespace zunvm {

using nlohmann::json;
using capsule_detail::InvalidTemplate;
using capsule_detail::OnlyKeys;
using capsule_detail::TemplateContainer;

namespace {

struct GivenMember {
  std::string uuid;
  std::string name;
};

Status NotAdmin(const std::string& key) {
  return Status(Code::kForbidden, "Policy doesn't allow capsule:create:" + key + " to be performed.",
                "PolicyNotAuthorized");
}

// The body's `members` (zunvm extension): [{"uuid", "name"}], uuids distinct.
Result<std::vector<GivenMember>> ParseMembers(const json& v) {
  if (!v.is_array()) return Err(SchemaError("members", v, "Expected an array of {\"uuid\", \"name\"} objects"));
  if (v.size() > kMaxCapsuleMembers) {
    return Err(Status::Invalid("members has " + std::to_string(v.size()) + " entries but a capsule has at most " +
                                   std::to_string(kMaxCapsuleMembers) + " containers.",
                               "SchemaValidationError"));
  }
  std::vector<GivenMember> out;
  std::set<std::string> uuids;
  for (size_t i = 0; i < v.size(); ++i) {
    const json& m = v[i];
    std::string where = "members[" + std::to_string(i) + "]";
    if (!m.is_object()) return Err(SchemaError(where, m, "Expected an object"));
    ZUNVM_RETURN_IF_ERROR(OnlyKeys(m, {"uuid", "name"}));
    auto uuid = m.find("uuid");
    auto name = m.find("name");
    if (uuid == m.end()) return Err(SchemaError(where, m, "'uuid' is a required property"));
    if (name == m.end()) return Err(SchemaError(where, m, "'name' is a required property"));
    if (!uuid->is_string() || !IsUuidLike(uuid->get<std::string>())) {
      return Err(SchemaError(where + ".uuid", *uuid, "Expected a uuid"));
    }
    if (!name->is_string() || !capsule_detail::IsContainerName(name->get<std::string>())) {
      return Err(SchemaError(where + ".name", *name, "Names must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]+$ (2 to 255 characters)"));
    }
    GivenMember g{CanonicalUuid(uuid->get<std::string>()), name->get<std::string>()};
    if (!uuids.insert(g.uuid).second) return Err(SchemaError(where + ".uuid", *uuid, "The uuid is given twice"));
    out.push_back(std::move(g));
  }
  return out;
}

// The template: the body's object, or `parsed` from its JSON text (check_capsule_template's
// jsonutils.loads). Never copied: a hostile value may be nested deeply, and copies recurse.
Result<const json*> TemplateObject(const json& t, json& parsed) {
  if (t.is_object()) return &t;
  if (!t.is_string()) return Err(SchemaError("template", t, "Expected an object or a JSON string of one"));
  try {
    parsed = json::parse(t.get<std::string>());
  } catch (const json::exception& e) {
    std::string reason = e.what();
    if (reason.size() > 200) reason = reason.substr(0, 200) + "...";
    return Err(Status::Invalid("Failed parse string to json: " + reason + ".", "FailedParseStringToJson"));
  }
  if (!parsed.is_object()) return Err(SchemaError("template", parsed, "Expected an object"));
  return &parsed;
}

// Kubernetes' restart policy names -> Docker's (utils.VALID_CAPSULE_RESTART_POLICY).
Result<std::string> RestartName(const std::string& f, const json& v) {
  if (v == "Never") return std::string("no");
  if (v == "Always") return std::string("always");
  if (v == "OnFailure") return std::string("on-failure");
  return Err(SchemaError(f, v, "Must be Always, OnFailure or Never"));
}

// Zun's NameGenerator ("<greek letter>-<1..24>"), distinct within one capsule.
std::string NameSuffix(std::set<std::string>& used) {
  for (int i = 0; i < 64; ++i) {
    std::string n = GenerateContainerName();  // "<letter>-<n>-container"
    n = n.substr(0, n.rfind("-container"));
    if (used.insert(n).second) return n;
  }
  std::string n = "x-" + RandomHex(4);
  used.insert(n);
  return n;
}

// A member's name: "capsule-<base>-<suffix>", the base shortened to fit 255 characters.
std::string MemberName(const std::string& base, const std::string& suffix) {
  size_t room = 255 - std::string("capsule--").size() - suffix.size();
  return "capsule-" + base.substr(0, room) + "-" + suffix;
}

// The capsule's name as a hostname: '_' and '.' become '-', at most 63 characters.
std::optional<std::string> HostnameOf(const std::string& name) {
  std::string h = name.substr(0, 63);
  std::replace_if(h.begin(), h.end(), [](char c) { return c == '_' || c == '.'; }, '-');
  while (!h.empty() && h.back() == '-') h.pop_back();
  if (h.size() < 2) return std::nullopt;
  return h;
}

Status ParseMetadata(const json& meta, Capsule& cap) {
  if (!meta.is_object()) return SchemaError("template.metadata", meta, "Expected an object");
  // Zun's capsule_metadata allows other keys: ignored.
  if (auto n = meta.find("name"); n != meta.end() && !n->is_null()) {
    if (!n->is_string() || !capsule_detail::IsContainerName(n->get<std::string>())) {
      return SchemaError("template.metadata.name", *n, "Names must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]+$ (2 to 255 characters)");
    }
    cap.name = n->get<std::string>();
  }
  if (auto l = meta.find("labels"); l != meta.end()) {
    auto m = capsule_detail::StringMap("template.metadata.labels", *l);
    if (!m) return m.error();
    cap.labels = std::move(*m);
  }
  if (auto a = meta.find("annotations"); a != meta.end()) {
    auto m = capsule_detail::StringMap("template.metadata.annotations", *a);
    if (!m) return m.error();
    cap.annotations = std::move(*m);
  }
  return Status::Ok();
}

// The template's own keys but spec: capsuleVersion, restartPolicy (deprecated), availabilityZone.
Status ParseTopLevel(const json& tpl, const Config& cfg, Capsule& cap, std::optional<std::string>& restart) {
  if (auto cv = tpl.find("capsuleVersion"); cv != tpl.end() && *cv != "beta" && *cv != "Beta") {
    return SchemaError("template.capsuleVersion", *cv, "Must be beta or Beta");
  }
  if (auto rp = tpl.find("restartPolicy"); rp != tpl.end()) {
    auto r = RestartName("template.restartPolicy", *rp);
    if (!r) return r.error();
    restart = *r;
  }
  if (auto az = tpl.find("availabilityZone"); az != tpl.end() && !az->is_null()) {
    if (!az->is_string() || az->get<std::string>().empty() || az->get<std::string>().size() > 255) {
      return SchemaError("template.availabilityZone", *az, "Expected a string of 1 to 255 characters");
    }
    if (*az != cfg.default_availability_zone) {
      return Status::Invalid("Availability zone " + az->get<std::string>() + " is not served here (this host is in " +
                                 cfg.default_availability_zone + ").",
                             "InvalidValue");
    }
    cap.availability_zone = az->get<std::string>();
  }
  return Status::Ok();
}

// What Zun would break on, or zunvm cannot do, across members and volumes.
Status CheckMembers(const std::vector<TemplateContainer>& members, size_t n_init,
                    const std::vector<CapsuleVolume>& volumes) {
  std::set<std::string> names, declared, mounted;
  for (size_t i = 0; i < members.size(); ++i) {
    const TemplateContainer& t = members[i];
    bool init = i < n_init;
    std::string where = init ? "spec.initContainers[" + std::to_string(i) + "]"
                             : "spec.containers[" + std::to_string(i - n_init) + "]";
    if (t.name && !names.insert(*t.name).second) {
      return InvalidTemplate("container name '" + *t.name + "' is used twice (" + where + ")");
    }
    if (init && t.has_ports) return InvalidTemplate("init containers cannot have ports (" + where + ")");
    for (const auto& m : t.mounts) mounted.insert(m.volume);
  }
  for (const auto& v : volumes) {
    if (!declared.insert(v.name).second) return InvalidTemplate("volume name '" + v.name + "' is used twice in spec.volumes");
  }
  for (const auto& m : mounted) {
    if (!declared.count(m)) return InvalidTemplate("volumeMount '" + m + "' names no volume of spec.volumes");
  }
  for (const auto& v : volumes) {  // _build_requested_volumes: every volume is mounted somewhere
    if (!mounted.count(v.name)) return Status::Invalid("volume mount parameters is invalid.", "Invalid");
  }
  return Status::Ok();
}

// _do_post's container_dict, as a Container.
Container MakeMember(const TemplateContainer& t, bool init, const Capsule& cap, const Config& cfg, bool admin) {
  Container c;
  c.image = t.image;
  c.command = t.command;
  if (t.args && !t.args->empty()) {
    if (c.command && !c.command->empty()) c.command->insert(c.command->end(), t.args->begin(), t.args->end());
    else c.command = t.args;
  }
  c.environment = t.env;
  c.workdir = t.workdir;
  c.interactive = t.stdin;
  c.tty = t.tty;
  for (const auto& p : t.ports) {
    c.exposed_ports[std::to_string(p.container_port) + "/" + p.protocol] = json::object();
    if (std::find(c.ports.begin(), c.ports.end(), p.container_port) == c.ports.end()) c.ports.push_back(p.container_port);
  }
  c.cpu = t.cpu.value_or(cfg.default_cpu);
  c.memory = t.memory.value_or(cfg.default_memory);
  c.runtime = cfg.default_runtime;
  c.image_driver = "docker";
  // Zun drops image_pull_policy (with a log line, no error) unless container:create:image_pull_policy.
  c.image_pull_policy = admin && t.image_pull_policy ? ToLower(*t.image_pull_policy) : "always";
  c.restart_policy = cap.restart_policy;
  if (init && cap.restart_policy.name == "always") c.restart_policy = RestartPolicy{"on-failure", 10};
  c.capsule_id = cap.uuid;
  c.init_container = init;
  if (cap.name) c.hostname = HostnameOf(*cap.name);
  for (const auto& m : t.mounts) {
    ContainerMount cm;
    cm.type = ContainerMount::Type::kVolume;
    cm.source = m.volume;
    cm.destination = m.path;
    cm.read_only = m.read_only;
    c.mounts.push_back(std::move(cm));
  }
  return c;
}

}  // namespace

Result<CapsuleRequest> ParseCapsuleBody(const json& body, [[maybe_unused]] const ApiVersion& v, const Config& cfg,
                                        bool admin) {
  if (!body.is_object()) {
    return Err(Status::Invalid("The request body must be a JSON object.", "SchemaValidationError"));
  }
  ZUNVM_RETURN_IF_ERROR(OnlyKeys(body, {"template", "uuid", "members"}));
  for (const char* k : {"uuid", "members"}) {
    if (!admin && body.contains(k) && !body[k].is_null()) return Err(NotAdmin(k));
  }
  auto tp = body.find("template");
  if (tp == body.end()) return Err(Status::Invalid("'template' is a required property", "SchemaValidationError"));
  CapsuleRequest out;
  Capsule& cap = out.capsule;
  cap.uuid = NewUuid();
  if (auto u = body.find("uuid"); u != body.end() && !u->is_null()) {
    if (!u->is_string() || !IsUuidLike(u->get<std::string>())) return Err(SchemaError("uuid", *u, "Expected a uuid"));
    cap.uuid = CanonicalUuid(u->get<std::string>());
  }
  std::optional<std::vector<GivenMember>> given;
  if (auto m = body.find("members"); m != body.end() && !m->is_null()) {
    auto g = ParseMembers(*m);
    if (!g) return Err(g.error());
    given = std::move(*g);
  }

  json parsed;
  auto tpl_or = TemplateObject(*tp, parsed);
  if (!tpl_or) return Err(tpl_or.error());
  const json& tpl = **tpl_or;
  ZUNVM_RETURN_IF_ERROR(OnlyKeys(tpl, {"kind", "capsuleVersion", "metadata", "restartPolicy", "spec", "availabilityZone"}));
  // check_capsule_template's messages come before the schema's `required` ones (with Zun's
  // schema in front they can never be seen).
  auto kind = tpl.find("kind");
  if (kind == tpl.end() || (*kind != "capsule" && *kind != "Capsule")) {
    return Err(InvalidTemplate("kind fields need to be set as capsule or Capsule"));
  }
  auto spec = tpl.find("spec");
  if (spec == tpl.end() || spec->is_null()) return Err(InvalidTemplate("No Spec found"));
  if (!spec->is_object()) return Err(SchemaError("template.spec", *spec, "Expected an object"));
  auto meta = tpl.find("metadata");
  if (meta == tpl.end()) return Err(SchemaError("template", tpl, "'metadata' is a required property"));
  ZUNVM_RETURN_IF_ERROR(ParseMetadata(*meta, cap));
  std::optional<std::string> restart;
  ZUNVM_RETURN_IF_ERROR(ParseTopLevel(tpl, cfg, cap, restart));

  // spec: containers, initContainers, volumes, restartPolicy; other keys are ignored as in Zun.
  auto containers = spec->find("containers");
  if (containers == spec->end() || containers->is_null()) return Err(InvalidTemplate("No valid containers field"));
  if (!containers->is_array()) return Err(SchemaError("spec.containers", *containers, "Expected an array"));
  if (containers->empty()) return Err(InvalidTemplate("Capsule need to have one container at least"));
  static const json kNone = json::array();
  const json* init_items = &kNone;
  if (auto i = spec->find("initContainers"); i != spec->end() && !i->is_null()) {
    if (!i->is_array()) return Err(SchemaError("spec.initContainers", *i, "Expected an array"));
    init_items = &*i;
  }
  const json& inits = *init_items;
  size_t count = inits.size() + containers->size();
  if (count > kMaxCapsuleMembers) {
    return Err(InvalidTemplate("a capsule has at most " + std::to_string(kMaxCapsuleMembers) +
                               " containers, init containers included; this one has " + std::to_string(count)));
  }
  if (auto rp = spec->find("restartPolicy"); rp != spec->end()) {
    auto r = RestartName("spec.restartPolicy", *rp);
    if (!r) return Err(r.error());
    restart = *r;  // the spec's wins over the deprecated top-level one
  }
  std::vector<TemplateContainer> members;  // init containers first
  for (size_t i = 0; i < count; ++i) {
    bool init = i < inits.size();
    size_t k = init ? i : i - inits.size();
    std::string where = std::string(init ? "spec.initContainers[" : "spec.containers[") + std::to_string(k) + "]";
    auto t = capsule_detail::ParseTemplateContainer(init ? inits[k] : (*containers)[k], where, cfg);
    if (!t) return Err(t.error());
    members.push_back(std::move(*t));
  }
  auto vols_it = spec->find("volumes");
  static const json kNull;
  auto volumes = capsule_detail::ParseTemplateVolumes(vols_it == spec->end() ? kNull : *vols_it, cfg);
  if (!volumes) return Err(volumes.error());
  ZUNVM_RETURN_IF_ERROR(CheckMembers(members, inits.size(), *volumes));
  if (given && given->size() != count) {
    return Err(Status::Invalid("members has " + std::to_string(given->size()) + " entries but the template has " +
                                   std::to_string(count) + " containers (init containers included).",
                               "SchemaValidationError"));
  }
  if (given && std::any_of(given->begin(), given->end(), [&](const GivenMember& g) { return g.uuid == cap.uuid; })) {
    return Err(Status::Invalid("A member's uuid is the capsule's uuid.", "SchemaValidationError"));
  }

  cap.volumes = std::move(*volumes);
  cap.restart_policy = RestartPolicy{restart.value_or("always"), 0};
  // The capsule's size: the regular members' requests summed, then at least each init's.
  double cpu = 0;
  int64_t memory = 0;
  for (size_t i = inits.size(); i < count; ++i) {
    cpu += members[i].cpu.value_or(0);
    memory += members[i].memory.value_or(0);
  }
  for (size_t i = 0; i < inits.size(); ++i) {
    cpu = std::max(cpu, members[i].cpu.value_or(0));
    memory = std::max(memory, members[i].memory.value_or(0));
  }
  cap.cpu = cpu;
  cap.memory = memory;
  std::set<std::string> suffixes;
  for (size_t i = 0; i < count; ++i) {
    bool init = i < inits.size();
    Container c = MakeMember(members[i], init, cap, cfg, admin);
    if (given) {
      c.uuid = (*given)[i].uuid;
      c.name = (*given)[i].name;
    } else {
      c.uuid = NewUuid();
      c.name = MemberName(cap.name.value_or(cap.uuid), NameSuffix(suffixes));
    }
    (init ? cap.init_containers : cap.containers).push_back(c.uuid);
    out.members.push_back(std::move(c));
  }
  return out;
}

}  // namespace zunvm
