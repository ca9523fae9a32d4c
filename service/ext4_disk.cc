#include "service/ext4_disk.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include "common/subprocess.h"

namespace zunvm {

namespace fs = std::filesystem;

Status MakeSparseExt4(const std::string& path, int64_t gib, const std::string& label) {
  std::string tmp = path + ".tmp";
  std::error_code ec;
  fs::remove(tmp, ec);
  auto r = RunProcess({"mkfs.ext4", "-q", "-F", "-L", label, "-E", "lazy_itable_init=1,lazy_journal_init=1", tmp,
                       std::to_string(std::max<int64_t>(gib, 1)) + "G"});
  if (!r || r->exit_code != 0) {
    fs::remove(tmp, ec);
    return Status::Internal("mkfs.ext4 " + path + ": " + (r ? r->output : r.error().message()));
  }
  ::chmod(tmp.c_str(), 0600);
  fs::rename(tmp, path, ec);
  if (ec) return Status::Internal("placing " + path + ": " + ec.message());
  return Status::Ok();
}

}  // namespace zunvm
