#include "service/volume_service.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include "common/ids.h"
#include "common/logging.h"
#include "common/strings.h"
#include "common/subprocess.h"
#include "common/timefmt.h"
#include "driver/disk_serial.h"
#include "service/ext4_disk.h"

namespace zunvm {

namespace fs = std::filesystem;

namespace {

Status Bad(const std::string& why) { return Status::Invalid(why, "InvalidValue"); }

// Volume disks a VM takes beside its two root disks (the libvirt driver's kMaxVolumes).
constexpr size_t kMaxVolumeDisks = 11;

bool ValidName(const std::string& n) {
  if (n.empty() || n.size() > 255 || !std::isalnum(static_cast<unsigned char>(n[0]))) return false;
  return std::all_of(n.begin(), n.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.' || ch == '-';
  });
}

// An absolute path of plain components (no ".", "..", empty or control characters) that is
// not the root and not in the kernel's trees (/proc, /sys, /dev).
Status CheckDestination(const std::string& d) {
  std::string what = "Mount destination '" + d.substr(0, 200) + "'";
  if (d.empty() || d[0] != '/' || d.size() > 4096) return Bad(what + " must be an absolute path.");
  std::string norm;
  for (const auto& part : Split(d, '/')) {
    if (part.empty()) continue;
    if (part == "." || part == "..") return Bad(what + " must not contain '.' or '..'.");
    for (char ch : part) {
      if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) return Bad(what + " holds a control character.");
    }
    norm += "/" + part;
  }
  if (norm.empty()) return Bad(what + ": a mount cannot replace the container's root.");
  for (const char* reserved : {"/proc", "/sys", "/dev"}) {
    std::string r = reserved;
    if (norm == r || norm.rfind(r + "/", 0) == 0) return Bad(what + " is inside " + r + ", which the container's kernel owns.");
  }
  return Status::Ok();
}

std::string Normalized(const std::string& d) {
  std::string norm;
  for (const auto& part : Split(d, '/')) {
    if (!part.empty()) norm += "/" + part;
  }
  return norm;
}

}  // namespace

Status VolumeService::CheckMounts(const Container& c) const {
  if (c.mounts.size() > static_cast<size_t>(cfg_.volume_max_mounts)) {
    return Bad("A container has at most " + std::to_string(cfg_.volume_max_mounts) + " mounts ([volumes] max_mounts).");
  }
  std::set<std::string> destinations;
  int64_t inject = 0;
  size_t disks = 0;
  for (const auto& m : c.mounts) {
    ZUNVM_RETURN_IF_ERROR(CheckDestination(m.destination));
    std::string norm = Normalized(m.destination);
    // One inside another would be bound through (or hidden by) the outer volume's contents.
    for (const auto& other : destinations) {
      if (other == norm) return Bad("Two mounts have the destination " + norm + ".");
      if (norm.rfind(other + "/", 0) == 0 || other.rfind(norm + "/", 0) == 0) {
        return Bad("Mount destinations " + other + " and " + norm + " are nested.");
      }
    }
    destinations.insert(norm);
    if (m.type != ContainerMount::Type::kBind && ++disks > kMaxVolumeDisks) {
      return Bad("A container has at most " + std::to_string(kMaxVolumeDisks) + " volumes.");
    }
    switch (m.type) {
      case ContainerMount::Type::kVolume:
        if (!m.source.empty() && !ValidName(m.source)) {
          return Bad("Volume name '" + m.source.substr(0, 100) + "' must be 1-255 of [A-Za-z0-9_.-], starting with a letter or digit.");
        }
        if (m.source.empty() && !m.size_gib) return Bad("A mount needs a source or a size.");
        if (m.size_gib && (*m.size_gib < 1 || *m.size_gib > cfg_.volume_max_size_gib)) {
          return Bad("Volume size must be 1.." + std::to_string(cfg_.volume_max_size_gib) + " GiB.");
        }
        break;
      case ContainerMount::Type::kBind:
        inject += static_cast<int64_t>(m.content.size());
        if (inject > cfg_.volume_max_inject_bytes) {
          return Bad("Injected files hold more than " + std::to_string(cfg_.volume_max_inject_bytes) +
                     " bytes ([volumes] max_inject_bytes).");
        }
        break;
      case ContainerMount::Type::kBlock:
        if (m.source.empty() || m.source[0] != '/') return Bad("A block mount needs the device's absolute path.");
        if (!ValidDiskSerial(m.serial)) return Bad("A block mount needs a serial of 1-20 of [A-Za-z0-9_.-].");
        break;
    }
  }
  return Status::Ok();
}

