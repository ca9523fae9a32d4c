#include "driver/fake/fake_driver.h"

#include <openssl/evp.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/strings.h"

namespace zunvm {

using nlohmann::json;

namespace {
Status NoSuch(const std::string& uuid) {
  return Status::NotFound("No such sandbox: " + uuid, "ContainerNotFound");
}
Status WrongState(const std::string& uuid, SandboxState s, const std::string& op) {
  return Status::Conflict("Cannot " + op + " sandbox " + uuid + " in state " +
                          SandboxStateName(s), "Conflict");
}
int64_t Micros(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}
bool IgnoredSignal(int sig) {
  return sig == SIGCHLD || sig == SIGCONT || sig == SIGSTOP || sig == SIGTSTP ||
         sig == SIGWINCH || sig == SIGURG;
}
}  // namespace

const char* SandboxStateName(SandboxState s) {
  switch (s) {
    case SandboxState::kCreated: return "created";
    case SandboxState::kRunning: return "running";
    case SandboxState::kPaused: return "paused";
    case SandboxState::kStopped: return "stopped";
  }
  return "unknown";
}

FakeDriver::FakeDriver(std::string state_file) : state_file_(std::move(state_file)) {
  Load();
  thread_ = std::thread([this] { EventLoop(); });
}

FakeDriver::~FakeDriver() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void FakeDriver::SetEvents(DriverEvents* events) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    sink_ = events;
  }
  cv_.notify_all();
}

Result<FakeDriver::Box*> FakeDriver::Find(const std::string& uuid) {
  auto it = boxes_.find(uuid);
  if (it == boxes_.end()) return Err(NoSuch(uuid));
  return &it->second;
}

void FakeDriver::Enqueue(Event e) {
  e.seq = seq_++;
  events_.push(std::move(e));
  cv_.notify_all();
}

void FakeDriver::ScheduleExit(const std::string& uuid, Box& box, double seconds, int code) {
  box.token++;
  box.exit_when_done = code;
  auto due = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                std::chrono::duration<double>(seconds));
  box.exit_at = due;
  Event e;
  e.due = due;
  e.kind = Event::kTimer;
  e.uuid = uuid;
  e.code = code;
  e.token = box.token;
  Enqueue(std::move(e));
}

FakeEnv FakeDriver::EnvOf(const Box& box) const {
  FakeEnv env;
  env.env = box.spec.env;
  env.env.emplace("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  env.env["HOSTNAME"] = box.spec.hostname;
  env.hostname = box.spec.hostname;
  env.workdir = box.spec.workdir.empty() ? "/" : TarFs::Normalize(box.spec.workdir);
  return env;
}

void FakeDriver::EventLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (events_.empty() || !sink_) {
      cv_.wait(lock);
      continue;
    }
    if (events_.top().due > Clock::now()) {
      cv_.wait_until(lock, events_.top().due);
      continue;
    }
    Event e = events_.top();
    events_.pop();
    DriverEvents* sink = sink_;
    if (e.kind == Event::kTimer) {
      auto it = boxes_.find(e.uuid);
      if (it == boxes_.end() || it->second.token != e.token ||
          it->second.state != SandboxState::kRunning) {
        continue;  // cancelled by stop, kill, pause, delete or a new start
      }
      it->second.state = SandboxState::kStopped;
      it->second.exit_code = e.code;
      it->second.exit_at.reset();
      Persist();
      e.kind = Event::kExit;
    }
    lock.unlock();
    if (e.kind == Event::kOutput) sink->OnOutput(e.uuid, e.stream, e.data);
    else sink->OnExit(e.uuid, e.code);
    lock.lock();
  }
}

Result<SandboxInfo> FakeDriver::Create(const SandboxSpec& spec) {
  std::lock_guard<std::mutex> lock(mu_);
  if (boxes_.count(spec.uuid)) return Err(Status::Conflict("sandbox " + spec.uuid + " exists"));
  Box box;
  box.spec = spec;
  box.sandbox_id = "fake-" + spec.uuid.substr(0, 8) + spec.uuid.substr(9, 4);
  box.fs = TarFs(spec.hostname);
  if (!spec.workdir.empty()) {
    Status st = box.fs.MakeDirs(spec.workdir);  // like Docker, a missing workdir is created
    if (!st.ok()) return Err(st);
  }
  SandboxInfo info{spec.uuid, box.sandbox_id, SandboxState::kCreated, std::nullopt, spec.hostname};
  boxes_.emplace(spec.uuid, std::move(box));
  Persist();
  return info;
}

