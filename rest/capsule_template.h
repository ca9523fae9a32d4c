// POST /v1/capsules: the body ({"template": ...}) checked as Zun checks it (the capsule_template
// JSON schema, then check_capsule_template's and capsule_get_*_spec's checks) and turned into
// the capsule and its member containers as Zun's CapsuleController._do_post does:
//  - env -> environment, workDir -> workdir, stdin -> interactive, tty; args appended to
//    command; ports -> exposed_ports "<port>/<tcp|udp>"; requests -> cpu/memory (members without
//    requests get the config's defaults); imagePullPolicy lowercased (admins only, as Zun's
//    container:create:image_pull_policy: silently dropped for others), default "always";
//  - restartPolicy Never/Always/OnFailure -> no/always/on-failure (spec's, else the deprecated
//    top-level one, else always); members get it, init containers under always on-failure:10;
//  - the capsule's cpu/memory: the regular members' requests summed, then at least each init
//    container's (0 when nothing was requested: the service sizes the VM);
//  - members named "capsule-<metadata.name or capsule uuid>-<greek>-<n>", their hostname the
//    capsule's name (made a valid hostname), volumeMounts -> kVolume mounts whose source is the
//    spec.volumes name.
// What Zun would break on or zunvm cannot do is refused (400): duplicate member names, ports on
// an init container, a mount of an undeclared volume, two volumes of one name, more than
// kMaxCapsuleMembers members.
//
// zunvm extensions, admins only (403 PolicyNotAuthorized otherwise), for the Zun compute driver:
// "uuid" (the capsule's) and "members": [{"uuid", "name"}], one per member, init containers
// first then containers, in template order.
#pragma once

#include <cstddef>

#include <nlohmann/json.hpp>

#include "common/config.h"
#include "common/status.h"
#include "model/capsule.h"
#include "rest/microversion.h"

namespace zunvm {

// Init containers included.
inline constexpr size_t kMaxCapsuleMembers = 16;

// SchemaValidationError / InvalidCapsuleTemplate / InvalidValue (400), PolicyNotAuthorized (403).
Result<CapsuleRequest> ParseCapsuleBody(const nlohmann::json& body, const ApiVersion& v, const Config& cfg,
                                        bool admin);

}  // namespace zunvm
