// Fields: reads the fields of one message body into typed values and keeps the first problem,
// naming the field ("exec: argv must be a list of strings"). Both sides of the agent protocol
// read every body through it (agent/protocol/ops.cc), so the checks live in one place.
// Unknown keys are ignored (a newer peer may send more); absent optional keys keep the value's
// default. Thread safety: none (a value on the stack).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace zunvm::agent {

class Fields {
 public:
  // `body` is read in place: it must outlive the Fields.
  Fields(const char* what, const nlohmann::json& body) : what_(what), body_(body) {}
  Fields(const char*, nlohmann::json&&) = delete;

  // Strings: no NUL; at most `max` bytes.
  Fields& Str(const char* key, std::string& out, bool required = false, size_t max = 65536);
  Fields& Strings(const char* key, std::vector<std::string>& out, bool required = false);
  Fields& Bool(const char* key, bool& out);
  Fields& Int(const char* key, int64_t& out, int64_t lo, int64_t hi, bool required = false);
  Fields& OptInt(const char* key, std::optional<int64_t>& out, int64_t lo, int64_t hi);
  Fields& U64(const char* key, uint64_t& out, bool required = false);
  Fields& OptU64(const char* key, std::optional<uint64_t>& out);
  Fields& OptDouble(const char* key, std::optional<double>& out, double lo, double hi);
  Fields& Double(const char* key, double& out);
  // A nested object, handed to `read` (which reads it with a Fields named after `key`);
  // absent: `present` stays false.
  template <typename Fn>
  Fields& Object(const char* key, bool& present, Fn read) {
    present = false;
    if (!st_.ok()) return *this;
    auto it = body_.find(key);
    if (it == body_.end() || it->is_null()) return *this;
    if (!it->is_object()) return Fail(key, "must be an object");
    present = true;
    Status inner = read(*it);
    if (!inner.ok()) st_ = Status::Invalid(std::string(what_) + ": " + inner.message());
    return *this;
  }
  // A list of objects, each handed to `read`; at most `max` of them.
  template <typename Fn>
  Fields& List(const char* key, size_t max, Fn read) {
    if (!st_.ok()) return *this;
    auto it = body_.find(key);
    if (it == body_.end() || it->is_null()) return *this;
    if (!it->is_array() || it->size() > max) {
      return Fail(key, "must be a list of at most " + std::to_string(max));
    }
    for (const auto& item : *it) {
      Status inner = item.is_object() ? read(item) : Status::Invalid(std::string(key) + " must hold objects");
      if (!inner.ok()) {
        st_ = Status::Invalid(std::string(what_) + ": " + inner.message());
        break;
      }
    }
    return *this;
  }
  // {name: unsigned} maps.
  Fields& Counts(const char* key, std::map<std::string, uint64_t>& out);

  const Status& status() const { return st_; }

 private:
  Fields& Fail(const char* key, const std::string& why);
  const nlohmann::json* Find(const char* key, bool required);

  const char* what_;
  const nlohmann::json& body_;
  Status st_ = Status::Ok();
};

}  // namespace zunvm::agent