Result<VolumeRecord> VolumeService::FindOrMake(const RequestContext& ctx, ContainerMount& m,
                                               std::vector<std::string>& made) {
  if (!m.source.empty()) {
    if (IsUuidLike(m.source)) {
      auto v = store_->Get(CanonicalUuid(m.source));
      if (v && Visible(ctx, *v)) return v;
      if (!v && v.error().code() != Code::kNotFound) return v;
    }
    auto v = store_->GetByName(ctx.project_id, m.source);
    if (v || v.error().code() != Code::kNotFound) return v;
    // A uuid names an existing volume: a typo (or another project's) is not made empty.
    if (IsUuidLike(m.source)) return Err(Status::NotFound("Volume " + m.source + " could not be found.", "VolumeNotFound"));
  }
  std::error_code ec;
  fs::create_directories(dir_, ec);
  ::chmod(dir_.c_str(), 0711);  // qemu reaches the disks; nobody lists them
  VolumeRecord v;
  v.uuid = NewUuid();
  if (!m.source.empty()) v.name = m.source;
  v.project_id = ctx.project_id;
  v.user_id = ctx.user_id;
  v.size_gib = m.size_gib.value_or(cfg_.volume_default_size_gib);
  v.path = dir_ + "/" + v.uuid + ".ext4";
  v.auto_remove = m.source.empty();
  v.created_at = FormatApiTime(std::chrono::system_clock::now());
  ZUNVM_RETURN_IF_ERROR(MakeSparseExt4(v.path, v.size_gib, "zunvm-volume"));
  if (Status st = store_->Insert(v); !st.ok()) {
    fs::remove(v.path, ec);
    return Err(st);
  }
  made.push_back(v.uuid);
  Logger("service")->info("volume {} ({}, {} GiB) made", v.uuid, v.name.value_or("anonymous"), v.size_gib);
  return v;
}

Status VolumeService::PrepareBlock(const RequestContext& ctx, ContainerMount& m) {
  if (!ctx.is_admin) {
    return Status(Code::kForbidden, "Mounts of host block devices are for the Zun driver (admins) only.", "PolicyNotAuthorized");
  }
  struct stat st{};
  if (::stat(m.source.c_str(), &st) != 0 || !S_ISBLK(st.st_mode)) {
    return Bad("Block mount source " + m.source.substr(0, 200) + " is not a block device on this host.");
  }
  // What the device holds; a blank one gets ext4, as Zun's own mount would give it.
  auto probe = RunProcess({"blkid", "-p", "-o", "value", "-s", "TYPE", m.source});
  if (!probe) return probe.error();
  std::string type = Trim(probe->output);
  if (probe->exit_code == 2 || (probe->exit_code == 0 && type.empty())) {
    if (m.read_only) return Bad("Block device " + m.source + " has no filesystem to mount read-only.");
    auto mk = RunProcess({"mkfs.ext4", "-q", "-F", "-E", "nodiscard", m.source});
    if (!mk || mk->exit_code != 0) return Status::Internal("mkfs.ext4 " + m.source + ": " + (mk ? mk->output : mk.error().message()));
    type = "ext4";
  } else if (probe->exit_code != 0) {
    return Status::Internal("blkid " + m.source + ": " + probe->output);
  }
  if (type != "ext4" && type != "ext2" && type != "xfs") {
    return Bad("Block device " + m.source + " holds " + type + "; volumes must be ext4, ext2 or xfs.");
  }
  m.fstype = type;
  return Status::Ok();
}

Status VolumeService::Admit(const RequestContext& ctx, Container& c) {
  if (c.mounts.empty()) return Status::Ok();
  std::lock_guard<std::mutex> lock(mu_);
  ZUNVM_RETURN_IF_ERROR(CheckMounts(c));
  std::vector<std::string> made;
  std::vector<VolumeAttachment> atts;
  auto undo = [&](const Status& st) {
    for (const auto& uuid : made) {
      if (auto v = store_->Get(uuid)) RemoveVolume(*v);
    }
    return st;
  };
  for (auto& m : c.mounts) {
    if (m.type == ContainerMount::Type::kBlock) {
      if (Status st = PrepareBlock(ctx, m); !st.ok()) return undo(st);
      continue;
    }
    if (m.type != ContainerMount::Type::kVolume) continue;
    auto v = FindOrMake(ctx, m, made);
    if (!v) return undo(v.error());
    bool twice = std::any_of(atts.begin(), atts.end(), [&](const VolumeAttachment& a) { return a.volume_uuid == v->uuid; });
    if (twice) return undo(Bad("Volume " + m.source + " is mounted twice."));
    m.volume_uuid = v->uuid;
    m.size_gib = v->size_gib;
    m.auto_remove = std::find(made.begin(), made.end(), v->uuid) != made.end() && v->auto_remove;
    atts.push_back({v->uuid, c.uuid, Normalized(m.destination), m.read_only});
  }
  if (Status st = store_->Attach(atts); !st.ok()) return undo(st);
  return Status::Ok();
}

