// libFuzzer target: arbitrary bytes from a console client go through the websocket frame
// decoder (in two pieces, to exercise partial frames) and every payload through the UTF-8
// chunker and the frame encoder (what the console listener does with a client's frames and
// with output). Nothing may crash, hang, leak or buffer past the limit; errors are values.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "rest/ws_frame.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr size_t kLimit = 4096;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  zunvm::ws::Decoder d(kLimit);
  zunvm::ws::Utf8Chunker utf8;
  size_t cut = size ? data[0] % (size + 1) : 0;
  for (std::string_view piece : {in.substr(0, cut), in.substr(cut)}) {
    d.Feed(piece);
    for (;;) {
      auto m = d.Next();
      if (!m || !*m) break;
      if ((*m)->payload.size() > kLimit) std::abort();
      std::string out = utf8.Take((*m)->payload);
      (void)zunvm::ws::EncodeFrame(zunvm::ws::Opcode::kBinary, out);
    }
  }
  (void)utf8.Flush();
  (void)zunvm::ws::EncodeClose(1000, in.substr(0, 200));
  return 0;
}
