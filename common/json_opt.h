// std::optional <-> JSON null, for the codecs and views that write optional fields.
#pragma once

#include <optional>

#include <nlohmann/json.hpp>

namespace zunvm {

template <typename T>
nlohmann::json Opt(const std::optional<T>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

// The value at `key`, or nullopt when it is missing or null. Throws nlohmann::json's type_error
// when it has another type (callers at a storage edge catch it).
template <typename T>
std::optional<T> GetOpt(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  return it->get<T>();
}

}  // namespace zunvm
