#include "driver/oci/oci_record.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "common/durable_file.h"
#include "driver/spec_json.h"

namespace zunvm::oci {

using nlohmann::json;

namespace {

const char* StateName(OciState s) {
  switch (s) {
    case OciState::kCreating: return "creating";
    case OciState::kCreated: return "created";
    case OciState::kRunning: return "running";
    case OciState::kStopped: return "stopped";
  }
  return "creating";
}

std::optional<OciState> StateFromName(const std::string& s) {
  for (OciState st : {OciState::kCreating, OciState::kCreated, OciState::kRunning, OciState::kStopped}) {
    if (s == StateName(st)) return st;
  }
  return std::nullopt;
}

}  // namespace

Status SaveOciRecord(const std::string& path, const OciRecord& r) {
  json j{{"spec", SpecToJson(r.spec)}, {"state", StateName(r.state)}, {"run", r.run},
         {"exit_reported", r.exit_reported}};
  if (r.exit_code) j["exit_code"] = *r.exit_code;
  return WriteFileDurably(path, j.dump());
}

Result<OciRecord> LoadOciRecord(const std::string& path) {
  std::ifstream f(path);
  if (!f) return Err(Status::NotFound("no sandbox record at " + path));
  json j = json::parse(f, nullptr, /*allow_exceptions=*/false);
  auto bad = [&] { return Err(Status::Internal("unreadable sandbox record " + path)); };
  if (!j.is_object() || !j.contains("spec")) return bad();
  OciRecord r;
  try {
    r.spec = SpecFromJson(j.at("spec"));
    auto st = StateFromName(j.at("state").get<std::string>());
    if (!st) return bad();
    r.state = *st;
    r.run = j.value("run", "");
    r.exit_reported = j.value("exit_reported", false);
    if (j.contains("exit_code") && j["exit_code"].is_number_integer()) r.exit_code = j["exit_code"].get<int>();
  } catch (const json::exception&) {
    return bad();
  }
  return r;
}

}  // namespace zunvm::oci
