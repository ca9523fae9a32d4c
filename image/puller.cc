#include "image/puller.h"

namespace zunvm::image {

Result<ImportedImage> Pull(const Reference& ref, RegistryClient& client, BlobStore& store) {
  auto m = client.GetManifest(ref.repository, ref.digest.empty() ? ref.tag : ref.digest);
  if (!m) return Err(m.error());
  auto j = nlohmann::json::parse(m->body, nullptr, false);
  if (j.is_discarded()) return Err(Status::Invalid("the registry sent a manifest that is not JSON"));
  if (IsIndexMediaType(ManifestMediaType(j, m->media_type))) {
    auto sel = SelectPlatform(m->body);
    if (!sel) return Err(sel.error());
    m = client.GetManifest(ref.repository, sel->digest);
    if (!m) return Err(m.error());
  }
  auto manifest = ParseManifest(m->body);
  if (!manifest) return Err(manifest.error());
  auto stored = store.PutBytes(m->body);
  if (!stored) return Err(stored.error());
  ImportedImage img;
  img.repo = ref.FamiliarName();
  img.tag = ref.tag;
  img.manifest_digest = m->digest;
  auto cfg = client.FetchBlob(ref.repository, manifest->config, store);
  if (!cfg) return Err(cfg.error());
  auto body = store.Read(*cfg, 4 << 20);
  if (!body) return Err(body.error());
  auto config = ParseImageConfig(*body);
  if (!config) return Err(config.error());
  img.config_digest = *cfg;
  img.config = *config;
  img.size = manifest->config.size;
  for (const auto& l : manifest->layers) {
    auto d = client.FetchBlob(ref.repository, l, store);
    if (!d) return Err(d.error());
    img.layers.push_back(*d);
    img.size += l.size;
  }
  if (!img.config.diff_ids.empty() && img.config.diff_ids.size() != img.layers.size()) {
    return Err(Status::Invalid("the image config and manifest disagree on the number of layers"));
  }
  return img;
}

}  // namespace zunvm::image
