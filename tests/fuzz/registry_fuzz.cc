// libFuzzer target: what a registry sends. The first byte picks the parser: an image manifest,
// an index (platform selection), an image config, or a WWW-Authenticate challenge. Nothing may
// crash, hang or leak; bad input is a Status.
#include <cstddef>
#include <cstdint>
#include <string>

#include "image/auth_challenge.h"
#include "image/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
      (void)zunvm::image::ParseManifest(text);
      break;
    case 1:
      (void)zunvm::image::SelectPlatform(text);
      break;
    case 2:
      (void)zunvm::image::ParseImageConfig(text);
      break;
    case 3:
      (void)zunvm::image::ParseChallenge(text);
      break;
  }
  return 0;
}
