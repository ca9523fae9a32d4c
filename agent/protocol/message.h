// Messages of the host <-> guest agent protocol (docs/agent-protocol.md). One message per
// frame; the payload's first byte says how it is laid out:
//   0x01 <JSON>                                  a message
//   0x02 <u32 big-endian JSON length> <JSON> <bytes>   a message with a binary attachment
// The JSON: {"v": 2, "kind": "req"|"resp"|"event", "id": N, "op": "name", "body": {...},
//            "error": {"code": "NotFound", "message": "..."}}
// Requests carry a host-chosen id (>= 1) echoed by their one response; events (output chunks,
// exits, OOM) have id 0. Errors travel as values in the response. Stream bytes (output, stdin,
// file chunks) are the attachment, raw: never base64 inside the JSON.
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

inline constexpr int kProtocolVersion = 2;
// Printed by `zunvm-agent --version`, which keeps it in the binary: the host check finds it in
// a guest image's initramfs to tell whether that image speaks this zunvmd's protocol.
inline constexpr char kProtocolMarker[] = "zunvm-agent protocol 2;";
static_assert(kProtocolMarker[21] - '0' == kProtocolVersion, "kProtocolMarker names kProtocolVersion");
inline constexpr int kMaxJsonDepth = 32;

enum class Kind { kRequest, kResponse, kEvent };

struct Message {
  Kind kind = Kind::kRequest;
  uint64_t id = 0;
  std::string op;                                   // [a-z_]{1,32}
  nlohmann::json body = nlohmann::json::object();   // always an object
  std::optional<Status> error;                      // responses only
  std::string data;                                 // the binary attachment ("" for none)

  static Message Request(uint64_t id, std::string op, nlohmann::json body = nlohmann::json::object());
  static Message Response(const Message& req, nlohmann::json body = nlohmann::json::object());
  static Message Failure(const Message& req, const Status& error);
  static Message Event(std::string op, nlohmann::json body);
};

Result<Message> ParseMessage(std::string_view payload);
// Never fails: strings that are not UTF-8 are replaced (binary data goes in `data`).
std::string SerializeMessage(const Message& m);
// The payload of a message whose JSON was written by hand (`json_text`, a complete message
// object), with `data` attached: the guest's output path, which builds no JSON tree.
std::string PayloadWithAttachment(std::string_view json_text, std::string_view data);

// Status <-> the wire's error codes ("InvalidArgument", "NotFound", ...).
std::string WireCode(Code code);
Code CodeFromWire(const std::string& wire);

}  // namespace zunvm::agent
