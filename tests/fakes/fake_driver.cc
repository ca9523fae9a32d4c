#include "tests/fakes/fake_driver.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "common/base64.h"
#include "common/logging.h"
#include "common/strings.h"
#include "driver/spec_json.h"

namespace zunvm {

using nlohmann::json;

namespace {

constexpr int kStateVersion = 1;
// A process that would run longer than this (~31 years) is treated as running for ever, which
// also keeps deadlines far from clock overflow.
constexpr double kForeverSeconds = 1e9;

Status NoSuch(const std::string& uuid) {
  return Status::NotFound("No such sandbox: " + uuid, "ContainerNotFound");
}

Status WrongState(const std::string& uuid, SandboxState s, const std::string& op) {
  return Status::Conflict("Cannot " + op + " container " + uuid + " in state " +
                          SandboxStateName(s));
}

bool Live(SandboxState s) { return s == SandboxState::kRunning || s == SandboxState::kPaused; }

// "fake-" and the first 12 hex digits of the uuid (padded from a hash for odd uuids).
std::string SandboxIdFor(const std::string& uuid) {
  std::string hex;
  for (char c : uuid) {
    if (std::isxdigit(static_cast<unsigned char>(c)) && hex.size() < 12) {
      hex += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  char pad[17];
  std::snprintf(pad, sizeof pad, "%016zx", std::hash<std::string>{}(uuid));
  return "fake-" + (hex + pad).substr(0, 12);
}

// Signals that do not end a process (or only stop it, which the fake does not model).
bool HarmlessSignal(int sig) {
  return sig == SIGCHLD || sig == SIGCONT || sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN ||
         sig == SIGTTOU || sig == SIGWINCH || sig == SIGURG;
}

int64_t WallMicros(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

std::string Hhmm(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[8];
  std::strftime(buf, sizeof buf, "%H:%M", &tm);
  return buf;
}

std::string Sha256Hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    hex += "0123456789abcdef"[md[i] >> 4];
    hex += "0123456789abcdef"[md[i] & 15];
  }
  return hex;
}

}  // namespace


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
  thread_.join();
}

void FakeDriver::SetEvents(DriverEvents* events) {
  std::lock_guard<std::mutex> lock(mu_);
  sink_ = events;
  cv_.notify_all();
}

// ---- event thread and process timeline ----

Result<FakeDriver::Box*> FakeDriver::Find(const std::string& uuid) {
  auto it = boxes_.find(uuid);
  if (it == boxes_.end()) return Err(NoSuch(uuid));
  return &it->second;
}

double FakeDriver::RunTime(const Box& box) const {
  if (box.state == SandboxState::kPaused) return box.paused_at;
  return std::chrono::duration<double>(Steady::now() - box.origin).count();
}

void FakeDriver::Arm(const std::string& uuid, Box& box) {
  box.timer = 0;
  if (box.state != SandboxState::kRunning) return;
  double next = 0;
  if (!box.pending.empty())
    next = box.pending.front().at;
  else if (!box.forever)
    next = box.exit_after;
  else
    return;
  box.timer = ++ids_;
  auto due = box.origin + std::chrono::ceil<Steady::duration>(std::chrono::duration<double>(next));
  queue_.push(Event{due, seq_++, uuid, box.run, box.timer, 0});
  cv_.notify_all();
}

void FakeDriver::Halt(Box& box, int code) {
  CloseConsoles(box.spec.uuid, code);
  box.state = SandboxState::kStopped;
  box.exit_code = code;
  box.timer = 0;
  box.pending.clear();
  box.forever = false;
  cv_.notify_all();  // execs in progress end with the sandbox
}

void FakeDriver::Fire(const Event& e, std::vector<Delivery>& out) {
  auto it = boxes_.find(e.uuid);
  if (it == boxes_.end() || it->second.run != e.run) return;  // deleted or restarted since
  Box& b = it->second;
  if (e.timer == 0) {
    out.push_back(Delivery{e.uuid, true, Stream::kStdout, "", e.code});
    return;
  }
  if (b.timer != e.timer || b.state != SandboxState::kRunning) return;  // superseded
  const double now = RunTime(b) + 1e-9;  // the deadline was rounded up; absorb float error
  while (!b.pending.empty() && b.pending.front().at <= now) {
    out.push_back(
        Delivery{e.uuid, false, b.pending.front().stream, std::move(b.pending.front().data), 0});
    b.pending.pop_front();
  }
  if (b.pending.empty() && !b.forever && b.exit_after <= now) {
    Halt(b, b.exit_with);
    out.push_back(Delivery{e.uuid, true, Stream::kStdout, "", b.exit_with});
  } else {
    Arm(e.uuid, b);
  }
  if (!out.empty()) Persist();
}

void FakeDriver::EventLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (!sink_ || queue_.empty()) {
      cv_.wait(lock);
      continue;
    }
    const auto due = queue_.top().due;
    if (due > Steady::now()) {
      cv_.wait_until(lock, due);
      continue;
    }
    Event e = queue_.top();
    queue_.pop();
    std::vector<Delivery> out;
    Fire(e, out);
    if (out.empty()) continue;
    DriverEvents* sink = sink_;
    lock.unlock();
    for (const auto& d : out) {
      if (d.exit)
        sink->OnExit(d.uuid, d.code);
      else
        sink->OnOutput(d.uuid, d.stream, d.data, OutputMark{});
    }
    lock.lock();
  }
}

