// FakeDriver's consoles: echoing terminals (see fake_driver.h).
#include <algorithm>

#include "tests/fakes/fake_driver.h"

namespace zunvm {

void FakeDriver::CloseConsoles(const std::string& uuid, std::optional<int> code) {
  std::vector<std::pair<std::shared_ptr<ProcessSink>, std::optional<int>>> closed;
  {
    std::lock_guard<std::mutex> lock(console_mu_);
    for (auto it = consoles_.begin(); it != consoles_.end();) {
      if (it->second.uuid == uuid) {
        closed.emplace_back(it->second.sink, std::nullopt);
        it = consoles_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto it = watchers_.begin(); it != watchers_.end();) {
      if (it->second.first == uuid) {
        closed.emplace_back(it->second.second, code);
        it = watchers_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& [sink, c] : closed) sink->OnClosed(c);
}

Result<std::string> FakeDriver::ExecInteractive(const std::string& uuid, const std::vector<std::string>& argv,
                                                bool, int width, int height, std::shared_ptr<ProcessSink> sink) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto box = Find(uuid);
    if (!box) return Err(box.error());
    if ((*box)->state != SandboxState::kRunning) return Err(Status::Conflict("Container " + uuid + " is not running"));
  }
  if (argv.empty()) return Err(Status::Invalid("No exec command specified"));
  std::lock_guard<std::mutex> lock(console_mu_);
  std::string id = "fake-console-" + std::to_string(++console_ids_);
  consoles_[id] = ConsoleProc{uuid, std::move(sink), width, height, "", true};
  return id;
}

Result<uint64_t> FakeDriver::Watch(const std::string& uuid, std::shared_ptr<ProcessSink> sink) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto box = Find(uuid);
    if (!box) return Err(box.error());
    if ((*box)->state != SandboxState::kRunning) return Err(Status::Conflict("Container " + uuid + " is not running"));
  }
  std::lock_guard<std::mutex> lock(console_mu_);
  uint64_t handle = ++console_ids_;
  watchers_[handle] = {uuid, std::move(sink)};
  return handle;
}

void FakeDriver::Unwatch(const std::string&, uint64_t handle) {
  std::lock_guard<std::mutex> lock(console_mu_);
  watchers_.erase(handle);
}

Status FakeDriver::WriteStdin(const std::string& uuid, const std::string& process, const std::string& data) {
  std::vector<std::shared_ptr<ProcessSink>> echo;
  std::string out = data;
  std::optional<int> exit_code;
  {
    std::lock_guard<std::mutex> lock(console_mu_);
    if (process.empty()) {
      for (const auto& [handle, w] : watchers_) {
        if (w.first == uuid) echo.push_back(w.second);
      }
    } else {
      auto it = consoles_.find(process);
      if (it == consoles_.end() || it->second.uuid != uuid) return Status::NotFound("no such process " + process);
      if (!it->second.stdin_open) return Status::Conflict("stdin of " + process + " is closed");
      ConsoleProc& p = it->second;
      echo.push_back(p.sink);
      for (char ch : data) {
        if (ch != '\r' && ch != '\n') {
          p.line += ch;
          continue;
        }
        out += "\r\n";
        if (p.line == "stty size") out += std::to_string(p.height) + " " + std::to_string(p.width) + "\r\n";
        if (p.line == "exit" || p.line.rfind("exit ", 0) == 0) {
          exit_code = p.line == "exit" ? 0 : std::atoi(p.line.c_str() + 5);
        }
        p.line.clear();
      }
      if (exit_code) consoles_.erase(it);
    }
  }
  for (const auto& sink : echo) {
    sink->OnOutput(out);
    if (exit_code) sink->OnClosed(exit_code);
  }
  return Status::Ok();
}

Status FakeDriver::CloseStdin(const std::string& uuid, const std::string& process) {
  std::lock_guard<std::mutex> lock(console_mu_);
  auto it = consoles_.find(process);
  if (it == consoles_.end() || it->second.uuid != uuid) return Status::NotFound("no such process " + process);
  it->second.stdin_open = false;
  return Status::Ok();
}

Status FakeDriver::ResizeProcess(const std::string& uuid, const std::string& process, int width, int height) {
  if (process.empty()) return ResizeTty(uuid, width, height);
  std::lock_guard<std::mutex> lock(console_mu_);
  auto it = consoles_.find(process);
  if (it == consoles_.end() || it->second.uuid != uuid) return Status::NotFound("no such process " + process);
  it->second.width = width;
  it->second.height = height;
  return Status::Ok();
}

}  // namespace zunvm
