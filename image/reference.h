// Image references as Docker reads them: `busybox` is docker.io/library/busybox:latest,
// `nginx:1.25`, `registry.example:5000/team/app@sha256:<64 hex>`, `localhost/x`.
// The first path component is a registry when it contains '.' or ':' or is "localhost";
// otherwise the registry is docker.io, where one-component names get "library/".
// Parse errors are InvalidArgument naming the reference. Value type, no shared state.
#pragma once

#include <string>

#include "common/status.h"

namespace zunvm::image {

struct Reference {
  std::string registry;    // "docker.io", "127.0.0.1:5000"
  std::string repository;  // "library/busybox", "team/app"
  std::string tag;         // "latest" when neither tag nor digest was given
  std::string digest;      // "sha256:<hex>" or ""

  // "docker.io/library/busybox:latest", with "@digest" when pinned.
  std::string Canonical() const;
  // What users see: "busybox" for docker.io/library/busybox, else registry/repository.
  std::string FamiliarName() const;
  bool IsLocalRegistry() const;  // localhost, 127.0.0.0/8, ::1: plain HTTP by default
};

Result<Reference> ParseReference(const std::string& text);
// A registry host[:port] on localhost, 127.0.0.0/8 or ::1 (reached over plain HTTP by default).
bool IsLocalRegistryHost(std::string host);
// "sha256:" + 64 lowercase hex digits.
bool ValidDigest(const std::string& d);

}  // namespace zunvm::image