FakeEnv FakeDriver::EnvOf(const Box& box) const {
  FakeEnv env;
  env.env = box.spec.env;
  env.env.emplace("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  env.env.emplace("HOSTNAME", box.spec.hostname);
  env.env.emplace("HOME", box.spec.user.empty() || box.spec.user == "root" ? "/root" : "/");
  if (box.spec.tty) env.env.emplace("TERM", "xterm");
  env.hostname = box.spec.hostname;
  env.workdir = box.spec.workdir.empty() ? "/" : TarFs::Normalize(box.spec.workdir);
  env.user = box.spec.user;
  return env;
}

// ---- lifecycle ----

Result<SandboxInfo> FakeDriver::Create(const SandboxSpec& spec) {
  {
    std::lock_guard<std::mutex> l(spec_mu_);
    last_spec_ = spec;
  }
  if (spec.uuid.empty()) return Err(Status::Invalid("sandbox uuid is empty"));
  std::lock_guard<std::mutex> lock(mu_);
  if (boxes_.count(spec.uuid)) {
    return Err(Status::Conflict("Container " + spec.uuid + " already exists"));
  }
  Box box;
  box.spec = spec;
  box.sandbox_id = SandboxIdFor(spec.uuid);
  if (box.spec.hostname.empty()) box.spec.hostname = box.sandbox_id.substr(5);
  box.fs = TarFs(box.spec.hostname);
  if (!spec.workdir.empty()) {
    Status st = box.fs.MakeDirs(spec.workdir);  // like Docker, a missing workdir is created
    if (!st.ok())
      return Err(Status::Invalid("Cannot use workdir " + spec.workdir + ": " + st.message()));
  }
  SandboxInfo info{spec.uuid, box.sandbox_id, SandboxState::kCreated, std::nullopt,
                   box.spec.hostname};
  for (const auto& m : spec.members) {  // a pod: each member a sandbox of its own
    if (m.uuid.empty() || boxes_.count(m.uuid)) return Err(Status::Conflict("Container " + m.uuid + " already exists"));
  }
  for (const auto& m : spec.members) {
    Box member;
    member.spec = m;
    member.pod = spec.uuid;
    member.sandbox_id = SandboxIdFor(m.uuid);
    if (member.spec.hostname.empty()) member.spec.hostname = box.spec.hostname;
    member.fs = TarFs(member.spec.hostname);
    boxes_.emplace(m.uuid, std::move(member));
  }
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
    return Status::Conflict("Container " + uuid + " is already " + SandboxStateName(b.state));
  }
  FakeRun run = RunFakeProgram(b.spec.argv, b.fs, EnvOf(b));
  b.state = SandboxState::kRunning;
  b.exit_code.reset();
  b.run = ++ids_;
  b.started_at = Wall::now();
  b.pending.assign(std::make_move_iterator(run.output.begin()),
                   std::make_move_iterator(run.output.end()));
  b.forever = run.forever || run.seconds > kForeverSeconds;
  b.exit_after = run.seconds;
  b.exit_with = run.exit_code;
  b.origin = Steady::now();
  Arm(uuid, b);
  Persist();
  return Status::Ok();
}

