// Pulling one image from a registry into the BlobStore: manifest by tag or digest (a manifest
// list or OCI index resolved to linux/amd64), its config, its layers (each verified by digest
// as it is stored; layers already present are not fetched again).
// Errors: those of RegistryClient and image/manifest. Thread safety: as RegistryClient.
#pragma once

#include "common/status.h"
#include "image/archive_import.h"
#include "image/blob_store.h"
#include "image/reference.h"
#include "image/registry_client.h"

namespace zunvm::image {

Result<ImportedImage> Pull(const Reference& ref, RegistryClient& client, BlobStore& store);

}  // namespace zunvm::image
