// libFuzzer target: archives from users and registries. The first byte picks the path, the
// rest is the file: a `docker save` / OCI image-layout archive through ImportArchive (its
// manifest.json / index.json and every blob it names), or an image layer (tar, maybe gzip)
// through the confined unpacker into a scratch directory. Nothing may crash, hang, leak or
// write outside the scratch directory; bad input is a Status.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "image/archive_import.h"
#include "image/blob_store.h"
#include "image/layer_unpack.h"

namespace {

const std::string& Scratch() {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/zunvm-fuzz-XXXXXX";
    const char* made = ::mkdtemp(tmpl);
    if (made == nullptr) std::abort();
    return std::string(made);
  }();
  return dir;
}

void Empty(const std::string& dir) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) std::filesystem::remove_all(e.path(), ec);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  int fd = ::memfd_create("input", MFD_CLOEXEC);
  if (fd < 0) std::abort();
  if (::write(fd, data + 1, size - 1) != static_cast<ssize_t>(size - 1)) std::abort();
  ::lseek(fd, 0, SEEK_SET);
  const std::string root = Scratch();
  Empty(root);
  if (data[0] % 2 == 0) {
    zunvm::image::BlobStore blobs(root + "/blobs");
    if (blobs.Init().ok()) (void)zunvm::image::ImportArchive(fd, blobs, 16 << 20, "fuzz");
  } else {
    const std::string dir = root + "/rootfs";
    std::filesystem::create_directory(dir);
    int root_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0) std::abort();
    zunvm::image::UnpackLimits limits;
    limits.max_bytes = 16 << 20;
    limits.max_entries = 10000;
    (void)zunvm::image::ApplyLayer(fd, root_fd, limits);
    ::close(root_fd);
  }
  ::close(fd);
  return 0;
}