Status FakeDriver::Start(const std::string& uuid) {
  std::lock_guard<std::mutex> lock(mu_);
  auto box = Find(uuid);
  if (!box) return box.error();
  Box& b = **box;
  if (b.state != SandboxState::kCreated && b.state != SandboxState::kStopped) {
    return WrongState(uuid, b.state, "start");
  }
  FakeRun run = RunFakeProgram(b.spec.argv, b.fs, EnvOf(b));
  b.state = SandboxState::kRunning;
  b.exit_code.reset();
  b.token++;
  b.exit_at.reset();
  auto now = Clock::now();
  if (!run.out.empty()) Enqueue(Event{now, 0, Event::kOutput, uuid, Stream::kStdout, run.out, 0, 0});
  if (!run.err.empty()) Enqueue(Event{now, 0, Event::kOutput, uuid, Stream::kStderr, run.err, 0, 0});
  if (!run.forever) ScheduleExit(uuid, b, run.seconds, run.exit_code);
  Persist();
  return Status::Ok();
}

Result<int> FakeDriver::Stop(const std::string& uuid, std::chrono::seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  auto box = Find(uuid);
  if (!box) return Err(box.error());
  Box& b = **box;
  if (b.state == SandboxState::kRunning || b.state == SandboxState::kPaused) {
    b.state = SandboxState::kStopped;
    b.exit_code = 128 + SIGTERM;
    b.token++;  // no OnExit for Stop: the code is returned
    b.exit_at.reset();
    Persist();
  }
  return b.exit_code.value_or(0);
}

Status FakeDriver::Kill(const std::string& uuid, int signal) {
  std::lock_guard<std::mutex> lock(mu_);
  auto box = Find(uuid);
  if (!box) return box.error();
  Box& b = **box;
  if (b.state != SandboxState::kRunning && b.state != SandboxState::kPaused) {
    return WrongState(uuid, b.state, "kill");
  }
  if (signal < 1 || signal > 64) return Status::Invalid("bad signal " + std::to_string(signal));
  if (IgnoredSignal(signal)) return Status::Ok();
  b.state = SandboxState::kStopped;
  b.exit_code = 128 + signal;
  b.token++;
  b.exit_at.reset();
  Enqueue(Event{Clock::now(), 0, Event::kExit, uuid, Stream::kStdout, "", 128 + signal, 0});
  Persist();
  return Status::Ok();
}

Status FakeDriver::Pause(const std::string& uuid) {
  std::lock_guard<std::mutex> lock(mu_);
  auto box = Find(uuid);
  if (!box) return box.error();
  Box& b = **box;
  if (b.state != SandboxState::kRunning) return WrongState(uuid, b.state, "pause");
  b.state = SandboxState::kPaused;
  b.token++;  // a frozen process does not finish
  b.paused_remaining = -1;
  if (b.exit_at) {
    b.paused_remaining =
        std::max(0.0, std::chrono::duration<double>(*b.exit_at - Clock::now()).count());
    b.exit_at.reset();
  }
  Persist();
  return Status::Ok();
}

Status FakeDriver::Unpause(const std::string& uuid) {
  std::lock_guard<std::mutex> lock(mu_);
  auto box = Find(uuid);
  if (!box) return box.error();
  Box& b = **box;
  if (b.state != SandboxState::kPaused) return WrongState(uuid, b.state, "unpause");
  b.state = SandboxState::kRunning;
  if (b.paused_remaining >= 0) ScheduleExit(uuid, b, b.paused_remaining, b.exit_when_done);
  b.paused_remaining = -1;
  Persist();
  return Status::Ok();
}

Status FakeDriver::Delete(const std::string& uuid, bool force) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = boxes_.find(uuid);
  if (it == boxes_.end()) return Status::Ok();
  if (!force && (it->second.state == SandboxState::kRunning ||
                 it->second.state == SandboxState::kPaused)) {
    return WrongState(uuid, it->second.state, "delete");
  }
  boxes_.erase(it);
  Persist();
  return Status::Ok();
}

