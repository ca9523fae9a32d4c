// Applying one OCI/Docker image layer (a tar changeset) onto a directory.
//
// The directory is the image's flattened root being built, layer by layer, lowest layer first
// (OCI image spec, "Applying Changesets", with Docker's behaviour where the spec is silent):
//  - regular files, directories, symlinks and hard links are created with their mode (setuid,
//    setgid and sticky bits included), numeric owner and mtime; xattrs are ignored. A directory's
//    times are set once the whole layer has been applied, so its contents do not disturb them.
//  - `dir/.wh.name` removes `dir/name` (recursively) and is not itself created;
//    `dir/.wh..wh..opq` removes everything in `dir` that came from lower layers and keeps what
//    this layer puts there, wherever the marker stands in the tar. Other `.wh..wh.*` names
//    (aufs metadata) are skipped.
//  - an entry whose path exists with another type replaces it (the old tree is removed first);
//    a directory over a directory merges, taking the new mode/owner/times.
//  - device nodes and fifos are skipped unless `allow_devices`; sockets are always skipped.
//
// Confinement: nothing outside root_fd's tree is ever written, linked or removed. Every path is
// resolved from root_fd one component at a time with openat(O_NOFOLLOW), never from "/".
// Refused with InvalidArgument naming the entry: absolute names, any ".." component, any parent
// component that is a symlink or non-directory (made by this layer or a lower one), a
// non-final component starting with ".wh.", a whiteout of "", "." or "..", hard links whose
// target is absolute, has "..", or goes through a symlink. Names reach us as C strings, so an
// embedded NUL can only truncate a name, and the truncated name is checked like any other.
// Over `max_entries` headers or `max_bytes` of file data -> Code::kPayloadTooLarge.
// A corrupt or truncated archive -> InvalidArgument. Syscall failures -> Internal.
//
// On error the root may hold a partly applied layer: the caller unpacks into a scratch
// directory and discards it. Owners are applied as given, so the caller must run as root
// (a failed chown is an error, not silently ignored).
// Thread safety: none needed; concurrent calls on the same root are not supported, nor is
// another process changing the root's tree while a layer is applied.
#pragma once

#include <cstdint>

#include "common/status.h"

namespace zunvm::image {

struct UnpackLimits {
  int64_t max_bytes = 8LL << 30;   // total file data (sum of regular files' sizes)
  int64_t max_entries = 1'000'000;  // tar headers, whiteouts and skipped entries included
  bool allow_devices = false;       // create char/block devices and fifos with mknodat
};

struct UnpackStats {
  int64_t entries = 0;    // tar headers read
  int64_t bytes = 0;      // file data written
  int64_t whiteouts = 0;  // whiteout and opaque markers applied
};

// Reads the layer (plain tar, gzip, or zstd when libarchive has it built in) from `layer_fd`,
// from its current offset, and applies it under the directory `root_fd` (opened O_RDONLY |
// O_DIRECTORY). Neither fd is closed.
Result<UnpackStats> ApplyLayer(int layer_fd, int root_fd, const UnpackLimits& limits);

}  // namespace zunvm::image