Result<int> FakeDriver::Stop(const std::string& uuid, std::chrono::seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  auto box = Find(uuid);
  if (!box) return Err(box.error());
  Box& b = **box;
  if (Live(b.state)) {
    Halt(b, 128 + SIGTERM);  // every fake process dies at SIGTERM; no OnExit for Stop
    Persist();
  }
  return b.exit_code.value_or(0);
}

Status FakeDriver::Kill(const std::string& uuid, int signal) {
  std::lock_guard<std::mutex> lock(mu_);
  auto box = Find(uuid);
  if (!box) return box.error();
  Box& b = **box;
  if (!Live(b.state)) return Status::Conflict("Container " + uuid + " is not running");
  if (signal < 1 || signal > 64)
    return Status::Invalid("Invalid signal: " + std::to_string(signal));
  if (HarmlessSignal(signal)) return Status::Ok();
  Halt(b, 128 + signal);
  queue_.push(Event{Steady::now(), seq_++, uuid, b.run, 0, 128 + signal});
  cv_.notify_all();
  Persist();
  return Status::Ok();
}

Status FakeDriver::Pause(const std::string& uuid) {
  std::lock_guard<std::mutex> lock(mu_);
  auto box = Find(uuid);
  if (!box) return box.error();
  Box& b = **box;
  if (b.state != SandboxState::kRunning) return WrongState(uuid, b.state, "pause");
  b.paused_at = RunTime(b);
  b.state = SandboxState::kPaused;
  b.timer = 0;  // a frozen process does nothing
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
  b.origin = Steady::now() -
             std::chrono::ceil<Steady::duration>(std::chrono::duration<double>(b.paused_at));
  Arm(uuid, b);
  Persist();
  return Status::Ok();
}

Status FakeDriver::Delete(const std::string& uuid, bool force) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = boxes_.find(uuid);
  if (it == boxes_.end()) return Status::Ok();
  if (!it->second.pod.empty() && boxes_.count(it->second.pod)) {
    return Status::Conflict("Sandbox " + uuid + " is a member of pod " + it->second.pod + ": delete the pod");
  }
  for (const auto& m : it->second.spec.members) {  // a pod goes with its members
    boxes_.erase(m.uuid);
    CloseConsoles(m.uuid, std::nullopt);
  }
  it = boxes_.find(uuid);
  if (!force && Live(it->second.state)) {
    return Status::Conflict("You cannot remove a " +
                            std::string(SandboxStateName(it->second.state)) + " container " + uuid +
                            ". Stop the container before attempting "
                            "removal or force remove");
  }
  boxes_.erase(it);
  CloseConsoles(uuid, std::nullopt);
  cv_.notify_all();  // execs in progress end with the sandbox
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

// ---- inside a running sandbox ----