Result<SandboxInfo> FakeDriver::Inspect(const std::string& uuid) {
  std::lock_guard<std::mutex> lock(mu_);
  auto box = Find(uuid);
  if (!box) return Err(box.error());
  const Box& b = **box;
  return SandboxInfo{uuid, b.sandbox_id, b.state, b.exit_code, b.spec.hostname};
}

Result<std::vector<SandboxInfo>> FakeDriver::List() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<SandboxInfo> out;
  for (const auto& [uuid, b] : boxes_) {
    out.push_back(SandboxInfo{uuid, b.sandbox_id, b.state, b.exit_code, b.spec.hostname});
  }
  return out;
}

Result<ExecResult> FakeDriver::Exec(const std::string& uuid, const std::vector<std::string>& argv,
                                    std::chrono::seconds timeout) {
  FakeRun run;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto box = Find(uuid);
    if (!box) return Err(box.error());
    Box& b = **box;
    if (b.state != SandboxState::kRunning) return Err(WrongState(uuid, b.state, "exec in"));
    run = RunFakeProgram(argv, b.fs, EnvOf(b));
    Persist();
  }
  // The simulated process runs for its sleep time; the caller waits that long (bounded).
  double limit = static_cast<double>(timeout.count());
  if (run.forever || run.seconds > limit) {
    std::this_thread::sleep_for(timeout);
    return Err(Status(Code::kDeadlineExceeded, "exec timed out", "Conflict"));
  }
  if (run.seconds > 0) {
    std::this_thread::sleep_for(std::chrono::duration<double>(run.seconds));
  }
  return ExecResult{run.out + run.err, run.exit_code};
}

Status FakeDriver::ResizeTty(const std::string& uuid, int width, int height) {
  std::lock_guard<std::mutex> lock(mu_);
  auto box = Find(uuid);
  if (!box) return box.error();
  if ((*box)->state != SandboxState::kRunning) return WrongState(uuid, (*box)->state, "resize");
  if (!(*box)->spec.tty) return Status::Invalid("Container " + uuid + " has no tty.");
  if (width < 1 || height < 1) return Status::Invalid("bad tty size");
  return Status::Ok();
}

Result<TopResult> FakeDriver::Top(const std::string& uuid, const std::string&) {
  std::lock_guard<std::mutex> lock(mu_);
  auto box = Find(uuid);
  if (!box) return Err(box.error());
  const Box& b = **box;
  if (b.state != SandboxState::kRunning) return Err(WrongState(uuid, b.state, "top"));
  TopResult t;
  t.titles = {"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"};
  std::string cmd = b.spec.argv.empty() ? "sh" : Join(b.spec.argv, " ");
  t.processes.push_back({"root", "1", "0", "0", "00:00", b.spec.tty ? "pts/0" : "?", "00:00:00", cmd});
  return t;
}

Result<SandboxStats> FakeDriver::Stats(const std::string& uuid) {
  std::lock_guard<std::mutex> lock(mu_);
  auto box = Find(uuid);
  if (!box) return Err(box.error());
  const Box& b = **box;
  if (b.state != SandboxState::kRunning) return Err(WrongState(uuid, b.state, "stats"));
  SandboxStats s;
  s.cpu_percent = 0.1;
  s.mem_usage_mib = 2.5;
  s.mem_limit_mib = static_cast<double>(b.spec.memory_mib);
  s.block_read = 4096;
  s.block_write = 0;
  s.net_rx = 0;
  s.net_tx = 0;
  return s;
}

Result<Archive> FakeDriver::GetArchive(const std::string& uuid, const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  auto box = Find(uuid);
  if (!box) return Err(box.error());
  auto a = (*box)->fs.Export(path);
  if (!a && a.error().code() == Code::kNotFound) {
    return Err(Status::NotFound("Could not find the file " + path + " in container " + uuid,
                                "NotFound"));
  }
  return a;
}

Status FakeDriver::PutArchive(const std::string& uuid, const std::string& path,
                              const std::string& tar) {
  std::lock_guard<std::mutex> lock(mu_);
  auto box = Find(uuid);
  if (!box) return box.error();
  Status st = (*box)->fs.Import(path, tar);
  if (st.ok()) Persist();
  return st;
}

