// Test helper: an untyped agent call, the body as given (hostile bodies included) and the
// response's body; its attachment, if any, in `data` (raw bytes). Product code calls the typed
// AgentClient::Call<Op> instead.
#pragma once

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "agent/client/agent_client.h"

namespace zunvm::agent {

inline Result<nlohmann::json> CallJson(AgentClient& c, const std::string& op, nlohmann::json body,
                                       std::chrono::milliseconds timeout, std::string data = {}) {
  Message m = Message::Request(0, op, std::move(body));
  m.data = std::move(data);
  auto r = c.Exchange(std::move(m), timeout);
  if (!r) return Err(r.error());
  nlohmann::json out = r->body;
  if (!r->data.empty()) out["data"] = nlohmann::json::binary(std::vector<uint8_t>(r->data.begin(), r->data.end()));
  return out;
}

}  // namespace zunvm::agent