Result<ExecResult> FakeDriver::Exec(const std::string& uuid, const std::vector<std::string>& argv,
                                    std::chrono::seconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  auto box = Find(uuid);
  if (!box) return Err(box.error());
  Box& b = **box;
  if (b.state != SandboxState::kRunning) return Err(WrongState(uuid, b.state, "exec in"));
  if (argv.empty()) return Err(Status::Invalid("No exec command specified"));
  FakeRun run = RunFakeProgram(argv, b.fs, EnvOf(b));
  Persist();  // the command may have written files
  const int pid = b.next_pid++;
  const uint64_t run_id = b.run;
  b.execs[pid] = Join(argv, " ");

  // The exec "runs" for its simulated time, or until the timeout, or until its sandbox ends.
  const double limit = std::max<double>(0, static_cast<double>(timeout.count()));
  const bool exceeds = run.forever || run.seconds > limit;
  const auto start = Steady::now();
  const auto deadline = start + std::chrono::ceil<Steady::duration>(
                                    std::chrono::duration<double>(exceeds ? limit : run.seconds));
  auto same_sandbox = [&] {
    auto it = boxes_.find(uuid);
    return it != boxes_.end() && it->second.run == run_id ? &it->second : nullptr;
  };
  bool ended = cv_.wait_until(lock, deadline, [&] {
    Box* now = same_sandbox();
    return stopping_ || !now || now->state == SandboxState::kStopped;
  });
  if (Box* now = same_sandbox()) now->execs.erase(pid);
  if (stopping_) return Err(Status::Unavailable("the fake driver is shutting down"));
  if (ended) {  // killed with its sandbox: what it printed so far, and SIGKILL's code
    double elapsed = std::chrono::duration<double>(Steady::now() - start).count();
    std::string out;
    for (const auto& c : run.output) {
      if (c.at <= elapsed) out += c.data;
    }
    return ExecResult{out, 128 + SIGKILL};
  }
  if (exceeds) {
    return Err(Status(Code::kDeadlineExceeded, "Timeout on executing command: " + Join(argv, " "),
                      "Conflict"));
  }
  return ExecResult{run.Text(), run.exit_code};
}

Status FakeDriver::ResizeTty(const std::string& uuid, int width, int height) {
  std::lock_guard<std::mutex> lock(mu_);
  auto box = Find(uuid);
  if (!box) return box.error();
  const Box& b = **box;
  if (!b.spec.tty) return Status::Invalid("Container " + uuid + " has no tty");
  if (b.state != SandboxState::kRunning) return WrongState(uuid, b.state, "resize the tty of");
  if (width < 1 || height < 1)
    return Status::Invalid("Invalid tty size " + std::to_string(width) + "x" +
                           std::to_string(height));
  return Status::Ok();
}

Result<TopResult> FakeDriver::Top(const std::string& uuid, const std::string&) {
  std::lock_guard<std::mutex> lock(mu_);
  auto box = Find(uuid);
  if (!box) return Err(box.error());
  const Box& b = **box;
  if (b.state != SandboxState::kRunning) return Err(WrongState(uuid, b.state, "list processes of"));
  const std::string uid = b.spec.user.empty() ? "root" : b.spec.user;
  const std::string tty = b.spec.tty ? "pts/0" : "?";
  const std::string stime = Hhmm(b.started_at);
  TopResult t;
  t.titles = {"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"};
  std::string cmd = b.spec.argv.empty() ? "/bin/sh" : Join(b.spec.argv, " ");
  t.processes.push_back({uid, "1", "0", "0", stime, tty, "00:00:00", cmd});
  for (const auto& [pid, line] : b.execs) {
    t.processes.push_back({uid, std::to_string(pid), "0", "0", stime, "?", "00:00:00", line});
  }
  return t;
}

Result<SandboxStats> FakeDriver::Stats(const std::string& uuid) {
  std::lock_guard<std::mutex> lock(mu_);
  auto box = Find(uuid);
  if (!box) return Err(box.error());
  const Box& b = **box;
  if (b.state != SandboxState::kRunning) return Err(WrongState(uuid, b.state, "get stats of"));
  const double uptime = std::chrono::duration<double>(Wall::now() - b.started_at).count();
  const int64_t files = b.fs.TotalBytes();
  SandboxStats s;
  s.cpu_percent = 0.05 + 0.1 * static_cast<double>(b.execs.size());
  s.mem_usage_mib = 3.5 + static_cast<double>(files) / (1 << 20);
  s.mem_limit_mib = static_cast<double>(b.spec.memory_mib);
  s.block_read = 2 << 20;
  s.block_write = static_cast<uint64_t>(files);
  s.net_rx = 1296 + static_cast<uint64_t>(std::max(0.0, uptime)) * 64;
  s.net_tx = 656;
  return s;
}

