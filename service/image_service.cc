#include "service/image_service.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "common/failpoint.h"
#include "common/fs_at.h"
#include "common/ids.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "common/strings.h"
#include "common/subprocess.h"
#include "image/archive_export.h"
#include "image/archive_import.h"
#include "image/layer_unpack.h"
#include "image/manifest.h"
#include "image/puller.h"
#include "image/reference.h"
#include "service/ext4_disk.h"
#include "service/zun_errors.h"

namespace zunvm {

namespace fs = std::filesystem;

namespace {

constexpr int64_t kMaxArchiveBytes = int64_t{16} << 30;

// "busybox" -> ("busybox", "latest"); a uuid or a bad name -> nullopt.
std::optional<std::pair<std::string, std::string>> RepoTag(const std::string& ident) {
  auto r = image::ParseReference(ident);
  if (!r || !r->digest.empty()) return std::nullopt;
  return std::make_pair(r->FamiliarName(), r->tag);
}

int64_t TreeBytes(const std::string& dir) {
  int64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::none, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st{};
    if (::lstat(it->path().c_str(), &st) == 0) total += st.st_blocks * 512 + 4096;
  }
  return total;
}

}  // namespace

ImageService::ImageService(Database* db, ContainerStore* containers, std::string images_dir)
    : store_(db), containers_(containers), dir_(std::move(images_dir)), blobs_(dir_ + "/blobs") {}

Status ImageService::SetRegistryCredentials(const std::vector<std::string>& entries) {
  for (const auto& e : entries) {
    auto eq = e.find('=');
    auto colon = eq == std::string::npos ? std::string::npos : e.find(':', eq);
    if (eq == 0 || colon == std::string::npos || colon == eq + 1) {
      return Status::Invalid("[image] registry_credentials entries are HOST=USER:PASSWORD");
    }
    credentials_[e.substr(0, eq)] = {e.substr(eq + 1, colon - eq - 1), e.substr(colon + 1)};
  }
  return Status::Ok();
}

Status ImageService::SetRegistryMirrors(const std::vector<std::string>& entries) {
  for (const auto& e : entries) {
    auto eq = e.find('=');
    std::string registry = eq == std::string::npos ? "" : e.substr(0, eq);
    std::string mirror = eq == std::string::npos ? "" : e.substr(eq + 1);
    if (registry.empty() || mirror.empty() || mirror == registry ||
        mirror.find_first_of("/ @") != std::string::npos || registry.find_first_of("/ @") != std::string::npos) {
      return Status::Invalid("[image] registry_mirrors entries are REGISTRY=MIRROR, both a host[:port] "
                             "(e.g. docker.io=127.0.0.1:5000), not '" + e + "'");
    }
    mirrors_[registry].push_back(mirror);
  }
  return Status::Ok();
}

Status ImageService::Init() {
  std::error_code ec;
  fs::create_directories(dir_ + "/rootfs", ec);
  fs::create_directories(dir_ + "/work", ec);
  if (ec) return Status::Internal("creating " + dir_ + ": " + ec.message());
  for (const auto& e : fs::directory_iterator(dir_ + "/work", ec)) fs::remove_all(e.path(), ec);  // a crash's leftovers
  return blobs_.Init();
}

Result<std::vector<ImageRecord>> ImageService::Import(int fd, const std::string& default_repo) {
  std::lock_guard<std::mutex> lock(mu_);
  auto imported = image::ImportArchive(fd, blobs_, kMaxArchiveBytes, default_repo);
  if (!imported) return Err(imported.error());
  std::vector<ImageRecord> out;
  for (auto& img : *imported) {
    if (img.repo.empty()) return Err(Status::Invalid("the archive has an image without a name: give one"));
    auto r = Register(img);
    if (!r) return Err(r.error());
    out.push_back(*r);
  }
  return out;
}

