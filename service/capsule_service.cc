#include "service/capsule_service.h"

#include <algorithm>

#include "common/ids.h"
#include "common/logging.h"
#include "driver/disk_serial.h"
#include "service/image_service.h"
#include "service/log_store.h"
#include "service/volume_service.h"

namespace zunvm {

namespace {

bool Visible(const RequestContext& ctx, const Capsule& c) { return ctx.all_projects || c.project_id == ctx.project_id; }

Status NoCapsule(const std::string& ident) {
  return Status::NotFound("Capsule " + ident + " could not be found.", "CapsuleNotFound");
}

// Whether a member's mount is of capsule volume `v`: by name, or a block mount by its serial.
bool Mounts(const ContainerMount& m, const CapsuleVolume& v) {
  if (m.type == ContainerMount::Type::kBlock) return !v.device_path.empty() && m.serial == v.serial;
  return m.source == v.name;
}

// A capsule volume is mounted read-only by the VM only when every member mounts it so.
bool ReadOnlyEverywhere(const std::vector<Container>& members, const CapsuleVolume& v) {
  for (const auto& m : members) {
    for (const auto& mount : m.mounts) {
      if (Mounts(mount, v) && !mount.read_only) return false;
    }
  }
  return true;
}

}  // namespace

Container CapsuleService::Owner(const Capsule& c) const {
  Container o;
  o.uuid = c.uuid;
  o.project_id = c.project_id;
  o.user_id = c.user_id;
  o.requested_nets = c.requested_nets;
  for (const auto& v : c.volumes) {
    ContainerMount m;
    m.type = ContainerMount::Type::kVolume;
    m.source = v.volume_uuid;  // empty: an anonymous volume of size_gib, removed with the capsule
    m.volume_uuid = v.volume_uuid;
    m.size_gib = v.size_gib;
    m.destination = "/" + v.name;
    if (!v.device_path.empty()) {  // a Cinder volume through Zun
      m.type = ContainerMount::Type::kBlock;
      m.source = v.device_path;
      m.serial = v.serial;
      m.fstype = v.fstype;
      m.volume_uuid.clear();
    }
    o.mounts.push_back(m);
  }
  return o;
}

Result<Capsule> CapsuleService::Create(const RequestContext& ctx, CapsuleRequest req) {
  Capsule& c = req.capsule;
  if (c.uuid.empty()) c.uuid = NewUuid();
  if (!c.volumes.empty() && !d_.volumes) return Err(Status::Invalid("This zunvmd has no volumes.", "InvalidValue"));
  for (const auto& v : c.volumes) {
    if (!v.device_path.empty() && !ValidDiskSerial(v.serial)) {
      return Err(Status::Invalid("Invalid block_volumes: serial must be 1 to 20 of [A-Za-z0-9._-]", "SchemaValidationError"));
    }
  }
  TimePoint now = d_.clock->Now();
  c.status = ContainerStatus::kCreating;
  c.task_state = TaskState::kCreating;
  c.user_id = ctx.user_id;
  c.project_id = ctx.project_id;
  c.host = d_.cfg->HostName();
  c.created_at = now;
  c.init_containers.clear();
  c.containers.clear();
  // The capsule's name as a hostname ('_' and '.' made '-'), else one from its uuid.
  std::string hostname = c.name.value_or(c.uuid.substr(0, 8) + c.uuid.substr(9, 4)).substr(0, 63);
  std::replace_if(hostname.begin(), hostname.end(), [](char ch) { return ch == '_' || ch == '.'; }, '-');
  for (auto& m : req.members) {
    if (m.uuid.empty()) m.uuid = NewUuid();
    if (d_.images) {
      auto img = d_.images->Find(m.image);
      if (img) ImageService::ApplyDefaults(*img, m, m.entrypoint.has_value());
    }
    m.status = ContainerStatus::kCreating;
    m.capsule_id = c.uuid;
    m.user_id = ctx.user_id;
    m.project_id = ctx.project_id;
    m.host = c.host;
    m.created_at = now;
    if (!m.hostname) m.hostname = hostname;  // the API gives the capsule's name as a hostname
    (m.init_container ? c.init_containers : c.containers).push_back(m.uuid);
  }
  // Ports and volumes belong to the capsule (its one sandbox), taken before the records exist.
  Container owner = Owner(c);
  for (size_t i = 0; i < c.volumes.size(); ++i) owner.mounts[i].read_only = ReadOnlyEverywhere(req.members, c.volumes[i]);
  ContainerNetworking& net = d_.containers->networking();
  auto nets = net.Plan(c.requested_nets);
  if (!nets) return Err(nets.error());
  ZUNVM_RETURN_IF_ERROR(net.Allocate(owner, *nets));
  c.addresses = owner.addresses;
  if (d_.volumes) {
    if (Status st = d_.volumes->Admit(ctx, owner); !st.ok()) {
      net.Release(c.uuid);
      return Err(st);
    }
  }
  for (size_t i = 0; i < c.volumes.size(); ++i) {
    if (!c.volumes[i].device_path.empty()) {
      c.volumes[i].fstype = owner.mounts[i].fstype;
      continue;
    }
    c.volumes[i].volume_uuid = owner.mounts[i].volume_uuid;
    c.volumes[i].auto_remove = owner.mounts[i].auto_remove;
  }
  for (auto& m : req.members) {
    m.addresses = c.addresses;
    for (auto& mount : m.mounts) {
      auto v = std::find_if(c.volumes.begin(), c.volumes.end(), [&](const CapsuleVolume& cv) { return Mounts(mount, cv); });
      if (v == c.volumes.end()) continue;
      mount.volume_uuid = v->volume_uuid;
      mount.size_gib = v->size_gib;
      if (!v->device_path.empty()) {  // shown as what it is: the host's block device
        mount.type = ContainerMount::Type::kBlock;
        mount.source = v->device_path;
        mount.serial = v->serial;
        mount.fstype = v->fstype;
      }
    }
  }
  Status st;
  {
    std::lock_guard<std::mutex> lock(mu_);
    st = d_.store->Insert(c, req.members);
  }
  if (!st.ok()) {
    if (d_.volumes) d_.volumes->Release(c.uuid);
    net.Release(c.uuid);
    return Err(st.code() == Code::kConflict ? Status::Conflict("A capsule or container with uuid " + c.uuid + " exists.") : st);
  }
  std::string uuid = c.uuid;
  d_.executor->Post(uuid, [this, uuid] {
    Status done = CreateStep(uuid);
    if (!done.ok()) Logger("service")->warn("capsule {}: {}", uuid, done.ToString());
  });
  return c;
}

Result<Capsule> CapsuleService::Mutate(const std::string& uuid, const std::function<void(Capsule&)>& fn) {
  std::lock_guard<std::mutex> lock(mu_);
  auto c = d_.store->Get(uuid);
  if (!c) return Err(c.error());
  fn(*c);
  c->updated_at = d_.clock->Now();
  ZUNVM_RETURN_IF_ERROR(d_.store->Update(*c));
  return c;
}

// Members first, so whoever sees the capsule in Error finds its members settled too.
void CapsuleService::Fail(const std::string& uuid, const Status& st) {
  auto c = d_.store->Get(uuid);
  if (!c || c->status == ContainerStatus::kDeleting) return;
  ContainerRecords& records = d_.containers->records();
  for (const auto& list : {c->init_containers, c->containers}) {
    for (const auto& m : list) {
      (void)records.Mutate(m, [&](Container& rec) -> Status {
        if (rec.status == ContainerStatus::kCreating || rec.status == ContainerStatus::kCreated) {
          rec.status = ContainerStatus::kError;
          rec.status_reason = st.message();
        }
        rec.task_state.reset();
        return Status::Ok();
      });
    }
  }
  (void)Mutate(uuid, [&](Capsule& rec) {
    if (rec.status == ContainerStatus::kDeleting) return;
    rec.status = ContainerStatus::kError;
    rec.status_reason = st.message();
    rec.task_state.reset();
  });
}

Status CapsuleService::CreateStep(const std::string& uuid) {
  auto c = d_.store->Get(uuid);
  if (!c) return c.error();
  if (c->status == ContainerStatus::kDeleting) return Status::Ok();
  ContainerLifecycle& life = d_.containers->lifecycle();
  ContainerRecords& records = d_.containers->records();
  std::vector<std::string> order = c->init_containers;
  order.insert(order.end(), c->containers.begin(), c->containers.end());
  SandboxSpec pod;
  pod.uuid = c->uuid;
  pod.name = c->name.value_or(c->uuid);
  pod.hostname = c->uuid.substr(0, 8) + c->uuid.substr(9, 4);
  if (!order.empty()) {
    if (auto first = records.Get(order.front()); first && first->hostname) pod.hostname = *first->hostname;
  }
  pod.runtime = "";  // the driver's default VM runtime
  pod.labels = c->labels;
  double cpu = 0;
  int64_t memory = 0;
  std::set<std::string> pulled;  // each image once per capsule
  for (const auto& m : order) {
    auto rec = records.Get(m);
    if (!rec) return rec.error();
    bool fresh = !pulled.insert(rec->image).second;
    auto spec = life.PrepareSpec(m, fresh);  // the member's image (pulled as its policy says) and disks
    if (!spec) {
      Fail(uuid, Status(spec.error().code(), "Capsule member " + m + ": " + spec.error().message()));
      return spec.error();
    }
    spec->hostname = pod.hostname;
    cpu += spec->cpu;
    memory += spec->memory_mib;
    pod.members.push_back(std::move(*spec));
  }
  // The VM is the capsule's requests (Zun's sum), or its members' limits when it asked for none.
  pod.cpu = c->cpu > 0 ? c->cpu : cpu;
  pod.memory_mib = c->memory > 0 ? c->memory : memory;
  ZUNVM_RETURN_IF_ERROR(d_.containers->networking().AddTo(pod));
  if (d_.volumes) {
    Container owner = Owner(*c);
    for (size_t i = 0; i < c->volumes.size(); ++i) {
      std::vector<Container> members;
      for (const auto& m : order) {
        if (auto rec = records.Get(m)) members.push_back(*rec);
      }
      owner.mounts[i].read_only = ReadOnlyEverywhere(members, c->volumes[i]);
    }
    if (Status st = d_.volumes->AddTo(owner, pod); !st.ok()) {
      Fail(uuid, st);
      return st;
    }
  }
  // Each member mounts the pod's disks it names (by its spec.volumes name), where it says.
  for (size_t k = 0; k < order.size(); ++k) {
    auto rec = records.Get(order[k]);
    if (!rec) return rec.error();
    pod.members[k].volumes.clear();
    for (const auto& mount : rec->mounts) {
      auto v = std::find_if(c->volumes.begin(), c->volumes.end(), [&](const CapsuleVolume& cv) { return Mounts(mount, cv); });
      if (v == c->volumes.end()) continue;
      const SandboxVolume& disk = pod.volumes[static_cast<size_t>(v - c->volumes.begin())];
      pod.members[k].volumes.push_back({"", false, disk.serial, disk.fstype, mount.destination, mount.read_only});
    }
  }
  auto info = d_.driver->Create(pod);
  if (!info) {
    Fail(uuid, info.error());
    return info.error();
  }
  for (const auto& m : order) {
    (void)records.Mutate(m, [&](Container& rec) -> Status {
      rec.container_id = info->sandbox_id;
      if (!info->guest_kernel.empty()) rec.guest_kernel = info->guest_kernel;
      rec.status = ContainerStatus::kCreated;
      rec.task_state = TaskState::kStarting;
      return Status::Ok();
    });
  }
  (void)Mutate(uuid, [&](Capsule& rec) { rec.container_id = info->sandbox_id; });
  return Advance(uuid);
}

CapsuleService::CapsuleService(CapsuleServiceDeps deps) : d_(deps) {
  d_.containers->lifecycle().SetExitObserver([this](const std::string& uuid) { OnMemberSettled(uuid); });
}

void CapsuleService::OnMemberSettled(const std::string& member) {
  auto rec = d_.containers->records().Get(member);
  if (!rec || !rec->capsule_id || !rec->init_container) return;
  std::string capsule = *rec->capsule_id;
  d_.executor->Post(capsule, [this, capsule] {
    Status st = Advance(capsule);
    if (!st.ok()) Logger("service")->warn("capsule {}: {}", capsule, st.ToString());
  });
}

Status CapsuleService::StartMember(const std::string& member) {
  ContainerRecords& records = d_.containers->records();
  auto marked = records.Mutate(member, [&](Container& rec) -> Status {
    rec.status = ContainerStatus::kRunning;
    rec.status_reason.reset();
    rec.task_state.reset();
    rec.started_at = d_.clock->Now();
    rec.exit_code.reset();
    rec.manually_stopped = false;
    return Status::Ok();
  });
  if (!marked) return marked.error();
  Status st = d_.driver->Start(member);
  if (!st.ok()) d_.containers->lifecycle().Fail(member, st);
  return st;
}

Status CapsuleService::Advance(const std::string& uuid) {
  auto c = d_.store->Get(uuid);
  if (!c) return c.error().code() == Code::kNotFound ? Status::Ok() : c.error();
  if (c->status != ContainerStatus::kCreating || !c->container_id) return Status::Ok();
  ContainerRecords& records = d_.containers->records();
  for (const auto& m : c->init_containers) {
    auto rec = records.Get(m);
    if (!rec) return rec.error();
    if (rec->status == ContainerStatus::kStopped && rec->exit_code.value_or(0) == 0) continue;
    if (rec->status == ContainerStatus::kCreated) {
      Status st = StartMember(m);
      if (!st.ok()) Fail(uuid, Status(st.code(), "Init container " + rec->name + " did not start: " + st.message()));
      return st;
    }
    if (rec->status == ContainerStatus::kStopped || rec->status == ContainerStatus::kError) {
      std::string why = rec->status == ContainerStatus::kError ? rec->status_reason.value_or("error")
                                                                 : "exit code " + std::to_string(rec->exit_code.value_or(-1));
      Status st = Status::Internal("Init container " + rec->name + " failed: " + why);
      Fail(uuid, st);
      return st;
    }
    return Status::Ok();  // running, or restarting by its policy: its end brings us back
  }
  for (const auto& m : c->containers) {
    auto rec = records.Get(m);
    if (!rec || rec->status != ContainerStatus::kCreated) continue;
    if (Status st = StartMember(m); !st.ok()) {
      Fail(uuid, Status(st.code(), "Capsule member " + rec->name + " did not start: " + st.message()));
      return st;
    }
  }
  auto done = Mutate(uuid, [](Capsule& rec) {
    if (rec.status != ContainerStatus::kCreating) return;
    rec.status = ContainerStatus::kRunning;
    rec.status_reason.reset();
    rec.task_state.reset();
  });
  return done ? Status::Ok() : done.error();
}

Result<Capsule> CapsuleService::Lookup(const RequestContext& ctx, const std::string& ident) {
  auto c = d_.store->Get(ident);
  if (c && Visible(ctx, *c)) return c;
  if (!c && c.error().code() != Code::kNotFound) return Err(c.error());
  auto named = d_.store->FindByName(ident);
  if (!named) return Err(named.error());
  std::vector<Capsule> mine;
  for (auto& n : *named) {
    if (Visible(ctx, n)) mine.push_back(std::move(n));
  }
  if (mine.empty()) return Err(NoCapsule(ident));
  if (mine.size() > 1) return Err(Status::Conflict("Multiple capsules exist with same name. Please use the capsule uuid instead."));
  return mine[0];
}

Result<std::vector<Capsule>> CapsuleService::List(const RequestContext& ctx, size_t limit,
                                                   const std::optional<std::string>& marker, bool descending) {
  int64_t marker_id = 0;
  if (marker) {
    auto m = d_.store->Get(*marker);
    if (!m) return Err(Status::NotFound("Marker " + *marker + " could not be found.", "MarkerNotFound"));
    marker_id = m->id;
  }
  std::vector<Capsule> out;
  while (out.size() < limit) {
    auto page = d_.store->List(marker_id, limit, descending);
    if (!page) return Err(page.error());
    if (page->empty()) break;
    for (auto& c : *page) {
      marker_id = c.id;
      if (Visible(ctx, c) && out.size() < limit) out.push_back(std::move(c));
    }
  }
  return out;
}

std::pair<std::vector<Container>, std::vector<Container>> CapsuleService::Members(const Capsule& c) {
  std::pair<std::vector<Container>, std::vector<Container>> out;
  ContainerRecords& records = d_.containers->records();
  for (const auto& m : c.init_containers) {
    if (auto rec = records.Get(m)) out.first.push_back(*rec);
  }
  for (const auto& m : c.containers) {
    if (auto rec = records.Get(m)) out.second.push_back(*rec);
  }
  return out;
}

Status CapsuleService::Delete(const RequestContext& ctx, const std::string& ident) {
  auto c = Lookup(ctx, ident);
  if (!c) return c.error();
  std::string uuid = c->uuid;
  auto marked = Mutate(uuid, [](Capsule& rec) {
    rec.status = ContainerStatus::kDeleting;
    rec.task_state = TaskState::kDeleting;
  });
  if (!marked) return marked.error();
  d_.executor->Post(uuid, [this, uuid] {
    Status done = DeleteStep(uuid);
    if (!done.ok()) Fail(uuid, done);
  });
  return Status::Ok();
}

Status CapsuleService::DeleteStep(const std::string& uuid) {
  auto c = d_.store->Get(uuid);
  if (!c) return c.error().code() == Code::kNotFound ? Status::Ok() : c.error();
  ZUNVM_RETURN_IF_ERROR(d_.driver->Delete(uuid, true));
  ContainerRecords& records = d_.containers->records();
  for (const auto& list : {c->init_containers, c->containers}) {
    for (const auto& m : list) {
      (void)d_.driver->Delete(m, true);
      (void)d_.logs->Remove(m);
      if (d_.images) d_.images->RemoveContainerDisk(m);
      records.DropPorts(m);
    }
  }
  d_.containers->networking().Release(uuid);
  if (d_.volumes) d_.volumes->Release(uuid);
  std::lock_guard<std::mutex> lock(mu_);
  return d_.store->Delete(uuid);
}

std::set<std::string> CapsuleService::Uuids() {
  std::set<std::string> out;
  if (auto all = d_.store->All()) {
    for (const auto& c : *all) out.insert(c.uuid);
  }
  return out;
}

void CapsuleService::Recover() {
  auto all = d_.store->All();
  if (!all) return;
  for (const auto& c : *all) {
    std::string uuid = c.uuid;
    if (c.status == ContainerStatus::kDeleting) {
      d_.executor->Post(uuid, [this, uuid] { (void)DeleteStep(uuid); });
    } else if (c.status == ContainerStatus::kCreating) {
      d_.executor->Post(uuid, [this, uuid] {
        (void)d_.driver->Delete(uuid, true);
        Fail(uuid, Status::Internal("zunvmd restarted while the capsule was being created"));
      });
    }
  }
}

}  // namespace zunvm
