// agent_bench: what the agent channel costs, through the real AgentClient, in one run.
//   * request round trip (`guest_details`), median of 200
//   * exec round trip: `exec true` in a container until its exit event, median and p90 of 30
//   * output throughput: `head -c 64M /dev/zero` in a container, bytes delivered per second
// each measured against a VM (libvirt, TCG here, the busybox test disk) and against the same
// agent binary on the host over a socketpair (--stdio): the ratio is the price of the VM and
// its virtio-serial channel. Prints a table and one JSON line.
// With --console it measures only what bench/console_bench.py compares the console with, in
// the VM: the request round trip and a keystroke's echo at the agent (write_stdin of one byte to
// `stty raw -echo; cat` on a tty, until its output event), medians of 200; one JSON line.
// usage: agent_bench [--console] [GUEST_DIR]   (needs libvirtd and guest/build-image.sh +
//        guest/build-test-rootfs.sh output; the host side needs /bin/busybox)
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "agent/client/agent_client.h"
#include "tests/support/agent_call.h"
#include "tests/support/agent_events.h"
#include "tests/support/test_vm.h"

using namespace zunvm;
using namespace zunvm::agent;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

struct Target {
  std::unique_ptr<AgentClient> client;
  std::shared_ptr<Events> events = std::make_shared<Events>();
  json exec_extra;  // where execs run: {"container": "box"} in the VM, plain on the host
  std::vector<std::string> argv_prefix;
};

struct Numbers {
  double call_ms = 0, exec_ms = 0, exec_p90_ms = 0, mb_per_s = 0, producer_mb_per_s = 0;
};

int counter = 0;

Numbers Measure(Target& t) {
  Numbers n;
  std::vector<double> calls, execs;
  for (int i = 0; i < 200; ++i) {
    auto t0 = Clock::now();
    if (!CallJson(*t.client, "guest_details", json::object(), std::chrono::seconds(30))) std::exit(1);
    calls.push_back(Ms(Clock::now() - t0));
  }
  auto run = [&](std::vector<std::string> argv) {
    std::string id = "b" + std::to_string(++counter);
    json body = t.exec_extra;
    body["exec_id"] = id;
    std::vector<std::string> full = t.argv_prefix;
    full.insert(full.end(), argv.begin(), argv.end());
    body["argv"] = full;
    body["env"] = {"PATH=/bin:/usr/bin"};
    auto t0 = Clock::now();
    auto r = CallJson(*t.client, "exec", body, std::chrono::seconds(30));
    if (!r || t.events->WaitExit(id, std::chrono::seconds(300)) != 0) {
      std::fprintf(stderr, "exec %s failed: %s\n", full[0].c_str(), r ? "exit" : r.error().ToString().c_str());
      std::exit(1);
    }
    return std::make_pair(Ms(Clock::now() - t0), id);
  };
  for (int i = 0; i < 30; ++i) execs.push_back(run({"true"}).first);
  // The producer alone, writing to /dev/null where it runs (the ceiling for the channel), and
  // through the channel, alternating three times each: medians.
  std::vector<double> null_rates, rates;
  for (int round = 0; round < 3; ++round) {
    auto [null_ms, null_id] = run({"sh", "-c", "head -c 67108864 /dev/zero > /dev/null"});
    null_rates.push_back(64.0 / (null_ms / 1000.0));
    auto [ms, id] = run({"head", "-c", "67108864", "/dev/zero"});
    size_t got = t.events->Out(id).size();
    if (got != 64u << 20) {
      std::fprintf(stderr, "throughput run delivered %zu bytes\n", got);
      std::exit(1);
    }
    rates.push_back(64.0 / (ms / 1000.0));
  }
  n.call_ms = Pct(calls, 0.5);
  n.exec_ms = Pct(execs, 0.5);
  n.exec_p90_ms = Pct(execs, 0.9);
  n.mb_per_s = Pct(rates, 0.5);
  n.producer_mb_per_s = Pct(null_rates, 0.5);
  return n;
}

}  // namespace

