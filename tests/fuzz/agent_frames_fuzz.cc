// libFuzzer target: arbitrary bytes from the peer go through the frame decoder (fed in two
// pieces to exercise partial frames) and every complete frame through the message parser.
// Nothing may crash, hang or leak; errors are values.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/protocol/frame.h"
#include "agent/protocol/message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view all(reinterpret_cast<const char*>(data), size);
  size_t cut = size ? data[0] % (size + 1) : 0;
  zunvm::agent::FrameDecoder d;
  // The same bytes as a single message too (what a frame's payload may be).
  auto direct = zunvm::agent::ParseMessage(all);
  if (direct) (void)zunvm::agent::SerializeMessage(*direct);
  for (std::string_view part : {all.substr(0, cut), all.substr(cut)}) {
    d.Feed(part);
    for (int i = 0; i < 64; ++i) {
      auto f = d.Next();
      if (!f || !*f) break;
      auto m = zunvm::agent::ParseMessage(**f);
      if (m) (void)zunvm::agent::SerializeMessage(*m);
    }
  }
  return 0;
}
