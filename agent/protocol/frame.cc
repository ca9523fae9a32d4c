#include "agent/protocol/frame.h"

namespace zunvm::agent {

Result<std::string> EncodeFrame(std::string_view payload) {
  if (payload.empty() || payload.size() > kMaxFrameBytes) {
    return Err(Status::Invalid("frame payload of " + std::to_string(payload.size()) +
                               " bytes is outside 1.." + std::to_string(kMaxFrameBytes)));
  }
  uint32_t n = static_cast<uint32_t>(payload.size());
  std::string out;
  out.reserve(4 + payload.size());
  out.push_back(static_cast<char>((n >> 24) & 0xff));
  out.push_back(static_cast<char>((n >> 16) & 0xff));
  out.push_back(static_cast<char>((n >> 8) & 0xff));
  out.push_back(static_cast<char>(n & 0xff));
  out.append(payload);
  return out;
}

void FrameDecoder::Feed(std::string_view bytes) {
  if (failed_) return;
  // Compact consumed bytes before growing, so the buffer stays within about two frames.
  if (pos_ > 0 && pos_ >= buf_.size() / 2) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
}

Result<std::optional<std::string>> FrameDecoder::Next() {
  if (failed_) return Err(Status::Invalid("frame stream already failed"));
  if (buf_.size() - pos_ < 4) return std::optional<std::string>();
  const auto* p = reinterpret_cast<const unsigned char*>(buf_.data() + pos_);
  uint32_t n = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
  if (n == 0 || n > kMaxFrameBytes) {
    failed_ = true;
    buf_.clear();
    pos_ = 0;
    return Err(Status::Invalid("bad frame length " + std::to_string(n)));
  }
  if (buf_.size() - pos_ - 4 < n) return std::optional<std::string>();
  std::string payload = buf_.substr(pos_ + 4, n);
  pos_ += 4 + n;
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  return std::optional<std::string>(std::move(payload));
}

}  // namespace zunvm::agent
