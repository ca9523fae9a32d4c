// Owning pointers for libarchive handles and writing a tar into a std::string, shared by the
// places that build tars in memory (image export, the fake driver's file trees).
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <memory>
#include <string>

namespace zunvm {

struct ArchiveWriteFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct ArchiveReadFree {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct ArchiveEntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};
using ArchiveWriter = std::unique_ptr<archive, ArchiveWriteFree>;
using ArchiveReader = std::unique_ptr<archive, ArchiveReadFree>;
using ArchiveEntry = std::unique_ptr<archive_entry, ArchiveEntryFree>;

// A pax tar writer appending to *out (which must outlive it); null with the error in *err
// when libarchive refuses.
inline ArchiveWriter OpenTarWriterToString(std::string* out, std::string* err) {
  ArchiveWriter a(archive_write_new());
  auto append = [](archive*, void* dst, const void* buf, size_t n) -> la_ssize_t {
    static_cast<std::string*>(dst)->append(static_cast<const char*>(buf), n);
    return static_cast<la_ssize_t>(n);
  };
  if (archive_write_set_format_pax_restricted(a.get()) != ARCHIVE_OK ||
      archive_write_open(a.get(), out, nullptr, append, nullptr) != ARCHIVE_OK) {
    *err = std::string("tar: ") + archive_error_string(a.get());
    return nullptr;
  }
  return a;
}

}  // namespace zunvm
