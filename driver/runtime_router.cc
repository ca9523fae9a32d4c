#include "driver/runtime_router.h"

#include <algorithm>

namespace zunvm {

RuntimeRouter::RuntimeRouter(std::vector<std::unique_ptr<SandboxDriver>> drivers, size_t pod_driver)
    : drivers_(std::move(drivers)), pod_driver_(pod_driver < drivers_.size() ? pod_driver : 0) {}

std::string RuntimeRouter::Name() const {
  std::string out;
  for (const auto& d : drivers_) out += (out.empty() ? "" : "+") + d->Name();
  return out;
}

std::vector<std::string> RuntimeRouter::Runtimes() const {
  std::vector<std::string> out;
  for (const auto& d : drivers_) {
    for (auto& r : d->Runtimes()) {
      if (std::find(out.begin(), out.end(), r) == out.end()) out.push_back(r);
    }
  }
  return out;
}

std::string RuntimeRouter::RuntimeUnavailable(const std::string& runtime) const {
  for (const auto& d : drivers_) {
    std::string why = d->RuntimeUnavailable(runtime);
    if (!why.empty()) return why;
  }
  return "";
}

void RuntimeRouter::SetEvents(DriverEvents* events) {
  for (auto& d : drivers_) d->SetEvents(events);
}

Status RuntimeRouter::Init() {
  for (auto& d : drivers_) {
    ZUNVM_RETURN_IF_ERROR(d->Init());
    auto boxes = d->List();
    if (!boxes) return boxes.error();
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& b : *boxes) owner_[b.uuid] = d.get();
  }
  return Status::Ok();
}

SandboxDriver& RuntimeRouter::ForRuntime(const std::string& runtime) {
  for (auto& d : drivers_) {
    auto rts = d->Runtimes();
    if (std::find(rts.begin(), rts.end(), runtime) != rts.end()) return *d;
  }
  return *drivers_.front();
}

SandboxDriver& RuntimeRouter::For(const std::string& uuid) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = owner_.find(uuid);
  return it == owner_.end() ? *drivers_.front() : *it->second;
}

Result<SandboxInfo> RuntimeRouter::Create(const SandboxSpec& spec) {
  SandboxDriver& d = !spec.runtime.empty()     ? ForRuntime(spec.runtime)
                     : !spec.members.empty() ? *drivers_[pod_driver_]
                                             : *drivers_.front();
  auto r = d.Create(spec);
  if (r) {
    std::lock_guard<std::mutex> lock(mu_);
    owner_[spec.uuid] = &d;
    for (const auto& m : spec.members) owner_[m.uuid] = &d;
  }
  return r;
}

Status RuntimeRouter::Delete(const std::string& uuid, bool force) {
  Status st = For(uuid).Delete(uuid, force);
  if (st.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    owner_.erase(uuid);
  }
  return st;
}

Result<std::vector<SandboxInfo>> RuntimeRouter::List() {
  std::vector<SandboxInfo> out;
  for (auto& d : drivers_) {
    auto l = d->List();
    if (!l) return Err(l.error());
    out.insert(out.end(), l->begin(), l->end());
  }
  return out;
}

}  // namespace zunvm