// ---- files ----

Result<Archive> FakeDriver::GetArchive(const std::string& uuid, const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  auto box = Find(uuid);
  if (!box) return Err(box.error());
  auto a = (*box)->fs.Export(path);
  if (!a && a.error().code() == Code::kNotFound) {
    return Err(Status::NotFound("Could not find the file " + path + " in container " + uuid));
  }
  return a;
}

Status FakeDriver::PutArchive(const std::string& uuid, const std::string& path,
                              const std::string& tar) {
  std::lock_guard<std::mutex> lock(mu_);
  auto box = Find(uuid);
  if (!box) return box.error();
  Status st = (*box)->fs.Import(path, tar);
  if (st.code() == Code::kNotFound) {
    return Status::NotFound("Could not find the file " + path + " in container " + uuid);
  }
  if (st.ok()) Persist();
  return st;
}

Result<bool> FakeDriver::Update(const std::string& uuid, double cpu, int64_t memory_mib) {
  if (cpu < 0 || memory_mib < 0) return Err(Status::Invalid("cpu and memory must not be negative"));
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
  return "sha256:" + Sha256Hex(uuid + "\n" + repository + "\n" + tag);
}

Status FakeDriver::AttachNic(const std::string& uuid, const SandboxNic& nic) {
  if (nic.port_id.empty() || nic.mac.empty()) return Status::Invalid("a NIC needs a port id and a MAC");
  std::lock_guard<std::mutex> lock(mu_);
  auto box = Find(uuid);
  if (!box) return box.error();
  auto& nics = (*box)->spec.nics;
  for (const auto& n : nics) {
    if (n.port_id == nic.port_id) return Status::Conflict("port " + nic.port_id + " is already attached");
  }
  nics.push_back(nic);
  Persist();
  return Status::Ok();
}

Status FakeDriver::DetachNic(const std::string& uuid, const std::string& port_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto box = Find(uuid);
  if (!box) return box.error();
  auto& nics = (*box)->spec.nics;
  auto it = std::find_if(nics.begin(), nics.end(), [&](const SandboxNic& n) { return n.port_id == port_id; });
  if (it == nics.end()) return Status::NotFound("sandbox " + uuid + " has no port " + port_id);
  nics.erase(it);
  Persist();
  return Status::Ok();
}

Result<std::vector<std::string>> FakeDriver::NicPorts(const std::string& uuid) {
  std::lock_guard<std::mutex> lock(mu_);
  auto box = Find(uuid);
  if (!box) return Err(box.error());
  std::vector<std::string> out;
  for (const auto& n : (*box)->spec.nics) out.push_back(n.port_id);
  return out;
}

// ---- persistence ----

