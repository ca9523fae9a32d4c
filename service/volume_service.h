// VolumeService: zunvmd's volumes (sparse ext4 disks in <state_dir>/volumes, rows in
// VolumeStore) and the mounts of containers (docs/volumes.md).
//
// A container's mounts are resolved once, at its create (Admit): a named volume is found by
// name or uuid in the caller's project, or made with [volumes] default_size_gib; a `size`
// mount makes an anonymous volume removed with the container; a `block` mount (the Zun
// driver's Cinder volumes; admins only) is checked to be a host block device and given an ext4
// filesystem when it has none. The volumes are then attached for the container's whole life
// (its VM holds their disks), and Release detaches them at its delete.
//
// Thread safety: thread-safe; Admit, Release and Delete are serialised (a name's
// find-or-create and the attachment are one step). Errors: InvalidArgument (a bad mount:
// 400), Forbidden, NotFound, Conflict (a writer already attached, a volume in use), Internal.
#pragma once

#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/config.h"
#include "db/volume_store.h"
#include "driver/driver.h"
#include "model/container.h"
#include "model/request_context.h"

namespace zunvm {

class VolumeService {
 public:
  // `dir` holds the volume disks (made on first use, reachable by the qemu user).
  VolumeService(const Config& cfg, VolumeStore* store, std::string dir)
      : cfg_(cfg), store_(store), dir_(std::move(dir)) {}

  // Checks c.mounts (paths, sizes, counts, names) and resolves them for c's create by `ctx`,
  // attaching the volumes to c.uuid. All or nothing: on an error nothing it made remains.
  Status Admit(const RequestContext& ctx, Container& c);
  // The disks and files of c's sandbox.
  Status AddTo(const Container& c, SandboxSpec& spec);
  // Detaches c's volumes and removes those made for it. Idempotent.
  void Release(const std::string& container_uuid);

  Result<std::vector<VolumeRecord>> List(const RequestContext& ctx);
  Result<VolumeRecord> Get(const RequestContext& ctx, const std::string& ident);
  // Conflict while attached. The disk goes with the row.
  Status Delete(const RequestContext& ctx, const std::string& ident);

  // Start-up: attachments of containers not in `containers` are dropped (a create or delete
  // interrupted by a crash), with the anonymous volumes they held.
  void Recover(const std::set<std::string>& containers);

 private:
  Status CheckMounts(const Container& c) const;
  Result<VolumeRecord> FindOrMake(const RequestContext& ctx, ContainerMount& m, std::vector<std::string>& made);
  Status PrepareBlock(const RequestContext& ctx, ContainerMount& m);
  void RemoveVolume(const VolumeRecord& v);
  bool Visible(const RequestContext& ctx, const VolumeRecord& v) const {
    return ctx.all_projects || v.project_id == ctx.project_id;
  }

  const Config& cfg_;
  VolumeStore* store_;  // not owned
  std::string dir_;
  std::mutex mu_;
};

}  // namespace zunvm