// The console's floor: request and keystroke-echo round trips at the agent.
int ConsoleFloor(Target& t) {
  std::vector<double> calls, echoes;
  for (int i = 0; i < 200; ++i) {
    auto t0 = Clock::now();
    if (!CallJson(*t.client, "guest_details", json::object(), std::chrono::seconds(30))) return 1;
    calls.push_back(Ms(Clock::now() - t0));
  }
  json body = t.exec_extra;
  body["exec_id"] = "echo";
  body["argv"] = {"sh", "-c", "stty raw -echo; echo ready; exec cat"};
  body["env"] = {"PATH=/bin:/usr/bin"};
  body["tty"] = true;
  body["stdin"] = true;
  auto started = CallJson(*t.client, "exec", body, std::chrono::seconds(30));
  if (!started || !t.events->WaitOut("echo", "ready")) {
    std::fprintf(stderr, "echo exec: %s; output %s\n", started ? "no ready" : started.error().ToString().c_str(),
                 t.events->Out("echo").c_str());
    return 1;
  }
  size_t have = t.events->Out("echo").size();
  for (int i = 0; i < 200; ++i) {
    std::string key(1, static_cast<char>('a' + i % 26));
    auto t0 = Clock::now();
    auto w = t.client->Call<op::WriteStdin>({"echo", key}, std::chrono::seconds(30));
    if (!w) {
      std::fprintf(stderr, "write_stdin: %s\n", w.error().ToString().c_str());
      return 1;
    }
    // The byte comes back as an output event: wait for the stream to grow.
    if (!t.events->WaitOutLonger("echo", have, std::chrono::seconds(10))) {
      std::fprintf(stderr, "no echo of %s\n", key.c_str());
      return 1;
    }
    have = t.events->Out("echo").size();
    echoes.push_back(Ms(Clock::now() - t0));
  }
  json j = {{"call_ms", Pct(calls, 0.5)}, {"echo_ms", Pct(echoes, 0.5)}, {"echo_p90_ms", Pct(echoes, 0.9)}};
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

int main(int argc, char** argv) {
  bool console = argc > 1 && std::string(argv[1]) == "--console";
  if (console) {
    --argc;
    ++argv;
  }
  std::string guest = testvm::GuestDir(argc > 1 ? argv[1] : "build/guest");
  // The VM.
  testvm::TestVm vm;
  testvm::TestVmOptions o;
  o.guest_dir = guest;
  if (Status st = vm.Boot(o); !st.ok()) {
    std::fprintf(stderr, "%s\n", st.ToString().c_str());
    return 1;
  }
  Target in_vm;
  auto events = in_vm.events;
  auto c = AgentClient::Connect(vm.socket_path(), std::chrono::seconds(180), [events](Message& m) { events->On(m); });
  if (!c || !CallJson(**c, "hello", {{"version", kProtocolVersion}}, std::chrono::seconds(180))) {
    std::fprintf(stderr, "VM agent did not answer\n%s\n", vm.Console().c_str());
    return 1;
  }
  in_vm.client = std::move(*c);
  auto box = CallJson(*in_vm.client, "create_container",
                                {{"id", "box"}, {"rootfs_disk", {{"serial", "rootfs"}, {"readonly", true}}},
                                 {"upper_disk", {{"serial", "upper"}}}, {"argv", {"sleep", "100000"}},
                                 {"env", {"PATH=/bin"}}},
                                std::chrono::seconds(60));
  if (!box || !CallJson(*in_vm.client, "start_container", {{"id", "box"}}, std::chrono::seconds(30))) {
    std::fprintf(stderr, "container: %s\n", box ? "start failed" : box.error().ToString().c_str());
    return 1;
  }
  in_vm.exec_extra = {{"container", "box"}};
  if (console) {
    int rc = ConsoleFloor(in_vm);
    in_vm.client.reset();
    (void)vm.Destroy();
    return rc;
  }
  Numbers vmn = Measure(in_vm);
  in_vm.client.reset();
  (void)vm.Destroy();

  // The same agent binary on the host, over a socketpair.
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return 1;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(sv[1], 0);
    ::execl(ZUNVM_AGENT_BIN, "zunvm-agent", "--stdio", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(sv[1]);
  Target host;
  auto hev = host.events;
  host.client = std::make_unique<AgentClient>(sv[0], [hev](Message& m) { hev->On(m); });
  host.argv_prefix = {"/bin/busybox"};
  Numbers hn = Measure(host);
  (void)CallJson(*host.client, "shutdown", json::object(), std::chrono::seconds(10));
  host.client.reset();
  ::waitpid(pid, nullptr, 0);

  std::printf("%-34s %12s %12s %10s\n", "", "VM (TCG)", "host", "VM/host");
  std::printf("%-34s %12.2f %12.3f %10.1f\n", "request round trip, median (ms)", vmn.call_ms, hn.call_ms, vmn.call_ms / hn.call_ms);
  std::printf("%-34s %12.2f %12.3f %10.1f\n", "exec round trip, median (ms)", vmn.exec_ms, hn.exec_ms, vmn.exec_ms / hn.exec_ms);
  std::printf("%-34s %12.2f %12.3f %10.1f\n", "exec round trip, p90 (ms)", vmn.exec_p90_ms, hn.exec_p90_ms, vmn.exec_p90_ms / hn.exec_p90_ms);
  std::printf("%-34s %12.1f %12.1f %10.2f\n", "output throughput (MB/s)", vmn.mb_per_s, hn.mb_per_s, vmn.mb_per_s / hn.mb_per_s);
  std::printf("%-34s %12.1f %12.1f %10.2f\n", "producer to /dev/null (MB/s)", vmn.producer_mb_per_s, hn.producer_mb_per_s,
              vmn.producer_mb_per_s / hn.producer_mb_per_s);
  std::printf("%-34s %12.2f %12.2f\n", "channel / producer", vmn.mb_per_s / vmn.producer_mb_per_s,
              hn.mb_per_s / hn.producer_mb_per_s);
  json j = {{"vm", {{"call_ms", vmn.call_ms}, {"exec_ms", vmn.exec_ms}, {"exec_p90_ms", vmn.exec_p90_ms}, {"mb_per_s", vmn.mb_per_s}, {"producer_mb_per_s", vmn.producer_mb_per_s}}},
            {"host", {{"call_ms", hn.call_ms}, {"exec_ms", hn.exec_ms}, {"exec_p90_ms", hn.exec_p90_ms}, {"mb_per_s", hn.mb_per_s}, {"producer_mb_per_s", hn.producer_mb_per_s}}}};
  std::printf("%s\n", j.dump().c_str());
  return 0;
}
