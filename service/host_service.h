// HostService: this host as a Zun compute node (/v1/hosts): real machine figures plus what
// the containers claim. Thread-safe.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/config.h"
#include "db/meta_store.h"
#include "driver/driver.h"
#include "service/container_service.h"
#include "service/host_info.h"

namespace zunvm {

struct HostRecord {
  std::string uuid;            // stable, stored in SQLite on first start
  HostInfo info;
  double cpu_used = 0;
  int64_t mem_used = 0;        // MiB claimed by containers
  int64_t disk_used = 0;       // GiB claimed by containers
  int total_containers = 0, running_containers = 0, paused_containers = 0,
      stopped_containers = 0;
  std::vector<std::string> runtimes;
  std::map<std::string, std::string> labels;
  bool disk_quota_supported = true;
};

class HostService {
 public:
  HostService(const Config& cfg, MetaStore* meta, ContainerService* containers,
              SandboxDriver* driver)
      : cfg_(cfg), meta_(meta), containers_(containers), driver_(driver) {}
  Result<HostRecord> ThisHost();

 private:
  const Config& cfg_;
  MetaStore* meta_;
  ContainerService* containers_;
  SandboxDriver* driver_;
};

}  // namespace zunvm
