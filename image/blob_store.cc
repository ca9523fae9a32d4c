#include "image/blob_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/fs_at.h"
#include "common/sha256.h"
#include "image/reference.h"

namespace zunvm::image {

namespace {

Status Io(const std::string& what) { return Status::Internal(what + ": " + std::strerror(errno)); }

std::atomic<uint64_t> temp_counter{0};

}  // namespace

Status BlobStore::Init() {
  std::error_code ec;
  std::filesystem::create_directories(dir_ + "/sha256", ec);
  std::filesystem::create_directories(dir_ + "/tmp", ec);
  if (ec) return Status::Internal("creating " + dir_ + ": " + ec.message());
  // Temp files of a crashed writer are never valid blobs.
  for (const auto& e : std::filesystem::directory_iterator(dir_ + "/tmp", ec)) std::filesystem::remove(e.path(), ec);
  return Status::Ok();
}

std::string BlobStore::Path(const std::string& digest) const { return dir_ + "/sha256/" + digest.substr(7); }

bool BlobStore::Has(const std::string& digest) const {
  struct stat st{};
  return ValidDigest(digest) && ::stat(Path(digest).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Result<std::string> BlobStore::Put(const std::string& expected, int64_t size, int64_t max_bytes, const Reader& read) {
  if (!expected.empty() && !ValidDigest(expected)) return Err(Status::Invalid("bad digest " + expected));
  std::string tmp = dir_ + "/tmp/" + std::to_string(::getpid()) + "." + std::to_string(++temp_counter);
  fsat::UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (fd.get() < 0) return Err(Io("creating " + tmp));
  auto fail = [&](Status st) {
    ::unlink(tmp.c_str());
    return Err(std::move(st));
  };
  Sha256 hash;
  int64_t total = 0;
  std::string buf(1 << 20, '\0');
  for (;;) {
    auto n = read(buf.data(), buf.size());
    if (!n) return fail(n.error());
    if (*n == 0) break;
    total += static_cast<int64_t>(*n);
    if (total > max_bytes || (size >= 0 && total > size)) {
      return fail(Status(Code::kPayloadTooLarge, "blob larger than " + std::to_string(size >= 0 ? size : max_bytes) + " bytes"));
    }
    hash.Update(std::string_view(buf.data(), *n));
    for (size_t done = 0; done < *n;) {
      ssize_t w = ::write(fd.get(), buf.data() + done, *n - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return fail(Io("writing " + tmp));
      done += static_cast<size_t>(w);
    }
  }
  if (size >= 0 && total != size) {
    return fail(Status::Invalid("blob size " + std::to_string(total) + " is not the expected " + std::to_string(size)));
  }
  std::string digest = hash.Digest();
  if (!expected.empty() && digest != expected) {
    return fail(Status::Invalid("blob digest mismatch: expected " + expected + ", got " + digest));
  }
  if (::fsync(fd.get()) != 0) return fail(Io("fsync " + tmp));
  if (::rename(tmp.c_str(), Path(digest).c_str()) != 0) return fail(Io("rename " + tmp));
  return digest;
}

Result<std::string> BlobStore::PutBytes(const std::string& data) {
  size_t off = 0;
  return Put("", static_cast<int64_t>(data.size()), static_cast<int64_t>(data.size()),
             [&](char* buf, size_t cap) -> Result<size_t> {
               size_t n = std::min(cap, data.size() - off);
               std::memcpy(buf, data.data() + off, n);
               off += n;
               return n;
             });
}

Result<std::string> BlobStore::Read(const std::string& digest, size_t max) const {
  if (!ValidDigest(digest)) return Err(Status::Invalid("bad digest " + digest));
  fsat::UniqueFd fd(::open(Path(digest).c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return Err(Status::NotFound("blob " + digest + " is not in the store"));
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Err(Io("reading blob " + digest));
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max) return Err(Status::Invalid("blob " + digest + " is larger than " + std::to_string(max) + " bytes"));
  }
  return out;
}

Status BlobStore::Remove(const std::string& digest) {
  if (!ValidDigest(digest)) return Status::Invalid("bad digest " + digest);
  if (::unlink(Path(digest).c_str()) != 0 && errno != ENOENT) return Io("removing blob " + digest);
  return Status::Ok();
}

}  // namespace zunvm::image
