// Exporting an image as a `docker save` archive (what `docker load` and Glance's docker
// container format take): manifest.json, the config blob as <hex>.json and every layer blob
// as <hex>/layer.tar (compressed layers stay compressed; docker load detects that).
//
// The archive is built in memory. Errors: NotFound when a blob of the image is missing from
// the store, PayloadTooLarge ("ImageTooLarge") past `max_bytes` of blobs, Internal from
// libarchive. Thread safety: none needed (reads the thread-safe BlobStore only).
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "image/blob_store.h"

namespace zunvm::image {

struct ExportedImage {
  std::string repo_tag;             // "busybox:latest"; empty for none
  std::string config_digest;        // sha256:...
  std::vector<std::string> layers;  // sha256:..., lowest first
};

Result<std::string> ExportDockerArchive(const BlobStore& blobs, const ExportedImage& img,
                                        size_t max_bytes);

}  // namespace zunvm::image
