// RuntimeRouter: one SandboxDriver over several, each serving some runtimes (the libvirt
// driver the vm ones, the OCI driver the oci ones). Create goes to the driver of the spec's
// runtime (when it names none: the first driver, or for a pod the pods' driver); every other call to the driver that holds
// the sandbox, learned from Create and from each driver's List at Init. A uuid nobody holds goes
// to the first driver (whose NotFound the caller gets).
//
// Threads: as SandboxDriver; the uuid map has its own mutex, never held across a driver call.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "driver/driver.h"

namespace zunvm {

class RuntimeRouter : public SandboxDriver {
 public:
  // `drivers` is not empty; the first one is the default. Each driver's Runtimes() are its.
  // Pods (capsules) that name no runtime go to drivers[pod_driver].
  explicit RuntimeRouter(std::vector<std::unique_ptr<SandboxDriver>> drivers, size_t pod_driver = 0);

  std::string Name() const override;
  bool UsesImages() const override { return true; }
  std::vector<std::string> Runtimes() const override;
  std::string RuntimeUnavailable(const std::string& runtime) const override;
  void SetEvents(DriverEvents* events) override;
  Status Init() override;

  Result<SandboxInfo> Create(const SandboxSpec& spec) override;
  Status Start(const std::string& uuid) override { return For(uuid).Start(uuid); }
  Result<int> Stop(const std::string& uuid, std::chrono::seconds timeout) override {
    return For(uuid).Stop(uuid, timeout);
  }
  Status Kill(const std::string& uuid, int signal) override { return For(uuid).Kill(uuid, signal); }
  Status Pause(const std::string& uuid) override { return For(uuid).Pause(uuid); }
  Status Unpause(const std::string& uuid) override { return For(uuid).Unpause(uuid); }
  Status Delete(const std::string& uuid, bool force) override;
  Result<SandboxInfo> Inspect(const std::string& uuid) override { return For(uuid).Inspect(uuid); }
  Result<std::vector<SandboxInfo>> List() override;
  Result<ExecResult> Exec(const std::string& uuid, const std::vector<std::string>& argv,
                          std::chrono::seconds timeout) override {
    return For(uuid).Exec(uuid, argv, timeout);
  }
  Status ResizeTty(const std::string& uuid, int width, int height) override {
    return For(uuid).ResizeTty(uuid, width, height);
  }
  Result<std::string> ExecInteractive(const std::string& uuid, const std::vector<std::string>& argv, bool tty,
                                      int width, int height, std::shared_ptr<ProcessSink> sink) override {
    return For(uuid).ExecInteractive(uuid, argv, tty, width, height, std::move(sink));
  }
  Result<uint64_t> Watch(const std::string& uuid, std::shared_ptr<ProcessSink> sink) override {
    return For(uuid).Watch(uuid, std::move(sink));
  }
  void Unwatch(const std::string& uuid, uint64_t handle) override { For(uuid).Unwatch(uuid, handle); }
  Status WriteStdin(const std::string& uuid, const std::string& process, const std::string& data) override {
    return For(uuid).WriteStdin(uuid, process, data);
  }
  Status CloseStdin(const std::string& uuid, const std::string& process) override {
    return For(uuid).CloseStdin(uuid, process);
  }
  Status ResizeProcess(const std::string& uuid, const std::string& process, int width, int height) override {
    return For(uuid).ResizeProcess(uuid, process, width, height);
  }
  Result<TopResult> Top(const std::string& uuid, const std::string& ps_args) override {
    return For(uuid).Top(uuid, ps_args);
  }
  Result<SandboxStats> Stats(const std::string& uuid) override { return For(uuid).Stats(uuid); }
  Result<Archive> GetArchive(const std::string& uuid, const std::string& path) override {
    return For(uuid).GetArchive(uuid, path);
  }
  Status PutArchive(const std::string& uuid, const std::string& path, const std::string& tar) override {
    return For(uuid).PutArchive(uuid, path, tar);
  }
  Result<bool> Update(const std::string& uuid, double cpu, int64_t memory_mib) override {
    return For(uuid).Update(uuid, cpu, memory_mib);
  }
  Result<std::string> Commit(const std::string& uuid, const std::string& repository, const std::string& tag) override {
    return For(uuid).Commit(uuid, repository, tag);
  }
  Status AttachNic(const std::string& uuid, const SandboxNic& nic) override { return For(uuid).AttachNic(uuid, nic); }
  Result<std::vector<std::string>> NicPorts(const std::string& uuid) override { return For(uuid).NicPorts(uuid); }
  Status DetachNic(const std::string& uuid, const std::string& port_id) override {
    return For(uuid).DetachNic(uuid, port_id);
  }

 private:
  SandboxDriver& For(const std::string& uuid);
  SandboxDriver& ForRuntime(const std::string& runtime);
  std::vector<std::unique_ptr<SandboxDriver>> drivers_;
  size_t pod_driver_;
  std::mutex mu_;
  std::map<std::string, SandboxDriver*> owner_;  // sandbox (and pod member) uuid -> its driver
};

}  // namespace zunvm
