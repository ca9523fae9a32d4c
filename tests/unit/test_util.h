// Helpers shared by unit tests: a temp dir removed at scope exit, a small tmpfs that can be
// filled up, and polling with a deadline.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace zunvm::testing_util {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "zunvm-test-XXXXXX").string();
    path_ = mkdtemp(tmpl.data()) ? tmpl : std::string();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A tmpfs of `size` ("1m") on a new temp dir, unmounted at scope exit (the tests run as root).
// Fill() takes every free block with a filler file, as a program filling the disk would;
// Free() removes it.
class SmallTmpfs {
 public:
  explicit SmallTmpfs(const std::string& size = "1m") {
    path_ = dir_.path() + "/fs";
    mounted_ = ::mkdir(path_.c_str(), 0755) == 0 &&
               ::mount("tmpfs", path_.c_str(), "tmpfs", 0, ("size=" + size).c_str()) == 0;
  }
  ~SmallTmpfs() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& path() const { return path_; }
  // Appends to the filler until not one byte more fits; whether it got there.
  bool Fill() {
    int fd = ::open((path_ + "/filler").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) return false;
    std::vector<char> chunk(1 << 16, 0);
    size_t n = chunk.size();
    bool full = false;
    while (true) {
      if (::write(fd, chunk.data(), n) >= 0) continue;
      if (errno != ENOSPC) break;
      if (n == 1) {
        full = true;
        break;
      }
      n /= 2;
    }
    ::close(fd);
    return full;
  }
  void Free() { ::unlink((path_ + "/filler").c_str()); }

 private:
  TempDir dir_;
  std::string path_;
  bool mounted_ = false;
};

// Polls `cond` until it holds or `timeout` passes; returns whether it held. The short wait
// between polls is not synchronisation: the deadline is what bounds the test.
inline bool Eventually(const std::function<bool()>& cond,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return cond();
}

}  // namespace zunvm::testing_util