void FakeDriver::Persist() {
  if (state_file_.empty()) return;
  try {
    json boxes = json::array();
    for (const auto& [uuid, b] : boxes_) {
      json j = {{"spec", SpecToJson(b.spec)},
                {"sandbox_id", b.sandbox_id},
                {"pod", b.pod},
                {"state", SandboxStateName(b.state)},
                {"exit_code", b.exit_code ? json(*b.exit_code) : json(nullptr)},
                {"started_at", WallMicros(b.started_at)},
                {"fs", b.fs.ToJson()}};
      if (Live(b.state)) {
        json pending = json::array();
        for (const auto& c : b.pending) {
          pending.push_back({{"at", c.at},
                             {"stream", static_cast<int>(c.stream)},
                             {"data", Base64Encode(c.data)}});
        }
        j["process"] = {{"pending", pending},     {"exit_after", b.exit_after},
                        {"forever", b.forever},   {"exit_with", b.exit_with},
                        {"run_time", RunTime(b)}, {"saved_at", WallMicros(Wall::now())}};
      }
      boxes.push_back(std::move(j));
    }
    json doc = {{"version", kStateVersion}, {"sandboxes", std::move(boxes)}};
    const std::string tmp = state_file_ + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out << doc.dump(-1, ' ', false, json::error_handler_t::replace);
      out.close();
      if (!out) throw std::runtime_error("cannot write " + tmp);
    }
    if (std::rename(tmp.c_str(), state_file_.c_str()) != 0) {
      throw std::runtime_error("cannot rename " + tmp);
    }
  } catch (const std::exception& e) {
    Logger("driver")->warn("fake driver: state not saved: {}", e.what());
  }
}

void FakeDriver::Load() {
  if (state_file_.empty()) return;
  std::ifstream in(state_file_, std::ios::binary);
  if (!in) return;  // first run
  std::stringstream text;
  text << in.rdbuf();
  try {
    json doc = json::parse(text.str());
    if (doc.at("version").get<int>() != kStateVersion) throw std::runtime_error("unknown version");
    for (const json& j : doc.at("sandboxes")) {
      Box b;
      b.spec = SpecFromJson(j.at("spec"));
      b.sandbox_id = j.at("sandbox_id").get<std::string>();
      b.pod = j.value("pod", "");
      const std::string state = j.at("state").get<std::string>();
      bool known = false;
      for (auto s : {SandboxState::kCreated, SandboxState::kRunning, SandboxState::kPaused,
                     SandboxState::kStopped}) {
        if (state == SandboxStateName(s)) b.state = s, known = true;
      }
      if (!known) throw std::runtime_error("unknown state " + state);
      if (!j.at("exit_code").is_null()) b.exit_code = j.at("exit_code").get<int>();
      b.started_at = Wall::time_point(std::chrono::microseconds(j.at("started_at").get<int64_t>()));
      auto fs = TarFs::FromJson(j.at("fs"));
      if (!fs) throw std::runtime_error(fs.error().message());
      b.fs = std::move(*fs);
      b.run = ++ids_;
      if (Live(b.state)) {
        const json& p = j.at("process");
        for (const json& c : p.at("pending")) {
          int stream = c.at("stream").get<int>();
          auto data = Base64Decode(c.at("data").get<std::string>());
          if (!data || (stream != 1 && stream != 2)) throw std::runtime_error("bad output");
          b.pending.push_back(
              FakeChunk{c.at("at").get<double>(), static_cast<Stream>(stream), std::move(*data)});
        }
        b.exit_after = p.at("exit_after").get<double>();
        b.forever = p.at("forever").get<bool>();
        b.exit_with = p.at("exit_with").get<int>();
        double run_time = p.at("run_time").get<double>();
        if (b.state == SandboxState::kRunning) {
          // The "VM" kept running while no daemon was watching.
          auto saved = Wall::time_point(std::chrono::microseconds(p.at("saved_at").get<int64_t>()));
          run_time += std::max(0.0, std::chrono::duration<double>(Wall::now() - saved).count());
        }
        if (!std::isfinite(run_time) || run_time < 0 || run_time > kForeverSeconds) {
          throw std::runtime_error("bad run time");
        }
        b.paused_at = run_time;
        b.origin = Steady::now() -
                   std::chrono::ceil<Steady::duration>(std::chrono::duration<double>(run_time));
      }
      std::string uuid = b.spec.uuid;
      boxes_[uuid] = std::move(b);
      Arm(uuid, boxes_[uuid]);
    }
  } catch (const std::exception& e) {
    Logger("driver")->warn("fake driver: ignoring unreadable state file {}: {}", state_file_,
                           e.what());
    boxes_.clear();
    queue_ = {};
  }
}

}  // namespace zunvm
