// The websocket wire format (RFC 6455) of the console listener's server side: a decoder of
// client frames and an encoder of server frames. Boost.Beast's websocket stream fails any
// text frame that is not UTF-8, and Zun's proxy sends keystrokes as text frames of arbitrary
// bytes, so the console frames its streams itself (docs/console.md); the HTTP upgrade is Beast's.
//
// Input is hostile: the decoder checks masking, opcodes, control-frame rules, fragmentation
// order and a message size limit, and never holds more than that limit plus one frame header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace zunvm::ws {

enum class Opcode : uint8_t { kContinuation = 0, kText = 1, kBinary = 2, kClose = 8, kPing = 9, kPong = 10 };

// A complete data message (fragments joined) or one control frame.
struct Message {
  Opcode op = Opcode::kBinary;
  std::string payload;
};

// Close codes the server sends (RFC 6455 §7.4.1).
inline constexpr int kCloseNormal = 1000;
inline constexpr int kCloseProtocol = 1002;
inline constexpr int kClosePolicy = 1008;
inline constexpr int kCloseTooBig = 1009;
inline constexpr int kCloseGoingAway = 1001;

class Decoder {
 public:
  explicit Decoder(size_t max_message) : max_(max_message) {}
  // Appends received bytes. The caller feeds at most what it reads in one go.
  void Feed(std::string_view bytes) { buf_.append(bytes.data(), bytes.size()); }
  // The next message, nullopt when more bytes are needed. Errors: PayloadTooLarge (close with
  // 1009) or InvalidArgument (a protocol violation: 1002). After an error, stop reading.
  Result<std::optional<Message>> Next();
  // Bytes buffered and not yet decoded (bounded by the limit plus a frame header).
  size_t Buffered() const { return buf_.size() + partial_.size(); }

 private:
  size_t max_;
  std::string buf_;      // undecoded input
  std::string partial_;  // the fragments of a message so far
  std::optional<Opcode> partial_op_;
};

// One unmasked final frame. Control payloads must be at most 125 bytes.
std::string EncodeFrame(Opcode op, std::string_view payload);
// A close frame with `code` and a reason (cut to fit 123 bytes).
std::string EncodeClose(int code, std::string_view reason);
// Sec-WebSocket-Accept for a client's Sec-WebSocket-Key.
std::string AcceptKey(std::string_view client_key);

// Cuts a byte stream into pieces that are each valid UTF-8 (for clients that decode every
// frame on its own): an incomplete sequence at the end waits for the next chunk; bytes that
// can never be UTF-8 become U+FFFD.
class Utf8Chunker {
 public:
  std::string Take(std::string_view data);
  // What is still held back (an incomplete sequence at the end of the stream), as U+FFFD.
  std::string Flush();

 private:
  std::string carry_;
};

}  // namespace zunvm::ws
