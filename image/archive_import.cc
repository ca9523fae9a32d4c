#include "image/archive_import.h"

#include <archive.h>
#include <archive_entry.h>

#include <map>
#include <memory>

#include "common/tar_extract.h"
#include "image/reference.h"

namespace zunvm::image {

using nlohmann::json;

namespace {

constexpr size_t kMaxJson = 4 << 20;
constexpr int kMaxEntries = 100000;

std::string Normalize(std::string name) {
  while (name.rfind("./", 0) == 0) name = name.substr(2);
  return name;
}

// What the archive holds: its files by path (content digest), and small JSON documents.
struct Contents {
  std::map<std::string, std::string> digests;  // path -> blob digest
  std::map<std::string, int64_t> sizes;        // path -> bytes
};

Result<Contents> ReadAll(int fd, BlobStore& blobs, int64_t max_bytes) {
  ArchiveReader a = tarx::NewTarReader();
  if (!a) return Err(Status::Internal("archive_read_new failed"));
  if (archive_read_open_fd(a.get(), fd, 1 << 16) != ARCHIVE_OK) {
    return Err(Status::Invalid("not a tar archive: " + tarx::ArchiveError(a.get())));
  }
  Contents c;
  int64_t total = 0;
  int entries = 0;
  for (;;) {
    archive_entry* e = nullptr;
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) return Err(Status::Invalid(std::string("corrupt image archive: ") + archive_error_string(a.get())));
    if (++entries > kMaxEntries) return Err(Status(Code::kPayloadTooLarge, "image archive has too many entries"));
    if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e)) continue;
    const char* name = archive_entry_pathname(e);
    if (!name) continue;
    int64_t size = archive_entry_size(e);
    if (size < 0 || size > max_bytes - total) return Err(Status(Code::kPayloadTooLarge, "image archive is larger than allowed"));
    total += size;
    auto digest = blobs.Put("", size, max_bytes, [&](char* buf, size_t cap) -> Result<size_t> {
      la_ssize_t n = archive_read_data(a.get(), buf, cap);
      if (n < 0) return Err(Status::Invalid(std::string("corrupt image archive: ") + archive_error_string(a.get())));
      return static_cast<size_t>(n);
    });
    if (!digest) return Err(digest.error());
    c.digests[Normalize(name)] = *digest;
    c.sizes[Normalize(name)] = size;
  }
  return c;
}

Result<std::string> ReadDoc(const Contents& c, BlobStore& blobs, const std::string& path) {
  auto it = c.digests.find(path);
  if (it == c.digests.end()) return Err(Status::Invalid("image archive has no " + path));
  return blobs.Read(it->second, kMaxJson);
}

// Splits "repo:tag" (a RepoTags entry or a full reference) into familiar repo and tag.
void NameFrom(const std::string& ref, ImportedImage& img) {
  auto r = ParseReference(ref);
  if (!r) return;
  img.repo = r->FamiliarName();
  img.tag = r->tag;
}

Status Finish(ImportedImage& img, BlobStore& blobs, const Manifest& m) {
  img.config_digest = m.config.digest;
  auto cfg = blobs.Read(m.config.digest, kMaxJson);
  if (!cfg) return Status::Invalid("image config " + m.config.digest + " is missing from the archive");
  auto config = ParseImageConfig(*cfg);
  if (!config) return config.error();
  img.config = *config;
  img.size = static_cast<int64_t>(cfg->size());
  for (const auto& l : m.layers) {
    if (!blobs.Has(l.digest)) return Status::Invalid("layer " + l.digest + " is missing from the archive");
    img.layers.push_back(l.digest);
    img.size += l.size;
  }
  if (!img.config.diff_ids.empty() && img.config.diff_ids.size() != img.layers.size()) {
    return Status::Invalid("the image config lists " + std::to_string(img.config.diff_ids.size()) + " layers, the manifest " +
                           std::to_string(img.layers.size()));
  }
  return Status::Ok();
}

