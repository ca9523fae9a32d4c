// RegistryClient: the Docker Registry HTTP API v2, for pulls (cpprestsdk's HTTP client).
//  * anonymous pulls; bearer tokens from the WWW-Authenticate challenge (the token endpoint
//    gets basic auth when credentials are configured); basic auth to the registry itself;
//  * https with the system CAs or a configured CA file; plain http for `insecure` registries
//    (the caller decides: localhost and 127.0.0.0/8 are insecure by default, as in Docker);
//  * manifests by tag or digest (the body's sha256 must equal a requested digest), blobs
//    streamed into the BlobStore and verified there, redirects followed (credentials are not
//    sent to another host), retries with backoff on connection errors and 5xx.
// Everything the registry sends is untrusted: sizes are capped, JSON is parsed by
// image/manifest. Thread safety: thread-safe (no mutable state besides a token cache under a
// mutex). Errors: NotFound (404 / unknown manifest), Unauthorized (401 after auth),
// Unavailable (network, 5xx after retries), InvalidArgument (bad data).
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "common/status.h"
#include "image/blob_store.h"
#include "image/manifest.h"
#include "image/reference.h"

namespace zunvm::image {

struct RegistryOptions {
  bool insecure = false;          // plain http allowed: https is tried first, as Docker does
  std::string ca_file;            // extra CA for https
  std::string username, password; // basic credentials (for the registry or its token service)
  int retries = 3;
  std::chrono::seconds timeout{120};
};

struct FetchedManifest {
  std::string body;
  std::string media_type;
  std::string digest;  // sha256 of body
};

class RegistryClient {
 public:
  RegistryClient(std::string registry, RegistryOptions opts);
  // `ref_or_digest`: a tag or "sha256:..." of the repository.
  Result<FetchedManifest> GetManifest(const std::string& repository, const std::string& ref_or_digest);
  // Downloads the blob into the store (verified against its digest and size). Returns its digest.
  Result<std::string> FetchBlob(const std::string& repository, const Descriptor& d, BlobStore& store);
  // The repositories the registry lists (GET /v2/_catalog), those containing `term`.
  Result<std::vector<std::string>> Catalog(const std::string& term);
  // The tags of a repository (GET /v2/<repo>/tags/list).
  Result<std::vector<std::string>> Tags(const std::string& repository);
  // Manifest and blob bytes this client has received so far, whether or not what they were for
  // succeeded (blobs the store already had are not fetched, so not counted).
  int64_t FetchedBytes() const { return fetched_.load(); }

 private:
  // "https://host" or, for an insecure registry that does not speak TLS, "http://host"; chosen
  // by one probe of /v2/ on first use.
  std::string BaseUrl();
  std::string base_url_;
  bool probed_ = false;
  std::string registry_;
  RegistryOptions opts_;
  std::mutex mu_;
  std::map<std::string, std::string> tokens_;  // scope -> bearer token
  std::atomic<int64_t> fetched_{0};
};

}  // namespace zunvm::image
