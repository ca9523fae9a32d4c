// The serial a sandbox disk is found by in the guest (/sys/block/vd*/serial): 1..20 of
// [A-Za-z0-9._-], as virtio-blk keeps 20 bytes. One rule for the service that assigns serials
// and the driver that checks a spec; the guest agent checks its own copy of it.
#pragma once

#include <algorithm>
#include <cctype>
#include <string>

namespace zunvm {

inline bool ValidDiskSerial(const std::string& s) {
  return !s.empty() && s.size() <= 20 && std::all_of(s.begin(), s.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.' || ch == '-';
  });
}

}  // namespace zunvm
