// Framing of the host <-> guest agent channel (a virtio-serial byte stream): each frame is a
// 4-byte big-endian payload length followed by the payload (one message, see message.h).
// Frames larger than kMaxFrameBytes are refused: the stream cannot be resynchronised after
// that, so the reader must drop the connection (the agent then waits for a new host).
//
// Both sides treat the peer as hostile: the decoder never allocates more than one maximum
// frame, never reads past what it was given, and reports garbage as an error value.
// Thread safety: none (one decoder per connection, used by its reader thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace zunvm::agent {

inline constexpr uint32_t kMaxFrameBytes = 2 << 20;  // 2 MiB of payload: a 1 MiB chunk and its header

// Length prefix + payload. InvalidArgument when the payload is over the limit.
Result<std::string> EncodeFrame(std::string_view payload);

class FrameDecoder {
 public:
  // Appends bytes read from the stream.
  void Feed(std::string_view bytes);
  // The next complete payload, nullopt when more bytes are needed, or InvalidArgument for an
  // oversized or empty frame (after which the decoder stays failed).
  Result<std::optional<std::string>> Next();
  size_t Buffered() const { return buf_.size() - pos_; }

 private:
  std::string buf_;
  size_t pos_ = 0;
  bool failed_ = false;
};

}  // namespace zunvm::agent
