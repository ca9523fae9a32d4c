// Messages of the host <-> guest agent protocol (docs/agent-protocol.md). One message per
// frame, JSON:
//   {"v": 1, "kind": "req"|"resp"|"event", "id": N, "op": "name", "body": {...},
//    "error": {"code": "NotFound", "message": "..."}}
// Requests carry a host-chosen id (>= 1) echoed by their one response; events (output chunks,
// exits, OOM) have id 0. Errors travel as values in the response.
//
// ParseMessage treats its input as hostile: nesting, sizes, types and names are checked
// before anything is used, and every problem is an InvalidArgument, never an exception.
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace zunvm::agent {

inline constexpr int kProtocolVersion = 1;
inline constexpr int kMaxJsonDepth = 32;

enum class Kind { kRequest, kResponse, kEvent };

struct Message {
  Kind kind = Kind::kRequest;
  uint64_t id = 0;
  std::string op;                                   // [a-z_]{1,32}
  nlohmann::json body = nlohmann::json::object();   // always an object
  std::optional<Status> error;                      // responses only

  static Message Request(uint64_t id, std::string op, nlohmann::json body = nlohmann::json::object());
  static Message Response(const Message& req, nlohmann::json body = nlohmann::json::object());
  static Message Failure(const Message& req, const Status& error);
  static Message Event(std::string op, nlohmann::json body);
};

Result<Message> ParseMessage(std::string_view payload);
// Never fails: strings that are not UTF-8 are replaced (binary data goes base64 in bodies).
std::string SerializeMessage(const Message& m);

// Status <-> the wire's error codes ("InvalidArgument", "NotFound", ...).
std::string WireCode(Code code);
Code CodeFromWire(const std::string& wire);

}  // namespace zunvm::agent