Result<std::vector<ImportedImage>> FromDockerSave(const Contents& c, BlobStore& blobs, const std::string& doc) {
  json j = json::parse(doc, nullptr, false);
  if (j.is_discarded() || !j.is_array() || j.empty()) return Err(Status::Invalid("manifest.json must be a non-empty list"));
  std::vector<ImportedImage> out;
  for (const auto& entry : j) {
    if (!entry.is_object() || !entry.contains("Config") || !entry["Config"].is_string() || !entry.contains("Layers") ||
        !entry["Layers"].is_array()) {
      return Err(Status::Invalid("manifest.json entries need Config and Layers"));
    }
    Manifest m;
    auto cfg = c.digests.find(Normalize(entry["Config"].get<std::string>()));
    if (cfg == c.digests.end()) return Err(Status::Invalid("manifest.json names a config the archive lacks"));
    m.config = {"application/vnd.docker.container.image.v1+json", cfg->second, c.sizes.at(cfg->first)};
    for (const auto& l : entry["Layers"]) {
      if (!l.is_string()) return Err(Status::Invalid("manifest.json Layers must be paths"));
      auto it = c.digests.find(Normalize(l.get<std::string>()));
      if (it == c.digests.end()) return Err(Status::Invalid("manifest.json names a layer the archive lacks"));
      m.layers.push_back({"application/vnd.docker.image.rootfs.diff.tar", it->second, c.sizes.at(it->first)});
    }
    // A Docker v2 manifest for it, so the image has a manifest digest like a pulled one.
    json man = {{"schemaVersion", 2}, {"mediaType", kMediaDockerManifest},
                {"config", {{"mediaType", m.config.media_type}, {"digest", m.config.digest}, {"size", m.config.size}}},
                {"layers", json::array()}};
    for (const auto& l : m.layers) man["layers"].push_back({{"mediaType", l.media_type}, {"digest", l.digest}, {"size", l.size}});
    auto md = blobs.PutBytes(man.dump());
    if (!md) return Err(md.error());
    std::vector<std::string> tags;
    if (auto rt = entry.find("RepoTags"); rt != entry.end() && rt->is_array()) {
      for (const auto& t : *rt) {
        if (t.is_string()) tags.push_back(t.get<std::string>());
      }
    }
    if (tags.empty()) tags.push_back("");
    for (const auto& t : tags) {
      ImportedImage img;
      img.manifest_digest = *md;
      if (!t.empty()) NameFrom(t, img);
      ZUNVM_RETURN_IF_ERROR(Finish(img, blobs, m));
      out.push_back(std::move(img));
    }
  }
  return out;
}

Result<std::vector<ImportedImage>> FromOciLayout(const Contents&, BlobStore& blobs, const std::string& doc,
                                                 const std::string& default_repo) {
  json j = json::parse(doc, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("manifests") || !j["manifests"].is_array()) {
    return Err(Status::Invalid("index.json has no manifests list"));
  }
  std::vector<ImportedImage> out;
  for (const auto& d : j["manifests"]) {
    if (!d.is_object() || !d.contains("digest") || !d["digest"].is_string() || !ValidDigest(d["digest"].get<std::string>())) {
      return Err(Status::Invalid("index.json manifests need sha256 digests"));
    }
    std::string digest = d["digest"].get<std::string>();
    auto body = blobs.Read(digest, kMaxJson);
    if (!body) return Err(Status::Invalid("manifest " + digest + " is missing from the archive"));
    json mj = json::parse(*body, nullptr, false);
    if (mj.is_discarded()) return Err(Status::Invalid("manifest " + digest + " is not JSON"));
    if (IsIndexMediaType(ManifestMediaType(mj, d.value("mediaType", "")))) {
      auto sel = SelectPlatform(*body);
      if (!sel) return Err(sel.error());
      digest = sel->digest;
      body = blobs.Read(digest, kMaxJson);
      if (!body) return Err(Status::Invalid("manifest " + digest + " is missing from the archive"));
    }
    auto m = ParseManifest(*body);
    if (!m) return Err(m.error());
    ImportedImage img;
    img.manifest_digest = digest;
    std::string ref;
    if (auto ann = d.find("annotations"); ann != d.end() && ann->is_object()) {
      for (const char* key : {"io.containerd.image.name", "org.opencontainers.image.ref.name"}) {
        if (ann->contains(key) && (*ann)[key].is_string()) {
          ref = (*ann)[key].get<std::string>();
          break;
        }
      }
    }
    if (!ref.empty() && ref.find_first_of(":/") == std::string::npos && !default_repo.empty()) {
      ref = default_repo + ":" + ref;  // only a tag
    } else if (ref.empty() && !default_repo.empty()) {
      ref = default_repo;
    }
    if (!ref.empty()) NameFrom(ref, img);
    ZUNVM_RETURN_IF_ERROR(Finish(img, blobs, *m));
    out.push_back(std::move(img));
  }
  return out;
}

}  // namespace

Result<std::vector<ImportedImage>> ImportArchive(int fd, BlobStore& blobs, int64_t max_bytes,
                                                 const std::string& default_repo) {
  auto c = ReadAll(fd, blobs, max_bytes);
  if (!c) return Err(c.error());
  if (c->digests.count("manifest.json")) {
    auto doc = ReadDoc(*c, blobs, "manifest.json");
    if (!doc) return Err(doc.error());
    return FromDockerSave(*c, blobs, *doc);
  }
  if (c->digests.count("index.json")) {
    auto doc = ReadDoc(*c, blobs, "index.json");
    if (!doc) return Err(doc.error());
    return FromOciLayout(*c, blobs, *doc, default_repo);
  }
  return Err(Status::Invalid("not an image archive: neither manifest.json (docker save) nor index.json (OCI layout)"));
}

}  // namespace zunvm::image