Status VolumeService::AddTo(const Container& c, SandboxSpec& spec) {
  for (const auto& m : c.mounts) {
    switch (m.type) {
      case ContainerMount::Type::kVolume: {
        auto v = store_->Get(m.volume_uuid);
        if (!v) return v.error();
        spec.volumes.push_back({v->path, false, v->uuid.substr(0, 20), v->format, Normalized(m.destination), m.read_only});
        break;
      }
      case ContainerMount::Type::kBlock:
        spec.volumes.push_back({m.source, true, m.serial, m.fstype.empty() ? "ext4" : m.fstype, Normalized(m.destination), m.read_only});
        break;
      case ContainerMount::Type::kBind:
        spec.files.push_back({Normalized(m.destination), m.content});
        break;
    }
  }
  return Status::Ok();
}

void VolumeService::RemoveVolume(const VolumeRecord& v) {
  if (Status st = store_->Delete(v.uuid); !st.ok()) {
    Logger("service")->warn("volume {}: {}", v.uuid, st.ToString());
    return;
  }
  // Only disks this service made (under its directory) are removed with their rows.
  if (v.path.rfind(dir_ + "/", 0) == 0) {
    std::error_code ec;
    fs::remove(v.path, ec);
  }
  Logger("service")->info("volume {} removed", v.uuid);
}

void VolumeService::Release(const std::string& container_uuid) {
  std::lock_guard<std::mutex> lock(mu_);
  auto all = store_->All();
  if (!all) return;
  if (Status st = store_->DetachContainer(container_uuid); !st.ok()) {
    Logger("service")->warn("detaching the volumes of {}: {}", container_uuid, st.ToString());
    return;
  }
  for (const auto& v : *all) {
    bool mine = false, others = false;
    for (const auto& a : v.attachments) (a.container_uuid == container_uuid ? mine : others) = true;
    if (mine && !others && v.auto_remove) RemoveVolume(v);
  }
}

Result<VolumeRecord> VolumeService::Get(const RequestContext& ctx, const std::string& ident) {
  if (IsUuidLike(ident)) {
    auto v = store_->Get(CanonicalUuid(ident));
    if (v && Visible(ctx, *v)) return v;
    if (!v && v.error().code() != Code::kNotFound) return v;
  }
  auto v = store_->GetByName(ctx.project_id, ident);
  if (!v && v.error().code() == Code::kNotFound) {
    return Err(Status::NotFound("Volume " + ident.substr(0, 255) + " could not be found.", "VolumeNotFound"));
  }
  return v;
}

Result<std::vector<VolumeRecord>> VolumeService::List(const RequestContext& ctx) {
  auto all = store_->All();
  if (!all) return all;
  std::vector<VolumeRecord> out;
  for (auto& v : *all) {
    if (Visible(ctx, v)) out.push_back(std::move(v));
  }
  return out;
}

Status VolumeService::Delete(const RequestContext& ctx, const std::string& ident) {
  std::lock_guard<std::mutex> lock(mu_);
  auto v = Get(ctx, ident);
  if (!v) return v.error();
  if (!v->attachments.empty()) {
    return Status::Conflict("Volume " + v->uuid + " is in use by container " + v->attachments.front().container_uuid + ".",
                            "VolumeInUse");
  }
  if (Status st = store_->Delete(v->uuid); !st.ok()) return st;
  std::error_code ec;
  if (v->path.rfind(dir_ + "/", 0) == 0) fs::remove(v->path, ec);
  return Status::Ok();
}

void VolumeService::Recover(const std::set<std::string>& containers) {
  auto attached = store_->AttachedContainers();
  if (attached) {
    for (const auto& uuid : *attached) {
      if (!containers.count(uuid)) {
        Logger("service")->info("releasing the volumes of {}, which has no record", uuid);
        Release(uuid);
      }
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto all = store_->All();
  if (!all) return;
  std::set<std::string> known;  // file names: the state dir may be spelled differently now
  for (const auto& v : *all) {
    known.insert(fs::path(v.path).filename().string());
    if (v.auto_remove && v.attachments.empty()) RemoveVolume(v);  // made by a create that never got its record
  }
  // Only what this service makes and no row owns: a half-made disk, or one whose row went.
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    std::string name = e.path().filename().string();
    bool ours = name.size() > 4 && (name.ends_with(".tmp") || (name.ends_with(".ext4") && IsUuidLike(name.substr(0, name.size() - 5))));
    if (ours && !known.count(name)) {
      Logger("service")->info("removing {}, which no volume owns", e.path().string());
      fs::remove(e.path(), ec);
    }
  }
}

}  // namespace zunvm
