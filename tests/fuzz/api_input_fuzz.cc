// libFuzzer target: what clients send the API. The first byte picks the parser, the rest is its
// input: the create body and the PATCH body (as JSON, at the oldest and newest microversions),
// the query string, and an image reference. Nothing may crash, hang or leak; bad input is a
// Status.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "common/config.h"
#include "image/reference.h"
#include "rest/create_schema.h"
#include "rest/query.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  static const zunvm::Config cfg;
  switch (data[0] % 4) {
    case 0:
    case 1: {
      nlohmann::json body = nlohmann::json::parse(text, nullptr, false);
      if (body.is_discarded()) return 0;
      for (const zunvm::ApiVersion& v : {zunvm::kMinVersion, zunvm::kMaxVersion}) {
        if (data[0] % 4 == 0) {
          (void)zunvm::ParseCreateBody(body, v, cfg);
        } else {
          (void)zunvm::ParsePatchBody(body, v, cfg);
        }
      }
      break;
    }
    case 2:
      (void)zunvm::ParseQuery(text);
      break;
    case 3:
      if (auto ref = zunvm::image::ParseReference(text)) (void)ref->Canonical();
      break;
  }
  return 0;
}
