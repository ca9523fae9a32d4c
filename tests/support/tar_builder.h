// Test helpers: tars built in memory with libarchive's write side, and read back.
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace zunvm::testing_util {

// One entry: type '0' file (data = content), '2' symlink (data = target), '5' directory.
// mode 0: 0644 for files, 0755 for directories, 0777 for symlinks.
struct TarItem {
  std::string name;
  char type = '0';
  std::string data;
  unsigned mode = 0;
};

inline std::string MakeTarEntries(const std::vector<TarItem>& items) {
  std::string out;
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_open(
      a, &out, nullptr,
      [](archive*, void* o, const void* b, size_t n) -> la_ssize_t {
        static_cast<std::string*>(o)->append(static_cast<const char*>(b), n);
        return static_cast<la_ssize_t>(n);
      },
      nullptr);
  for (const auto& it : items) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, it.name.c_str());
    archive_entry_set_filetype(e, it.type == '5' ? AE_IFDIR : it.type == '2' ? AE_IFLNK : AE_IFREG);
    archive_entry_set_perm(e, it.mode ? it.mode : it.type == '5' ? 0755 : it.type == '2' ? 0777 : 0644);
    if (it.type == '2') archive_entry_set_symlink(e, it.data.c_str());
    if (it.type == '0') archive_entry_set_size(e, static_cast<la_int64_t>(it.data.size()));
    archive_write_header(a, e);
    if (it.type == '0') archive_write_data(a, it.data.data(), it.data.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

// A tar of regular files {path, content}, mode 0644.
inline std::string MakeTar(const std::vector<std::pair<std::string, std::string>>& files) {
  std::vector<TarItem> items;
  for (const auto& [name, data] : files) items.push_back({name, '0', data});
  return MakeTarEntries(items);
}

// name -> content (files), "->target" (symlinks) or "/" (directories); empty if not a tar.
inline std::map<std::string, std::string> ReadTar(const std::string& tar) {
  std::map<std::string, std::string> out;
  archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  if (archive_read_open_memory(a, tar.data(), tar.size()) == ARCHIVE_OK) {
    archive_entry* e;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
      std::string v;
      if (archive_entry_filetype(e) == AE_IFDIR) {
        v = "/";
      } else if (archive_entry_filetype(e) == AE_IFLNK) {
        v = std::string("->") + archive_entry_symlink(e);
      } else {
        char buf[65536];
        la_ssize_t n;
        while ((n = archive_read_data(a, buf, sizeof buf)) > 0) v.append(buf, static_cast<size_t>(n));
      }
      out[archive_entry_pathname(e)] = v;
    }
  }
  archive_read_free(a);
  return out;
}

}  // namespace zunvm::testing_util
