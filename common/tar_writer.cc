#include "common/tar_writer.h"

#include <sys/sysmacros.h>

#include <cstdio>
#include <cstring>

namespace zunvm::rootfiles {

namespace {

constexpr size_t kBlock = 512;

// `width - 1` octal digits, zero-padded, then NUL (values are range-checked by the caller).
void Octal(char* field, size_t width, uint64_t v) {
  field[width - 1] = '\0';
  for (size_t i = width - 1; i-- > 0; v >>= 3) field[i] = static_cast<char>('0' + (v & 7));
}

// "LEN key=value\n" where LEN counts the whole record, itself included.
std::string PaxRecord(const std::string& key, const std::string& value) {
  size_t body = key.size() + value.size() + 3;  // ' ', '=', '\n'
  size_t len = body + 1;
  while (std::to_string(len).size() + body != len) len = std::to_string(len).size() + body;
  return std::to_string(len) + " " + key + "=" + value + "\n";
}

void Pad(std::string& out) { out.append((kBlock - out.size() % kBlock) % kBlock, '\0'); }

}  // namespace

void TarWriter::Header(const std::string& name, const std::string& link, char type, uint32_t mode,
                       uint32_t uid, uint32_t gid, int64_t size, int64_t mtime, dev_t rdev) {
  char h[kBlock];
  std::memset(h, 0, sizeof h);
  std::memcpy(h, name.data(), std::min<size_t>(name.size(), 100));
  Octal(h + 100, 8, mode);
  Octal(h + 108, 8, uid & 07777777);
  Octal(h + 116, 8, gid & 07777777);
  Octal(h + 124, 12, static_cast<uint64_t>(size));
  Octal(h + 136, 12, static_cast<uint64_t>(mtime < 0 ? 0 : mtime));
  std::memset(h + 148, ' ', 8);
  h[156] = type;
  std::memcpy(h + 157, link.data(), std::min<size_t>(link.size(), 100));
  std::memcpy(h + 257, "ustar\0" "00", 8);
  Octal(h + 329, 8, major(rdev));
  Octal(h + 337, 8, minor(rdev));
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  std::snprintf(h + 148, 8, "%06o", sum);
  h[155] = ' ';
  out_.append(h, sizeof h);
}

Status TarWriter::Add(const TarEntry& e, const std::string& data) {
  std::string name = e.name + (e.type == TarEntry::kDir ? "/" : "");
  int64_t size = e.type == TarEntry::kFile ? static_cast<int64_t>(data.size()) : 0;
  std::string pax;
  if (name.size() > 100) pax += PaxRecord("path", name);
  if (e.link.size() > 100) pax += PaxRecord("linkpath", e.link);
  if (out_.size() + pax.size() + static_cast<size_t>(size) + 4 * kBlock > cap_) {
    return Status(Code::kPayloadTooLarge, "the archive would exceed " + std::to_string(cap_ >> 20) + " MiB");
  }
  if (!pax.empty()) {
    Header("PaxHeader/" + name.substr(0, 80), "", 'x', 0644, 0, 0, static_cast<int64_t>(pax.size()), e.mtime, 0);
    out_ += pax;
    Pad(out_);
  }
  Header(name, e.link, static_cast<char>(e.type), e.mode, e.uid, e.gid, size, e.mtime, e.rdev);
  if (size > 0) {
    out_ += data;
    Pad(out_);
  }
  return Status::Ok();
}

std::string TarWriter::Finish() {
  out_.append(2 * kBlock, '\0');
  return std::move(out_);
}

}  // namespace zunvm::rootfiles