Result<bool> FakeDriver::Update(const std::string& uuid, double cpu, int64_t memory_mib) {
  std::lock_guard<std::mutex> lock(mu_);
  auto box = Find(uuid);
  if (!box) return Err(box.error());
  (*box)->spec.cpu = cpu;
  (*box)->spec.memory_mib = memory_mib;
  Persist();
  return true;
}

Result<std::string> FakeDriver::Commit(const std::string& uuid, const std::string& repository,
                                       const std::string& tag) {
  std::lock_guard<std::mutex> lock(mu_);
  auto box = Find(uuid);
  if (!box) return Err(box.error());
  std::string seed = uuid + "|" + repository + "|" + tag;
  unsigned char md[32];
  unsigned int len = 0;
  EVP_Digest(seed.data(), seed.size(), md, &len, EVP_sha256(), nullptr);
  std::string hex;
  static const char* kHex = "0123456789abcdef";
  for (unsigned int i = 0; i < len; ++i) {
    hex.push_back(kHex[md[i] >> 4]);
    hex.push_back(kHex[md[i] & 15]);
  }
  return "sha256:" + hex;
}

void FakeDriver::Persist() {
  if (state_file_.empty()) return;
  json boxes = json::object();
  for (const auto& [uuid, b] : boxes_) {
    json spec = {{"uuid", b.spec.uuid},       {"name", b.spec.name},
                 {"image", b.spec.image},     {"argv", b.spec.argv},
                 {"env", b.spec.env},         {"workdir", b.spec.workdir},
                 {"hostname", b.spec.hostname}, {"cpu", b.spec.cpu},
                 {"memory", b.spec.memory_mib}, {"tty", b.spec.tty}};
    boxes[uuid] = {{"spec", spec},
                   {"sandbox_id", b.sandbox_id},
                   {"state", static_cast<int>(b.state)},
                   {"exit_code", b.exit_code ? json(*b.exit_code) : json(nullptr)},
                   {"exit_at", b.exit_at ? json(Micros(*b.exit_at)) : json(nullptr)},
                   {"exit_when_done", b.exit_when_done},
                   {"paused_remaining", b.paused_remaining},
                   {"fs", b.fs.ToJson()}};
  }
  std::string tmp = state_file_ + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << boxes.dump();
    if (!out) return;
  }
  std::rename(tmp.c_str(), state_file_.c_str());
}

void FakeDriver::Load() {
  if (state_file_.empty()) return;
  std::ifstream in(state_file_);
  if (!in) return;
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return;
  try {
    for (auto it = j.begin(); it != j.end(); ++it) {
      const json& v = it.value();
      Box b;
      const json& s = v.at("spec");
      b.spec.uuid = s.at("uuid");
      b.spec.name = s.value("name", "");
      b.spec.image = s.value("image", "");
      b.spec.argv = s.value("argv", std::vector<std::string>{});
      b.spec.env = s.value("env", std::map<std::string, std::string>{});
      b.spec.workdir = s.value("workdir", "");
      b.spec.hostname = s.value("hostname", "");
      b.spec.cpu = s.value("cpu", 1.0);
      b.spec.memory_mib = s.value("memory", int64_t{512});
      b.spec.tty = s.value("tty", false);
      b.sandbox_id = v.at("sandbox_id");
      b.state = static_cast<SandboxState>(v.at("state").get<int>());
      if (!v.at("exit_code").is_null()) b.exit_code = v.at("exit_code").get<int>();
      b.exit_when_done = v.value("exit_when_done", 0);
      b.paused_remaining = v.value("paused_remaining", -1.0);
      b.fs = TarFs::FromJson(v.at("fs"));
      boxes_[it.key()] = std::move(b);
      if (!v.at("exit_at").is_null() && boxes_[it.key()].state == SandboxState::kRunning) {
        auto at = Clock::time_point(std::chrono::duration_cast<Clock::duration>(
            std::chrono::microseconds(v.at("exit_at").get<int64_t>())));
        double left = std::max(0.0, std::chrono::duration<double>(at - Clock::now()).count());
        ScheduleExit(it.key(), boxes_[it.key()], left, boxes_[it.key()].exit_when_done);
      }
    }
  } catch (const std::exception&) {
    boxes_.clear();  // a corrupt state file: start empty
    while (!events_.empty()) events_.pop();
  }
}

}  // namespace zunvm
