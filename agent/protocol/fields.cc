#include "agent/protocol/fields.h"

namespace zunvm::agent {

using nlohmann::json;

Fields& Fields::Fail(const char* key, const std::string& why) {
  if (st_.ok()) st_ = Status::Invalid(std::string(what_) + ": " + key + " " + why);
  return *this;
}

const json* Fields::Find(const char* key, bool required) {
  if (!st_.ok()) return nullptr;
  auto it = body_.find(key);
  if (it == body_.end() || it->is_null()) {
    if (required) Fail(key, "is required");
    return nullptr;
  }
  return &*it;
}

Fields& Fields::Str(const char* key, std::string& out, bool required, size_t max) {
  const json* v = Find(key, required);
  if (!v) return *this;
  if (!v->is_string()) return Fail(key, "must be a string");
  const auto& s = v->get_ref<const std::string&>();
  if (s.size() > max || s.find('\0') != std::string::npos) {
    return Fail(key, "must be at most " + std::to_string(max) + " bytes, without NUL");
  }
  out = s;
  return *this;
}

Fields& Fields::Strings(const char* key, std::vector<std::string>& out, bool required) {
  const json* v = Find(key, required);
  if (!v) return *this;
  if (!v->is_array() || v->size() > 4096) return Fail(key, "must be a list of strings");
  std::vector<std::string> got;
  for (const auto& item : *v) {
    if (!item.is_string() || item.get_ref<const std::string&>().find('\0') != std::string::npos) {
      return Fail(key, "must be a list of strings");
    }
    got.push_back(item.get<std::string>());
  }
  out = std::move(got);
  return *this;
}

Fields& Fields::Bool(const char* key, bool& out) {
  const json* v = Find(key, false);
  if (!v) return *this;
  if (!v->is_boolean()) return Fail(key, "must be a boolean");
  out = v->get<bool>();
  return *this;
}

Fields& Fields::Int(const char* key, int64_t& out, int64_t lo, int64_t hi, bool required) {
  const json* v = Find(key, required);
  if (!v) return *this;
  if (!v->is_number_integer()) return Fail(key, "must be an integer");
  int64_t n = v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)
                  ? INT64_MAX
                  : v->get<int64_t>();
  if (n < lo || n > hi) return Fail(key, "must be " + std::to_string(lo) + ".." + std::to_string(hi));
  out = n;
  return *this;
}

Fields& Fields::OptInt(const char* key, std::optional<int64_t>& out, int64_t lo, int64_t hi) {
  if (!Find(key, false)) return *this;
  int64_t n = 0;
  Int(key, n, lo, hi);
  if (st_.ok()) out = n;
  return *this;
}

Fields& Fields::U64(const char* key, uint64_t& out, bool required) {
  const json* v = Find(key, required);
  if (!v) return *this;
  if (!v->is_number_unsigned()) return Fail(key, "must be a non-negative integer");
  out = v->get<uint64_t>();
  return *this;
}

Fields& Fields::OptU64(const char* key, std::optional<uint64_t>& out) {
  if (!Find(key, false)) return *this;
  uint64_t n = 0;
  U64(key, n);
  if (st_.ok()) out = n;
  return *this;
}

Fields& Fields::Double(const char* key, double& out) {
  const json* v = Find(key, false);
  if (!v) return *this;
  if (!v->is_number()) return Fail(key, "must be a number");
  out = v->get<double>();
  return *this;
}

Fields& Fields::OptDouble(const char* key, std::optional<double>& out, double lo, double hi) {
  const json* v = Find(key, false);
  if (!v) return *this;
  if (!v->is_number() || v->get<double>() < lo || v->get<double>() > hi) {
    return Fail(key, "must be a number in " + std::to_string(lo) + ".." + std::to_string(hi));
  }
  out = v->get<double>();
  return *this;
}

Fields& Fields::Counts(const char* key, std::map<std::string, uint64_t>& out) {
  const json* v = Find(key, false);
  if (!v) return *this;
  if (!v->is_object() || v->size() > 64) return Fail(key, "must be an object of counts");
  std::map<std::string, uint64_t> got;
  for (auto it = v->begin(); it != v->end(); ++it) {
    if (!it.value().is_number_unsigned()) return Fail(key, "must be an object of counts");
    got[it.key()] = it.value().get<uint64_t>();
  }
  out = std::move(got);
  return *this;
}

}  // namespace zunvm::agent
