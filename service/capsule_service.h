// CapsuleService: Zun's capsules (pods) — several containers in one sandbox. A capsule's
// members are container records (capsule_id set, listed only with their capsule) that the
// container service runs like any other (logs, exec, top, stats, stop/start, restart policy);
// the capsule holds the sandbox (one VM: driver.h SandboxSpec::members), its network ports and
// its volumes, all owned by the capsule's uuid.
//
// Create writes the capsule and its members in one transaction (ports and volumes taken first,
// released again when it is refused) and queues the worker step under the capsule's uuid: the
// members' images and disks, then the sandbox. Then the init containers run one after another
// and the regular members start (Advance, on the capsule's key, again each time an init
// container settles: Stopped with 0 goes on; non-zero with no restart left, or Error, fails
// the capsule naming it). No worker waits for a container. Delete removes the sandbox, every
// member's record, log and disk, the ports, and the volumes made for it.
//
// Thread safety: thread-safe. Construct it before any container runs (it observes exits).
// Errors: NotFound (CapsuleNotFound), Conflict, InvalidArgument, the parts' errors.
#pragma once

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/config.h"
#include "common/serial_executor.h"
#include "db/capsule_store.h"
#include "driver/driver.h"
#include "model/capsule.h"
#include "model/request_context.h"
#include "service/container_service.h"

namespace zunvm {

class ImageService;
class VolumeService;
class LogStore;

struct CapsuleServiceDeps {
  const Config* cfg = nullptr;
  CapsuleStore* store = nullptr;
  ContainerService* containers = nullptr;
  SandboxDriver* driver = nullptr;
  SerialExecutor* executor = nullptr;
  Clock* clock = nullptr;
  LogStore* logs = nullptr;
  ImageService* images = nullptr;    // may be null
  VolumeService* volumes = nullptr;  // may be null: a capsule with volumes is refused
};

class CapsuleService {
 public:
  explicit CapsuleService(CapsuleServiceDeps deps);

  // `req` comes from the API (the template parsed); returns the capsule as stored.
  Result<Capsule> Create(const RequestContext& ctx, CapsuleRequest req);
  // uuid or name, scoped to ctx's project unless all_projects.
  Result<Capsule> Lookup(const RequestContext& ctx, const std::string& ident);
  // After `marker` (a uuid; NotFound when unknown), at most `limit`, ctx's project only unless
  // all_projects.
  Result<std::vector<Capsule>> List(const RequestContext& ctx, size_t limit, const std::optional<std::string>& marker,
                                    bool descending);
  // The members as stored: {init containers, containers}, in the capsule's order.
  std::pair<std::vector<Container>, std::vector<Container>> Members(const Capsule& c);
  // Accepted (the capsule is Deleting) and done on the worker.
  Status Delete(const RequestContext& ctx, const std::string& ident);

  // The capsules' uuids (their sandboxes have no container record).
  std::set<std::string> Uuids();
  // After ContainerService::Recover: a create cut short fails, a delete cut short runs again.
  void Recover();

 private:
  Status CreateStep(const std::string& uuid);
  // The next init container, or the regular members once they all ended well; the capsule's
  // Running or Error at the end.
  Status Advance(const std::string& uuid);
  // A member's process started: its record says Running before the driver starts it, so an
  // exit at once is recorded as one (exits are handled on the member's key, not this one).
  Status StartMember(const std::string& member);
  void OnMemberSettled(const std::string& member);
  Status DeleteStep(const std::string& uuid);
  // The stand-in container that owns the capsule's ports and volumes.
  Container Owner(const Capsule& c) const;
  Result<Capsule> Mutate(const std::string& uuid, const std::function<void(Capsule&)>& fn);
  void Fail(const std::string& uuid, const Status& st);

  CapsuleServiceDeps d_;
  std::mutex mu_;  // read-modify-write of capsule records
};

}  // namespace zunvm
