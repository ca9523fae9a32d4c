#include "agent/protocol/message.h"

#include <array>
#include <utility>

namespace zunvm::agent {

using nlohmann::json;

namespace {

// Nesting depth of JSON text, counting brackets outside strings; stops early past `limit`.
int Depth(std::string_view s, int limit) {
  int depth = 0, max = 0;
  bool in_string = false, escaped = false;
  for (char c : s) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '[' || c == '{') {
      if (++depth > max) max = depth;
      if (max > limit) return max;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return max;
}

bool ValidOp(const std::string& op) {
  if (op.empty() || op.size() > 32) return false;
  for (char c : op) {
    if (!((c >= 'a' && c <= 'z') || c == '_')) return false;
  }
  return true;
}

const std::array<std::pair<Code, const char*>, 9> kCodes = {{
    {Code::kInvalidArgument, "InvalidArgument"},
    {Code::kNotFound, "NotFound"},
    {Code::kConflict, "Conflict"},
    {Code::kDeadlineExceeded, "DeadlineExceeded"},
    {Code::kUnavailable, "Unavailable"},
    {Code::kNotImplemented, "NotImplemented"},
    {Code::kForbidden, "PermissionDenied"},
    {Code::kPayloadTooLarge, "TooLarge"},
    {Code::kInternal, "Internal"},
}};

Status Bad(const std::string& why) { return Status::Invalid("bad agent message: " + why); }

constexpr char kPlain = 0x01;
constexpr char kWithAttachment = 0x02;

}  // namespace

std::string WireCode(Code code) {
  for (const auto& [c, name] : kCodes) {
    if (c == code) return name;
  }
  return "Internal";
}

Code CodeFromWire(const std::string& wire) {
  for (const auto& [c, name] : kCodes) {
    if (wire == name) return c;
  }
  return Code::kInternal;
}

Message Message::Request(uint64_t id, std::string op, json body) {
  Message m;
  m.kind = Kind::kRequest;
  m.id = id;
  m.op = std::move(op);
  m.body = std::move(body);
  return m;
}

Message Message::Response(const Message& req, json body) {
  Message m;
  m.kind = Kind::kResponse;
  m.id = req.id;
  m.op = req.op;
  m.body = std::move(body);
  return m;
}

Message Message::Failure(const Message& req, const Status& error) {
  Message m = Response(req);
  m.error = error;
  return m;
}

Message Message::Event(std::string op, json body) {
  Message m;
  m.kind = Kind::kEvent;
  m.op = std::move(op);
  m.body = std::move(body);
  return m;
}

Result<Message> ParseMessage(std::string_view payload) {
  if (payload.empty()) return Err(Bad("empty"));
  std::string_view text, data;
  if (payload[0] == kPlain) {
    text = payload.substr(1);
  } else if (payload[0] == kWithAttachment) {
    if (payload.size() < 5) return Err(Bad("truncated attachment header"));
    auto b = reinterpret_cast<const unsigned char*>(payload.data());
    uint64_t len = (uint64_t{b[1]} << 24) | (uint64_t{b[2]} << 16) | (uint64_t{b[3]} << 8) | b[4];
    if (len < 2 || len > payload.size() - 5) return Err(Bad("attachment header past the payload"));
    text = payload.substr(5, len);
    data = payload.substr(5 + len);
  } else {
    return Err(Bad("unknown payload type"));
  }
  if (Depth(text, kMaxJsonDepth) > kMaxJsonDepth) return Err(Bad("nested too deeply"));
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Err(Bad("not JSON (or not UTF-8)"));
  if (!j.is_object()) return Err(Bad("not an object"));
  auto v = j.find("v");
  if (v == j.end() || !v->is_number_integer()) return Err(Bad("missing version"));
  if (v->get<int64_t>() != kProtocolVersion) {
    return Err(Bad("protocol version " + v->dump() + " is not " + std::to_string(kProtocolVersion)));
  }
  Message m;
  auto kind = j.find("kind");
  if (kind == j.end() || !kind->is_string()) return Err(Bad("missing kind"));
  const std::string& k = kind->get_ref<const std::string&>();
  if (k == "req") m.kind = Kind::kRequest;
  else if (k == "resp") m.kind = Kind::kResponse;
  else if (k == "event") m.kind = Kind::kEvent;
  else return Err(Bad("unknown kind"));
  auto id = j.find("id");
  if (id == j.end() || !id->is_number_unsigned()) return Err(Bad("missing id"));
  m.id = id->get<uint64_t>();
  if ((m.kind == Kind::kEvent) != (m.id == 0)) return Err(Bad("id 0 is for events only"));
  auto op = j.find("op");
  if (op == j.end() || !op->is_string() || !ValidOp(op->get<std::string>())) {
    return Err(Bad("missing or invalid op"));
  }
  m.op = op->get<std::string>();
  if (auto body = j.find("body"); body != j.end()) {
    if (!body->is_object()) return Err(Bad("body is not an object"));
    m.body = std::move(*body);
  }
  if (auto err = j.find("error"); err != j.end() && !err->is_null()) {
    if (m.kind != Kind::kResponse || !err->is_object()) return Err(Bad("misplaced error"));
    auto code = err->find("code");
    auto msg = err->find("message");
    if (code == err->end() || !code->is_string() || msg == err->end() || !msg->is_string()) {
      return Err(Bad("error needs code and message"));
    }
    m.error = Status(CodeFromWire(code->get<std::string>()), msg->get<std::string>());
  }
  m.data = std::string(data);
  return m;
}

std::string SerializeMessage(const Message& m) {
  json j;
  j["v"] = kProtocolVersion;
  j["kind"] = m.kind == Kind::kRequest ? "req" : m.kind == Kind::kResponse ? "resp" : "event";
  j["id"] = m.id;
  j["op"] = m.op;
  j["body"] = m.body.is_object() ? m.body : json::object();
  if (m.error) j["error"] = {{"code", WireCode(m.error->code())}, {"message", m.error->message()}};
  std::string text = j.dump(-1, ' ', false, json::error_handler_t::replace);
  if (m.data.empty()) return std::string(1, kPlain) + text;
  return PayloadWithAttachment(text, m.data);
}

std::string PayloadWithAttachment(std::string_view json_text, std::string_view data) {
  std::string p;
  p.reserve(5 + json_text.size() + data.size());
  p += kWithAttachment;
  for (int shift : {24, 16, 8, 0}) p += static_cast<char>((json_text.size() >> shift) & 0xff);
  p += json_text;
  p += data;
  return p;
}

}  // namespace zunvm::agent
