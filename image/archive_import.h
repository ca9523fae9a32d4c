// Importing images without a registry: `docker save` archives (manifest.json + config +
// layer tars, old or OCI-style paths) and OCI image-layout archives (oci-layout, index.json,
// blobs/sha256/...), plain or gzip-compressed tar, read as a stream from an fd.
//
// Every regular file of the archive goes into the BlobStore under the digest of its content
// (so a file that claims a digest by its path but does not match it is simply not found
// there); manifests and configs are then parsed as hostile JSON and every layer and config
// they name must be present. Docker-save images get a synthesised Docker v2 manifest blob,
// so every image has a manifest digest.
// Errors: InvalidArgument (not an image archive, corrupt, a missing blob, bad JSON),
// PayloadTooLarge past `max_bytes`. Thread safety: none needed (no shared state besides the
// thread-safe BlobStore).
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "image/blob_store.h"
#include "image/manifest.h"

namespace zunvm::image {

struct ImportedImage {
  std::string repo;             // familiar name ("busybox", "127.0.0.1:5000/team/app"); may be ""
  std::string tag;              // may be "" (untagged)
  std::string manifest_digest;
  std::string config_digest;    // the image id
  ImageConfig config;
  std::vector<std::string> layers;  // layer blob digests, lowest first
  int64_t size = 0;                 // layers + config bytes
};

// `default_repo` names images the archive leaves unnamed (OCI refs that are only a tag).
Result<std::vector<ImportedImage>> ImportArchive(int fd, BlobStore& blobs, int64_t max_bytes,
                                                 const std::string& default_repo = "");

}  // namespace zunvm::image