// Caller holds mu_.
Result<ImageRecord> ImageService::Register(const image::ImportedImage& img) {
  ImageRecord r;
  r.repo = img.repo;
  r.tag = img.tag;
  r.image_id = img.config_digest;
  r.digest = img.manifest_digest;
  r.size = img.size;
  r.config = image::ConfigToJson(img.config);
  r.layers = img.layers;
  auto disk = BuildRootfsDisk(r);
  if (!disk) return Err(disk.error());
  ZUNVM_RETURN_IF_ERROR(store_.Upsert(r));
  return r;
}

Result<ImageRecord> ImageService::Commit(const ImageRecord& base, const std::string& rootfs_tar,
                                         const std::string& repository, const std::string& tag) {
  auto ref = image::ParseReference(repository + ":" + (tag.empty() ? "latest" : tag));
  if (!ref) return Err(ref.error());
  auto layer = blobs_.PutBytes(rootfs_tar);
  if (!layer) return Err(layer.error());
  nlohmann::json cfg = base.config;
  nlohmann::json runtime{{"Env", cfg.value("env", nlohmann::json::array())},
                         {"Entrypoint", cfg.value("entrypoint", nlohmann::json::array())},
                         {"Cmd", cfg.value("cmd", nlohmann::json::array())},
                         {"WorkingDir", cfg.value("working_dir", "")},
                         {"User", cfg.value("user", "")},
                         {"Labels", cfg.value("labels", nlohmann::json::object())}};
  nlohmann::json ports = nlohmann::json::object();
  for (const auto& p : cfg.value("exposed_ports", nlohmann::json::array())) {
    if (p.is_string()) ports[p.get<std::string>()] = nlohmann::json::object();
  }
  runtime["ExposedPorts"] = ports;
  nlohmann::json config_doc{{"architecture", "amd64"}, {"os", "linux"}, {"config", runtime},
                            {"rootfs", {{"type", "layers"}, {"diff_ids", {*layer}}}},
                            {"history", {{{"created_by", "zunvm commit"}}}}};
  std::string config_body = config_doc.dump();
  auto config_digest = blobs_.PutBytes(config_body);
  if (!config_digest) return Err(config_digest.error());
  nlohmann::json manifest{{"schemaVersion", 2},
                          {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                          {"config", {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                                      {"digest", *config_digest}, {"size", config_body.size()}}},
                          {"layers", {{{"mediaType", "application/vnd.oci.image.layer.v1.tar"},
                                       {"digest", *layer}, {"size", rootfs_tar.size()}}}}};
  auto manifest_digest = blobs_.PutBytes(manifest.dump());
  if (!manifest_digest) return Err(manifest_digest.error());
  auto parsed = image::ParseImageConfig(config_body);
  if (!parsed) return Err(parsed.error());
  image::ImportedImage img;
  img.repo = ref->FamiliarName();
  img.tag = ref->tag;
  img.manifest_digest = *manifest_digest;
  img.config_digest = *config_digest;
  img.config = *parsed;
  img.layers = {*layer};
  img.size = static_cast<int64_t>(rootfs_tar.size() + config_body.size());
  std::lock_guard<std::mutex> lock(mu_);
  return Register(img);
}

Result<ImageRecord> ImageService::Pull(const std::string& name) {
  auto ref = image::ParseReference(name);
  if (!ref) return Err(ref.error());
  std::string key = ref->Canonical();
  std::shared_future<Result<ImageRecord>> f;
  bool mine = false;
  std::promise<Result<ImageRecord>> promise;
  {
    std::lock_guard<std::mutex> l(pulls_mu_);
    auto it = pulls_.find(key);
    if (it != pulls_.end()) {
      f = it->second;
    } else {
      f = promise.get_future().share();
      pulls_[key] = f;
      mine = true;
    }
  }
  if (!mine) return f.get();
  static auto& seconds = metrics::Global().Histogram(
      "zunvm_image_pull_seconds", "Image pulls from registries, by outcome", {"outcome"}, metrics::OperationSeconds());
  const auto t0 = std::chrono::steady_clock::now();
  auto r = PullOnce(*ref);
  seconds.Observe({r ? "ok" : "error"}, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  promise.set_value(r);
  std::lock_guard<std::mutex> l(pulls_mu_);
  pulls_.erase(key);
  return r;
}

Result<ImageRecord> ImageService::PullOnce(const image::Reference& ref) {
  std::string mirror_errors;
  Result<image::ImportedImage> pulled = Err(Status::NotFound("no mirror tried"));
  if (auto m = mirrors_.find(ref.registry); m != mirrors_.end()) {
    for (const auto& mirror : m->second) {
      pulled = PullFrom(mirror, ref);
      if (pulled) break;
      Logger("image")->warn("pull of {} from mirror {} failed, trying the next: {}", ref.Canonical(), mirror,
                            pulled.error().message());
      mirror_errors += " " + mirror + ": " + pulled.error().message() + ";";
    }
  }
  if (!pulled) pulled = PullFrom(ref.registry, ref);
  if (!pulled && !mirror_errors.empty()) {
    const Status& e = pulled.error();
    return Err(Status(e.code(), e.message() + " (mirrors:" + mirror_errors + ")", e.kind()));
  }
  if (!pulled) return Err(pulled.error());
  std::lock_guard<std::mutex> lock(mu_);
  Failpoint("pull.fetched");
  return Register(*pulled);
}

image::RegistryOptions ImageService::OptionsFor(const std::string& host) const {
  image::RegistryOptions o;
  o.insecure = image::IsLocalRegistryHost(host) || std::find(insecure_.begin(), insecure_.end(), host) != insecure_.end();
  o.ca_file = ca_file_;
  if (auto c = credentials_.find(host); c != credentials_.end()) {
    o.username = c->second.first;
    o.password = c->second.second;
  }
  return o;
}

Result<image::ImportedImage> ImageService::PullFrom(const std::string& host, const image::Reference& ref) {
  static auto& bytes = metrics::Global().Counter(
      "zunvm_image_pull_bytes_total",
      "Bytes received from registries by image pulls (manifests and the blobs not already stored)", {});
  image::RegistryClient client(host, OptionsFor(host));
  auto pulled = image::Pull(ref, client, blobs_);
  bytes.Inc({}, static_cast<double>(client.FetchedBytes()));
  return pulled;
}

Result<std::vector<ImageRecord>> ImageService::List() { return store_.All(); }

Result<nlohmann::json> ImageService::Search(const std::string& term, bool exact) {
  if (term.empty() || term.size() > 255) return Err(Status::Invalid("search term must be 1 to 255 characters"));
  std::set<std::string> registries;
  std::string name = term;
  if (auto slash = term.find('/'); slash != std::string::npos) {
    std::string head = term.substr(0, slash);
    if (head.find_first_of(".:") != std::string::npos || head == "localhost") {
      registries.insert(head);
      name = term.substr(slash + 1);
    }
  }
  if (registries.empty()) {
    registries.insert(insecure_.begin(), insecure_.end());
    for (const auto& [host, _] : credentials_) registries.insert(host);
    auto all = store_.All();
    if (!all) return Err(all.error());
    for (const auto& img : *all) {
      auto ref = image::ParseReference(img.repo);
      if (ref && ref->registry != "docker.io") registries.insert(ref->registry);
    }
  }
  nlohmann::json out = nlohmann::json::array();
  for (const auto& reg : registries) {
    if (!image::ParseReference(reg + "/x")) continue;  // not a registry name
    image::RegistryOptions o = OptionsFor(reg);
    o.retries = 0;
    o.timeout = std::chrono::seconds(10);
    image::RegistryClient client(reg, o);
    auto repos = client.Catalog(exact ? "" : name);
    if (!repos) continue;
    for (const auto& repo : *repos) {
      if (exact && repo != name) continue;
      auto tags = client.Tags(repo);
      if (tags) std::sort(tags->begin(), tags->end());
      std::string full = reg + "/" + repo;
      out.push_back({{"ID", full}, {"Name", full}, {"Tags", tags ? *tags : std::vector<std::string>{}},
                     {"Status", "available"}, {"Size", nullptr}, {"Metadata", {{"registry", reg}}},
                     {"name", full}, {"description", ""}, {"is_official", false}, {"is_automated", false},
                     {"star_count", 0}});
    }
  }
  return out;
}

Result<std::string> ImageService::Export(const std::string& ident, size_t max_bytes) {
  auto img = Find(ident);
  if (!img) return Err(img.error());
  image::ExportedImage e;
  e.repo_tag = img->repo.empty() ? "" : img->repo + ":" + (img->tag.empty() ? "latest" : img->tag);
  e.config_digest = img->image_id;
  e.layers = img->layers;
  return image::ExportDockerArchive(blobs_, e, max_bytes);
}

Result<ImageRecord> ImageService::Find(const std::string& ident) {
  auto byuuid = store_.Get(ident);
  if (byuuid || byuuid.error().code() != Code::kNotFound) return byuuid;
  // Docker's image id (what `inspect` calls Id and Zun keeps as image_id): one image, or a
  // Conflict when several repo:tags name it, as `docker rmi <id>` refuses.
  std::string as_id = ident.size() == 64 ? "sha256:" + ident : ident;
  if (image::ValidDigest(as_id)) {
    auto tagged = store_.ByImageId(as_id);
    if (!tagged) return Err(tagged.error());
    if (tagged->size() == 1) return tagged->front();
    if (tagged->size() > 1) {
      std::string names;
      for (const auto& t : *tagged) names += (names.empty() ? "" : ", ") + t.repo + ":" + t.tag;
      return Err(Status::Conflict("Image " + ident + " is referenced by several repositories (" + names +
                                  "): name one of them.", "ImageInUse"));
    }
  }
  auto rt = RepoTag(ident);
  if (!rt) return Err(Status::NotFound("Image " + ident + " could not be found.", "ImageNotFound"));
  return Named(store_.GetByName(rt->first, rt->second), Code::kNotFound, "ImageNotFound");
}

Status ImageService::Delete(const std::string& ident) {
  std::lock_guard<std::mutex> lock(mu_);
  auto img = Find(ident);
  if (!img) return img.error();
  auto all = containers_->All();
  if (!all) return all.error();
  for (const auto& c : *all) {
    auto rt = RepoTag(c.image);
    if (c.image == img->uuid || (rt && rt->first == img->repo && rt->second == img->tag)) {
      return Status::Conflict("Image " + ident + " is in use by container " + c.uuid + ".", "ImageInUse");
    }
  }
  ZUNVM_RETURN_IF_ERROR(store_.Delete(img->uuid));
  auto left = store_.CountByImageId(img->image_id);
  if (!left) return left.error();
  if (*left == 0) {
    std::error_code ec;
    fs::remove(dir_ + "/rootfs/" + img->image_id.substr(7) + ".ext4", ec);
    // Blobs shared with other images stay.
    auto others = store_.All();
    if (!others) return others.error();
    std::set<std::string> used;
    for (const auto& o : *others) {
      used.insert(o.image_id);
      used.insert(o.digest);
      used.insert(o.layers.begin(), o.layers.end());
    }
    for (const auto& d : img->layers) {
      if (!used.count(d)) (void)blobs_.Remove(d);
    }
    if (!used.count(img->image_id)) (void)blobs_.Remove(img->image_id);
    if (!used.count(img->digest)) (void)blobs_.Remove(img->digest);
  }
  return Status::Ok();
}

void ImageService::ApplyDefaults(const ImageRecord& img, Container& c, bool entrypoint_given) {
  auto cfg = image::ConfigFromJson(img.config);
  if (!cfg) return;
  if (!entrypoint_given && !cfg->entrypoint.empty()) c.entrypoint = cfg->entrypoint;  // an empty command counts as none
  // As Docker: a new entrypoint drops the image's Cmd; a command replaces it.
  if ((!c.command || c.command->empty()) && !entrypoint_given && !cfg->cmd.empty()) c.command = cfg->cmd;
  c.image_environment.clear();
  for (const auto& kv : cfg->env) {
    auto eq = kv.find('=');
    c.image_environment[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
  }
  if (!c.workdir && !cfg->working_dir.empty()) c.workdir = cfg->working_dir;
  if (c.exposed_ports.empty()) {
    for (const auto& p : cfg->exposed_ports) {
      // "8080/tcp" (or "8080"): anything else in a hostile config is ignored.
      std::string num = p.substr(0, p.find('/'));
      std::string proto = p.size() > num.size() ? p.substr(num.size() + 1) : "tcp";
      auto port = ParseInt(num);
      if (!port || *port < 1 || *port > 65535 || (proto != "tcp" && proto != "udp")) continue;
      c.exposed_ports[num + "/" + proto] = nlohmann::json::object();
      if (std::find(c.ports.begin(), c.ports.end(), *port) == c.ports.end()) c.ports.push_back(static_cast<int>(*port));
    }
  }
}

Result<std::string> ImageService::ContainerDisk(const std::string& uuid, int64_t gib) {
  if (!IsUuidLike(uuid)) return Err(Status::Invalid("bad container uuid " + uuid));
  std::string disk = dir_ + "/containers/" + uuid + ".ext4";
  if (fs::exists(disk)) return disk;
  std::error_code ec;
  fs::create_directories(dir_ + "/containers", ec);
  ::chmod((dir_ + "/containers").c_str(), 0711);  // qemu reaches the disks; nobody lists them
  Status made = MakeSparseExt4(disk, gib, "zunvm-upper");
  if (!made.ok()) return Err(made);
  return disk;
}

void ImageService::RemoveContainerDisk(const std::string& uuid) {
  if (!IsUuidLike(uuid)) return;
  std::error_code ec;
  fs::remove(dir_ + "/containers/" + uuid + ".ext4", ec);
}

Result<std::string> ImageService::RootfsDisk(const ImageRecord& img) {
  std::lock_guard<std::mutex> lock(mu_);
  return BuildRootfsDisk(img);
}

Result<std::string> ImageService::BuildRootfsDisk(const ImageRecord& img) {
  if (!image::ValidDigest(img.image_id)) return Err(Status::Invalid("bad image id " + img.image_id));
  std::string disk = dir_ + "/rootfs/" + img.image_id.substr(7) + ".ext4";
  if (fs::exists(disk)) return disk;
  std::string work = dir_ + "/work/" + img.image_id.substr(7, 16);
  std::error_code ec;
  fs::remove_all(work, ec);
  fs::create_directories(work + "/root", ec);
  if (ec) return Err(Status::Internal("creating " + work + ": " + ec.message()));
  auto cleanup = [&] { fs::remove_all(work, ec); };
  fsat::UniqueFd root(::open((work + "/root").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  for (const auto& layer : img.layers) {
    fsat::UniqueFd lf(::open(blobs_.Path(layer).c_str(), O_RDONLY | O_CLOEXEC));
    if (lf.get() < 0) {
      cleanup();
      return Err(Status::NotFound("layer " + layer + " is missing from the blob store"));
    }
    auto st = image::ApplyLayer(lf.get(), root.get(), image::UnpackLimits{});
    if (!st) {
      cleanup();
      return Err(st.error());
    }
  }
  // Room for the files plus ext4's own structures; the disk is read-only in the guest.
  int64_t kib = (TreeBytes(work + "/root") * 5 / 4) / 1024 + 16 * 1024;
  auto r = RunProcess({"mkfs.ext4", "-q", "-F", "-L", "zunvm-image", "-d", work + "/root", work + "/disk.ext4",
                       std::to_string(kib) + "k"});
  if (!r || r->exit_code != 0) {
    cleanup();
    return Err(Status::Internal("mkfs.ext4 for image " + img.repo + ": " + (r ? r->output : r.error().message())));
  }
  fs::rename(work + "/disk.ext4", disk, ec);
  cleanup();
  if (ec) return Err(Status::Internal("placing " + disk + ": " + ec.message()));
  return disk;
}

}  // namespace zunvm
