#include "image/layer_unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "common/fs_at.h"
#include "common/tar_extract.h"

namespace zunvm::image {

namespace {

using fsat::JoinPath;
using fsat::ListDir;
using fsat::RemoveAt;
using fsat::SplitRelative;
using fsat::UniqueFd;
using fsat::WalkDirs;

// Deepest tree removed by a whiteout or an opaque marker (one open fd per level).
constexpr int kMaxDepth = 512;
constexpr char kWhPrefix[] = ".wh.";
constexpr char kWhMetaPrefix[] = ".wh..wh.";
constexpr char kWhOpaque[] = ".wh..wh..opq";

bool StartsWith(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }

// Opaque directory: removes everything under the open directory `dirfd` (whose path is
// `rel`) that is not in `keep`, descending into the kept directories.
Status ClearLower(int dirfd, const std::string& rel, const std::unordered_set<std::string>& keep,
                  const std::string& what, int depth) {
  if (depth > kMaxDepth) return Status::Invalid(what + ": tree too deep to clear");
  auto names = ListDir(dirfd, what);
  if (!names) return names.error();
  for (const auto& n : *names) {
    std::string child = rel.empty() ? n : rel + "/" + n;
    if (!keep.count(child)) {
      ZUNVM_RETURN_IF_ERROR(RemoveAt(dirfd, n, what, depth + 1));
      continue;
    }
    UniqueFd d(::openat(dirfd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (d.get() >= 0) ZUNVM_RETURN_IF_ERROR(ClearLower(d.get(), child, keep, what, depth + 1));
  }
  return Status::Ok();
}

// Whiteouts here; every other entry through the shared confined extractor.
class Applier {
 public:
  Applier(archive* a, int root, const UnpackLimits& limits)
      : root_(root),
        extractor_(a, root, tarx::ExtractRules{false, limits.allow_devices, true, limits.max_bytes}, "layer entry ") {}

  // Applies the entry whose header was just read.
  Status Apply(archive_entry* e) {
    const char* name = archive_entry_pathname(e);
    const std::string what = std::string("layer entry ") + (name ? name : "(unnamed)");
    auto parts = SplitRelative(name);
    if (!parts) return Status::Invalid(what + ": absolute name or '..' component");
    for (size_t i = 0; i + 1 < parts->size(); ++i) {
      if (StartsWith((*parts)[i], kWhPrefix)) return Status::Invalid(what + ": whiteout name used as a directory");
    }
    if (!parts->empty() && StartsWith(parts->back(), kWhPrefix)) return Whiteout(*parts, what);
    for (size_t i = 1; i <= parts->size(); ++i) keep_.insert(JoinPath(*parts, i));
    Status st = extractor_.Write(e, *parts);
    stats.bytes = extractor_.bytes();
    return st;
  }

  void Finish() { extractor_.Finish(); }

  UnpackStats stats;

 private:
  Status Whiteout(const std::vector<std::string>& parts, const std::string& what) {
    const std::string& base = parts.back();
    const size_t n = parts.size() - 1;
    if (base == kWhOpaque) {
      auto dir = WalkDirs(root_, parts, n, true, what);
      if (!dir) return dir.error();
      for (size_t i = 1; i <= n; ++i) keep_.insert(JoinPath(parts, i));
      ++stats.whiteouts;
      return ClearLower(dir->get(), JoinPath(parts, n), keep_, what, 0);
    }
    if (StartsWith(base, kWhMetaPrefix)) return Status::Ok();  // aufs metadata
    const std::string victim = base.substr(std::strlen(kWhPrefix));
    if (victim.empty() || victim == "." || victim == "..") return Status::Invalid(what + ": bad whiteout name");
    auto dir = WalkDirs(root_, parts, n, false, what);
    if (!dir && dir.error().code() == Code::kNotFound) return Status::Ok();  // nothing to hide
    if (!dir) return dir.error();
    ++stats.whiteouts;
    return RemoveAt(dir->get(), victim, what, 0);
  }

  int root_;
  tarx::TarExtractor extractor_;
  std::unordered_set<std::string> keep_;  // paths this layer made (with their parents)
};

}  // namespace

Result<UnpackStats> ApplyLayer(int layer_fd, int root_fd, const UnpackLimits& limits) {
  ArchiveReader a = tarx::NewTarReader();
  if (!a) return Err(Status::Internal("archive_read_new failed"));
  // Only the built-in decoder: without libzstd libarchive would run an external program.
  if (archive_libzstd_version() != nullptr) archive_read_support_filter_zstd(a.get());
  if (archive_read_open_fd(a.get(), layer_fd, 1 << 16) != ARCHIVE_OK) {
    return Err(Status::Invalid("layer is not a readable tar: " + tarx::ArchiveError(a.get())));
  }
  Applier applier(a.get(), root_fd, limits);
  for (;;) {
    archive_entry* e = nullptr;
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) return Err(Status::Invalid("corrupt layer: " + tarx::ArchiveError(a.get())));
    if (++applier.stats.entries > limits.max_entries) {
      return Err(Status(Code::kPayloadTooLarge,
                        "layer has more than " + std::to_string(limits.max_entries) + " entries"));
    }
    ZUNVM_RETURN_IF_ERROR(applier.Apply(e));
  }
  applier.Finish();
  return applier.stats;
}

}  // namespace zunvm::image
