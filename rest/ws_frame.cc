#include "rest/ws_frame.h"

#include <openssl/sha.h>

#include "common/base64.h"

namespace zunvm::ws {

namespace {

constexpr size_t kMaxControl = 125;
const char kReplacement[] = "\xEF\xBF\xBD";

bool IsControl(Opcode op) { return static_cast<uint8_t>(op) >= 8; }

bool KnownOpcode(uint8_t op) { return op <= 2 || (op >= 8 && op <= 10); }

Status Protocol(const std::string& why) { return Status::Invalid("websocket protocol error: " + why); }

}  // namespace

Result<std::optional<Message>> Decoder::Next() {
  for (;;) {
    if (buf_.size() < 2) return std::optional<Message>{};
    const auto* p = reinterpret_cast<const unsigned char*>(buf_.data());
    bool fin = p[0] & 0x80;
    if (p[0] & 0x70) return Err(Protocol("reserved bits set"));
    uint8_t opcode = p[0] & 0x0f;
    if (!KnownOpcode(opcode)) return Err(Protocol("unknown opcode " + std::to_string(opcode)));
    Opcode op = static_cast<Opcode>(opcode);
    if (!(p[1] & 0x80)) return Err(Protocol("client frames must be masked"));
    uint64_t len = p[1] & 0x7f;
    size_t header = 2;
    if (len == 126) {
      if (buf_.size() < 4) return std::optional<Message>{};
      len = (uint64_t{p[2]} << 8) | p[3];
      header = 4;
    } else if (len == 127) {
      if (buf_.size() < 10) return std::optional<Message>{};
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
      header = 10;
      if (len >> 63) return Err(Protocol("frame length out of range"));
    }
    if (IsControl(op)) {
      if (!fin) return Err(Protocol("fragmented control frame"));
      if (len > kMaxControl) return Err(Protocol("control frame longer than 125 bytes"));
    } else {
      if (op == Opcode::kContinuation && !partial_op_) return Err(Protocol("continuation without a message"));
      if (op != Opcode::kContinuation && partial_op_) return Err(Protocol("new message inside a fragmented one"));
      if (len > max_ || partial_.size() + len > max_) {
        return Err(Status(Code::kPayloadTooLarge, "websocket message larger than " + std::to_string(max_) + " bytes"));
      }
    }
    if (buf_.size() < header + 4 + len) return std::optional<Message>{};
    const unsigned char* mask = p + header;
    std::string payload(buf_.data() + header + 4, static_cast<size_t>(len));
    for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(payload[i] ^ mask[i % 4]);
    buf_.erase(0, header + 4 + static_cast<size_t>(len));
    if (IsControl(op)) return std::optional<Message>{Message{op, std::move(payload)}};
    if (op != Opcode::kContinuation) partial_op_ = op;
    partial_ += payload;
    if (!fin) continue;
    Message m{*partial_op_, std::move(partial_)};
    partial_.clear();
    partial_op_.reset();
    return std::optional<Message>{std::move(m)};
  }
}

std::string EncodeFrame(Opcode op, std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + 10);
  out.push_back(static_cast<char>(0x80 | static_cast<uint8_t>(op)));
  uint64_t len = payload.size();
  if (len < 126) {
    out.push_back(static_cast<char>(len));
  } else if (len <= 0xffff) {
    out.push_back(static_cast<char>(126));
    out.push_back(static_cast<char>(len >> 8));
    out.push_back(static_cast<char>(len & 0xff));
  } else {
    out.push_back(static_cast<char>(127));
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((len >> (8 * i)) & 0xff));
  }
  out.append(payload.data(), payload.size());
  return out;
}

std::string EncodeClose(int code, std::string_view reason) {
  std::string payload;
  payload.push_back(static_cast<char>((code >> 8) & 0xff));
  payload.push_back(static_cast<char>(code & 0xff));
  Utf8Chunker clean;  // a close reason must be UTF-8: cut on a character boundary
  std::string r = clean.Take(reason.substr(0, 123));
  payload += r.substr(0, 123);
  while (payload.size() > kMaxControl) payload.pop_back();
  return EncodeFrame(Opcode::kClose, payload);
}

std::string AcceptKey(std::string_view client_key) {
  std::string s(client_key);
  s += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(s.data()), s.size(), digest);
  return Base64Encode(std::string(reinterpret_cast<const char*>(digest), sizeof digest));
}

// The length of the UTF-8 sequence starting at s[i] if it is valid and complete; 0 when it is
// invalid; -1 when it is a valid prefix cut by the end of s.
static int SequenceLength(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  if (c < 0x80) return 1;
  int n;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  for (int k = 1; k < n; ++k) {
    if (i + k >= s.size()) return -1;
    unsigned char x = b(i + k);
    if (k == 1 ? (x < lo || x > hi) : (x < 0x80 || x > 0xBF)) return 0;
  }
  return n;
}

std::string Utf8Chunker::Take(std::string_view data) {
  std::string in = carry_;
  in.append(data.data(), data.size());
  carry_.clear();
  std::string out;
  out.reserve(in.size());
  size_t i = 0;
  while (i < in.size()) {
    int n = SequenceLength(in, i);
    if (n > 0) {
      out.append(in, i, static_cast<size_t>(n));
      i += static_cast<size_t>(n);
    } else if (n < 0) {
      carry_ = in.substr(i);
      break;
    } else {
      out += kReplacement;
      ++i;
    }
  }
  return out;
}

std::string Utf8Chunker::Flush() {
  std::string out = carry_.empty() ? "" : kReplacement;
  carry_.clear();
  return out;
}

}  // namespace zunvm::ws
