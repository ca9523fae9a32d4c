#include "driver/libvirt/sandbox_record.h"

#include "common/durable_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "common/durable_file.h"
#include "driver/spec_json.h"

namespace zunvm::libvirt {

using nlohmann::json;

const char* RecordStateName(RecordState s) {
  switch (s) {
    case RecordState::kCreating: return "creating";
    case RecordState::kCreated: return "created";
    case RecordState::kRunning: return "running";
    case RecordState::kPaused: return "paused";
    case RecordState::kStopped: return "stopped";
  }
  return "creating";
}

namespace {

void ReadState(const json& j, RecordState& state, std::optional<int>& exit_code) {
  std::string st = j.value("state", "creating");
  for (RecordState s : {RecordState::kCreating, RecordState::kCreated, RecordState::kRunning,
                        RecordState::kPaused, RecordState::kStopped}) {
    if (st == RecordStateName(s)) state = s;
  }
  if (j.contains("exit_code") && j["exit_code"].is_number_integer()) exit_code = j["exit_code"].get<int>();
}

}  // namespace

Status SaveRecord(const std::string& path, const SandboxRecord& r) {
  json j{{"spec", SpecToJson(r.spec)}, {"state", RecordStateName(r.state)}, {"boot", r.boot}};
  if (r.exit_code) j["exit_code"] = *r.exit_code;
  if (!r.domain.empty()) j["domain"] = r.domain;
  for (const auto& [uuid, m] : r.members) {
    json e{{"state", RecordStateName(m.state)}};
    if (m.exit_code) e["exit_code"] = *m.exit_code;
    j["members"][uuid] = e;
  }
  return WriteFileDurably(path, j.dump());
}

Result<SandboxRecord> LoadRecord(const std::string& path) {
  std::ifstream f(path);
  if (!f) return Err(Status::NotFound("no sandbox record at " + path));
  json j = json::parse(f, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("spec")) return Err(Status::Internal("unreadable sandbox record " + path));
  SandboxRecord r;
  try {
    r.spec = SpecFromJson(j["spec"]);
  } catch (const json::exception& e) {
    return Err(Status::Internal("bad sandbox spec in " + path + ": " + e.what()));
  }
  ReadState(j, r.state, r.exit_code);
  if (j.contains("members") && j["members"].is_object()) {
    for (const auto& [uuid, m] : j["members"].items()) {
      if (!m.is_object()) continue;
      MemberRecord mr;
      ReadState(m, mr.state, mr.exit_code);
      r.members[uuid] = mr;
    }
  }
  if (j.contains("boot") && j["boot"].is_object()) r.boot = j["boot"];
  if (j.contains("domain") && j["domain"].is_string()) r.domain = j["domain"].get<std::string>();
  return r;
}

}  // namespace zunvm::libvirt
