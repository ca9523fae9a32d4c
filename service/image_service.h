// ImageService: the images this host has — imported from archives today (pulled from
// registries next) — their records in SQLite, their blobs in the content-addressed store
// under <state_dir>/images/blobs, and one read-only ext4 root-filesystem disk per image
// (<state_dir>/images/rootfs/<hex>.ext4, made from the flattened layers with mkfs.ext4 -d, no
// loop mount) that every container of the image shares.
//
// Thread safety: thread-safe; imports and disk builds are serialised by one mutex (they are
// rare and heavy). Errors: NotFound ("ImageNotFound"), Conflict (delete of an image in use),
// InvalidArgument (bad archive or name), Internal.
#pragma once

#include <future>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "db/container_store.h"
#include "db/image_store.h"
#include "image/archive_import.h"
#include "image/blob_store.h"
#include "image/reference.h"
#include "image/registry_client.h"
#include "model/container.h"

namespace zunvm {

class ImageService {
 public:
  // `images_dir` holds blobs/, rootfs/ and work/ (Config::ImageDir()).
  ImageService(Database* db, ContainerStore* containers, std::string images_dir);
  Status Init();
  // Imports a docker-save or OCI archive from `fd`; every image gets its record (a repo:tag
  // already present is moved to the new image) and its rootfs disk.
  Result<std::vector<ImageRecord>> Import(int fd, const std::string& default_repo);
  // Registries reached over plain http besides localhost / 127.0.0.0/8 ([image]
  // insecure_registries). Call before serving.
  void SetInsecureRegistries(std::vector<std::string> registries) { insecure_ = std::move(registries); }
  // "HOST=USER:PASSWORD" entries ([image] registry_credentials); InvalidArgument if malformed.
  Status SetRegistryCredentials(const std::vector<std::string>& entries);
  // "REGISTRY=MIRROR" entries ([image] registry_mirrors; MIRROR a host[:port]): a pull of an
  // image of REGISTRY tries its mirrors in the order given, then REGISTRY itself (Docker's
  // registry-mirrors, for any registry). The image keeps its own name whichever answered.
  // InvalidArgument if malformed.
  Status SetRegistryMirrors(const std::vector<std::string>& entries);
  // Extra CA certificates (PEM) for https registries ([image] registry_ca_file).
  void SetRegistryCaFile(std::string path) { ca_file_ = std::move(path); }
  // Pulls `name` from its registry (Docker Hub naming) and registers it like an import. Two
  // pulls of one reference at once share one download.
  Result<ImageRecord> Pull(const std::string& name);
  Result<std::vector<ImageRecord>> List();
  // Repositories matching `term` (substring, or the whole name with `exact`) in the catalogs
  // of the registries zunvmd knows: the one named in `term` ("HOST/name"), else those of
  // [image] insecure_registries and registry_credentials and of local images. Registries that
  // do not answer are skipped. Entries carry Zun's search columns (ID, Name, Tags, Status,
  // Size, Metadata) and Docker's (name, description, is_official, is_automated, star_count).
  Result<nlohmann::json> Search(const std::string& term, bool exact);
  // By uuid, "repo:tag" or "repo" (tag latest), as Docker names them ("busybox" is
  // "docker.io/library/busybox:latest").
  Result<ImageRecord> Find(const std::string& ident);
  // A new local image whose one layer is `rootfs_tar` (a container's whole filesystem) and
  // whose runtime config is `base`'s: what `commit` makes. Named repository:tag (tag "latest"
  // when empty).
  Result<ImageRecord> Commit(const ImageRecord& base, const std::string& rootfs_tar,
                             const std::string& repository, const std::string& tag);
  // The image as a `docker save` archive (image/archive_export.h), at most `max_bytes` of
  // blobs (PayloadTooLarge past it).
  Result<std::string> Export(const std::string& ident, size_t max_bytes);
  // Conflict while a container uses it. Blobs and the disk go when no record names the image.
  Status Delete(const std::string& ident);
  // Docker's rules for what the image supplies where a create request is silent: entrypoint,
  // command, environment, working directory and exposed ports.
  static void ApplyDefaults(const ImageRecord& img, Container& c, bool entrypoint_given);
  // The image's shared read-only root filesystem disk, built on first use.
  Result<std::string> RootfsDisk(const ImageRecord& img);
  // A container's own writable disk (sparse, ext4, `gib` GiB; an existing one is kept: its
  // files survive stop/start), under <images_dir>/containers/<uuid>.ext4; and its removal.
  Result<std::string> ContainerDisk(const std::string& uuid, int64_t gib);
  void RemoveContainerDisk(const std::string& uuid);

 private:
  Result<std::string> BuildRootfsDisk(const ImageRecord& img);
  Result<ImageRecord> PullOnce(const image::Reference& ref);
  // How to reach `host` (a registry or a mirror): plain HTTP when local or listed in
  // insecure_registries, the CA file, its credentials.
  image::RegistryOptions OptionsFor(const std::string& host) const;
  // Pulls `ref` from `host` (the registry itself or one of its mirrors) into the blob store.
  Result<image::ImportedImage> PullFrom(const std::string& host, const image::Reference& ref);
  Result<ImageRecord> Register(const image::ImportedImage& img);
  ImageStore store_;
  ContainerStore* containers_;
  std::string dir_;
  image::BlobStore blobs_;
  std::mutex mu_;
  std::vector<std::string> insecure_;
  std::string ca_file_;
  std::map<std::string, std::pair<std::string, std::string>> credentials_;  // host -> user, password
  std::map<std::string, std::vector<std::string>> mirrors_;                 // registry -> mirrors
  std::mutex pulls_mu_;  // guards pulls_
  std::map<std::string, std::shared_future<Result<ImageRecord>>> pulls_;
};

}  // namespace zunvm
