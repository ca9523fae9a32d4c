#include "image/archive_export.h"

#include <nlohmann/json.hpp>

#include "common/libarchive_util.h"

namespace zunvm::image {
namespace {

std::string Hex(const std::string& digest) {
  auto colon = digest.find(':');
  return colon == std::string::npos ? digest : digest.substr(colon + 1);
}

}  // namespace

Result<std::string> ExportDockerArchive(const BlobStore& blobs, const ExportedImage& img,
                                        size_t max_bytes) {
  std::string out, err;
  ArchiveWriter a = OpenTarWriterToString(&out, &err);
  if (!a) return Err(Status::Internal(err));
  size_t total = 0;
  auto add = [&](const std::string& name, const std::string& data, bool dir) -> Status {
    ArchiveEntry e(archive_entry_new());
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_mode(e.get(), dir ? (AE_IFDIR | 0755) : (AE_IFREG | 0644));
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(data.size()));
    if (archive_write_header(a.get(), e.get()) != ARCHIVE_OK ||
        (!data.empty() && archive_write_data(a.get(), data.data(), data.size()) < 0)) {
      return Status::Internal(std::string("tar: ") + archive_error_string(a.get()));
    }
    return Status::Ok();
  };
  const Status too_large(Code::kPayloadTooLarge,
                         "The image is larger than the export limit of " +
                             std::to_string(max_bytes) + " bytes.",
                         "ImageTooLarge");
  auto blob = [&](const std::string& digest) -> Result<std::string> {
    if (!blobs.Has(digest)) {
      return Err(Status::NotFound("Blob " + digest + " of the image is missing.", "ImageNotFound"));
    }
    if (total >= max_bytes) return Err(too_large);
    auto data = blobs.Read(digest, max_bytes - total);  // InvalidArgument: over the limit
    if (!data) return Err(data.error().code() == Code::kInvalidArgument ? too_large : data.error());
    total += data->size();
    return data;
  };

  const std::string config_name = Hex(img.config_digest) + ".json";
  auto config = blob(img.config_digest);
  if (!config) return Err(config.error());
  ZUNVM_RETURN_IF_ERROR(add(config_name, *config, false));
  nlohmann::json layer_names = nlohmann::json::array();
  for (const auto& d : img.layers) {
    auto layer = blob(d);
    if (!layer) return Err(layer.error());
    const std::string dir = Hex(d);
    ZUNVM_RETURN_IF_ERROR(add(dir, "", true));
    ZUNVM_RETURN_IF_ERROR(add(dir + "/layer.tar", *layer, false));
    layer_names.push_back(dir + "/layer.tar");
  }
  nlohmann::json entry{{"Config", config_name}, {"Layers", layer_names},
                       {"RepoTags", nlohmann::json::array()}};
  if (!img.repo_tag.empty()) entry["RepoTags"].push_back(img.repo_tag);
  ZUNVM_RETURN_IF_ERROR(add("manifest.json", nlohmann::json::array({entry}).dump(), false));
  if (archive_write_close(a.get()) != ARCHIVE_OK) {
    return Err(Status::Internal(std::string("tar: ") + archive_error_string(a.get())));
  }
  return out;
}

}  // namespace zunvm::image
