#include "agent/protocol/ops.h"

#include <cctype>
#include <limits>

#include "agent/protocol/fields.h"
#include "common/base64.h"

namespace zunvm::agent::op {

using nlohmann::json;

namespace {

constexpr size_t kIdMax = 64;
constexpr size_t kPathMax = 4096;

template <typename T>
Result<T> Done(const Fields& f, T value) {
  if (!f.status().ok()) return Err(f.status());
  return value;
}

Result<DiskRef> ReadDisk(const char* key, const json& j) {
  DiskRef d;
  Fields f(key, j);
  f.Str("serial", d.serial, true, 20).Str("fstype", d.fstype, false, 8).Bool("readonly", d.readonly);
  if (f.status().ok() && d.fstype != "ext4" && d.fstype != "ext2" && d.fstype != "xfs") {
    return Err(Status::Invalid(std::string(key) + ": fstype must be ext4, ext2 or xfs"));
  }
  return Done(f, d);
}

json DiskJson(const DiskRef& d) { return {{"serial", d.serial}, {"fstype", d.fstype}, {"readonly", d.readonly}}; }

}  // namespace

// ---- hello, ack ---------------------------------------------------------------------------------

json Hello::Request::ToJson() const {
  json j{{"version", version}};
  if (ack) j["ack"] = *ack;
  return j;
}
Result<Hello::Request> Hello::Request::FromJson(const json& j) {
  Request r;
  Fields f(kName, j);
  f.Int("version", r.version, 0, INT32_MAX, true).OptU64("ack", r.ack);
  return Done(f, r);
}
json Hello::Response::ToJson() const {
  return {{"version", version},     {"agent_version", agent_version}, {"boot_id", boot_id},
          {"kernel", kernel},       {"started_uptime_ms", started_uptime_ms},
          {"uptime_ms", uptime_ms}, {"capabilities", capabilities}};
}
Result<Hello::Response> Hello::Response::FromJson(const json& j) {
  Response r;
  Fields f(kName, j);
  f.Int("version", r.version, 0, INT32_MAX, true)
      .Str("agent_version", r.agent_version, false, 256)
      .Str("boot_id", r.boot_id, false, 128)
      .Str("kernel", r.kernel, false, 256)
      .Int("started_uptime_ms", r.started_uptime_ms, 0, INT64_MAX)
      .Int("uptime_ms", r.uptime_ms, 0, INT64_MAX)
      .Strings("capabilities", r.capabilities);
  return Done(f, r);
}

json Ack::Request::ToJson() const { return {{"seq", seq}}; }
Result<Ack::Request> Ack::Request::FromJson(const json& j) {
  Request r;
  Fields f(kName, j);
  f.U64("seq", r.seq, true);
  return Done(f, r);
}

// ---- containers and processes -----------------------------------------------------------------

json CreateContainer::Request::ToJson() const {
  json j{{"id", id},     {"argv", argv},     {"env", env},         {"cwd", cwd},
         {"uid", uid},   {"gid", gid},       {"hostname", hostname}, {"hosts", hosts},
         {"resolv_conf", resolv_conf},       {"rlimits", rlimits}, {"tty", tty},
         {"stdin", stdin}, {"privileged", privileged}};
  if (!rootfs.empty()) j["rootfs"] = rootfs;
  if (rootfs_disk) j["rootfs_disk"] = DiskJson(*rootfs_disk);
  if (upper_disk) j["upper_disk"] = DiskJson(*upper_disk);
  if (!volumes.empty()) {
    json& v = j["volumes"] = json::array();
    for (const auto& m : volumes) {
      json e{{"disk", DiskJson(m.disk)}, {"destination", m.destination}};
      if (m.readonly) e["readonly"] = true;
      v.push_back(e);
    }
  }
  if (!files.empty()) {
    json& v = j["files"] = json::array();
    for (const auto& f : files) v.push_back({{"destination", f.destination}, {"content", Base64Encode(f.content)}});
  }
  if (memory_bytes) j["memory_bytes"] = *memory_bytes;
  if (cpus) j["cpus"] = *cpus;
  if (oci.is_object()) j["oci"] = oci;
  return j;
}
Result<CreateContainer::Request> CreateContainer::Request::FromJson(const json& j) {
  Request r;
  Fields f(kName, j);
  bool has_root = false, has_upper = false, has_oci = false;
  size_t inject_bytes = 0;
  f.Str("id", r.id, true, kIdMax)
      .Str("rootfs", r.rootfs, false, kPathMax)
      .Object("rootfs_disk", has_root, [&](const json& d) {
        auto disk = ReadDisk("rootfs_disk", d);
        if (disk) r.rootfs_disk = *disk;
        return disk ? Status::Ok() : disk.error();
      })
      .Object("upper_disk", has_upper, [&](const json& d) {
        auto disk = ReadDisk("upper_disk", d);
        if (disk) r.upper_disk = *disk;
        return disk ? Status::Ok() : disk.error();
      })
      .List("volumes", kMaxVolumes, [&](const json& v) {
        VolumeMount m;
        bool has_disk = false;
        Fields vf("volumes", v);
        vf.Object("disk", has_disk, [&](const json& d) {
            auto disk = ReadDisk("disk", d);
            if (disk) m.disk = *disk;
            return disk ? Status::Ok() : disk.error();
          })
            .Str("destination", m.destination, true, kPathMax)
            .Bool("readonly", m.readonly);
        if (vf.status().ok() && !has_disk) return Status::Invalid("volumes: disk is required");
        r.volumes.push_back(m);
        return vf.status();
      })
      .List("files", kMaxVolumes, [&](const json& v) {
        InjectedFile file;
        std::string b64;
        Fields ff("files", v);
        ff.Str("destination", file.destination, true, kPathMax).Str("content", b64, false, kMaxInjectBytes * 4 / 3 + 4);
        if (!ff.status().ok()) return ff.status();
        auto raw = Base64Decode(b64);
        if (!raw) return Status::Invalid("files: content is not base64");
        file.content = std::move(*raw);
        inject_bytes += file.content.size();
        if (inject_bytes > kMaxInjectBytes) return Status::Invalid("files: more than 1 MiB in all");
        r.files.push_back(std::move(file));
        return Status::Ok();
      })
      .Strings("argv", r.argv, true)
      .Strings("env", r.env)
      .Str("cwd", r.cwd, false, kPathMax)
      .Int("uid", r.uid, 0, UINT32_MAX - 1)
      .Int("gid", r.gid, 0, UINT32_MAX - 1)
      .Str("hostname", r.hostname, false, 255)
      .Str("hosts", r.hosts)
      .Str("resolv_conf", r.resolv_conf)
      .Counts("rlimits", r.rlimits)
      .OptInt("memory_bytes", r.memory_bytes, int64_t{4} << 20, INT64_MAX)
      .OptDouble("cpus", r.cpus, 0.001, 1024)
      .Bool("tty", r.tty)
      .Bool("stdin", r.stdin)
      .Bool("privileged", r.privileged)
      .Object("oci", has_oci, [&](const json& o) {  // read by the agent (agent/guest/oci_config.h)
        r.oci = o;
        return Status::Ok();
      });
  if (f.status().ok() && r.rootfs.empty() && !r.rootfs_disk) {
    return Err(Status::Invalid("create_container: rootfs or rootfs_disk is required"));
  }
  if (f.status().ok() && r.upper_disk && !r.rootfs_disk) {
    return Err(Status::Invalid("create_container: upper_disk needs rootfs_disk"));
  }
  return Done(f, r);
}
json CreateContainer::Response::ToJson() const { return {{"pid", pid}}; }
Result<CreateContainer::Response> CreateContainer::Response::FromJson(const json& j) {
  Response r;
  Fields f("pid", j);
  f.Int("pid", r.pid, 1, INT32_MAX, true);
  return Done(f, r);
}

json StartContainer::Request::ToJson() const { return {{"id", id}}; }
Result<StartContainer::Request> StartContainer::Request::FromJson(const json& j) {
  Request r;
  Fields f(kName, j);
  f.Str("id", r.id, true, kIdMax);
  return Done(f, r);
}

json Exec::Request::ToJson() const {
  json j{{"exec_id", exec_id}, {"argv", argv}, {"env", env}, {"cwd", cwd}, {"tty", tty}, {"stdin", stdin}};
  if (!container.empty()) j["container"] = container;
  return j;
}
Result<Exec::Request> Exec::Request::FromJson(const json& j) {
  Request r;
  Fields f(kName, j);
  f.Str("exec_id", r.exec_id, true, kIdMax)
      .Strings("argv", r.argv, true)
      .Strings("env", r.env)
      .Str("cwd", r.cwd, false, kPathMax)
      .Bool("tty", r.tty)
      .Bool("stdin", r.stdin)
      .Str("container", r.container, false, kIdMax);
  if (f.status().ok() && r.argv.empty()) return Err(Status::Invalid("exec: argv is empty"));
  return Done(f, r);
}

json ExitStatus::ToJson() const {
  json j{{"exec_id", exec_id}, {"exit_code", exit_code}};
  if (signal) j["signal"] = signal;
  return j;
}
Result<ExitStatus> ExitStatus::FromJson(const json& j) {
  ExitStatus r;
  Fields f("exit", j);
  f.Str("exec_id", r.exec_id, true, kIdMax).Int("exit_code", r.exit_code, 0, 255, true).Int("signal", r.signal, 0, 64);
  return Done(f, r);
}

json Wait::Request::ToJson() const { return {{"exec_id", exec_id}}; }
Result<Wait::Request> Wait::Request::FromJson(const json& j) {
  Request r;
  Fields f("exec_id", j);
  f.Str("exec_id", r.exec_id, true, kIdMax);
  return Done(f, r);
}

json Signal::Request::ToJson() const { return {{"exec_id", exec_id}, {"signal", signal}}; }
Result<Signal::Request> Signal::Request::FromJson(const json& j) {
  Request r;
  Fields f(kName, j);
  f.Str("exec_id", r.exec_id, true, kIdMax).Int("signal", r.signal, 1, 64, true);
  return Done(f, r);
}

json WriteStdin::Request::ToJson() const { return {{"exec_id", exec_id}}; }
Result<WriteStdin::Request> WriteStdin::Request::FromJson(const json& j) {
  Request r;
  Fields f(kName, j);
  f.Str("exec_id", r.exec_id, true, kIdMax);
  return Done(f, r);
}

json ResizeTty::Request::ToJson() const { return {{"exec_id", exec_id}, {"width", width}, {"height", height}}; }
Result<ResizeTty::Request> ResizeTty::Request::FromJson(const json& j) {
  Request r;
  Fields f(kName, j);
  f.Str("exec_id", r.exec_id, true, kIdMax).Int("width", r.width, 1, 10000, true).Int("height", r.height, 1, 10000, true);
  return Done(f, r);
}

json Processes::Response::ToJson() const {
  return {{"titles", titles}, {"processes", processes}, {"execs", execs}};
}
Result<Processes::Response> Processes::Response::FromJson(const json& j) {
  Response r;
  Fields f(kName, j);
  f.Strings("titles", r.titles);
  auto rows = j.find("processes");
  if (rows != j.end() && (!rows->is_array() || rows->size() > 65536)) {
    return Err(Status::Invalid("processes: processes must be a list of rows"));
  }
  if (rows != j.end()) {
    for (const auto& row : *rows) {
      std::vector<std::string> cells;
      const json wrapped{{"row", row}};
      Fields cf(kName, wrapped);
      cf.Strings("row", cells, true);
      if (!cf.status().ok()) return Err(cf.status());
      r.processes.push_back(std::move(cells));
    }
  }
  auto execs = j.find("execs");
  if (execs != j.end()) {
    if (!execs->is_object() || execs->size() > 65536) return Err(Status::Invalid("processes: execs must be an object"));
    for (auto it = execs->begin(); it != execs->end(); ++it) {
      if (!it.value().is_number_integer()) return Err(Status::Invalid("processes: execs must map ids to pids"));
      r.execs[it.key()] = it.value().get<int64_t>();
    }
  }
  return Done(f, r);
}

json Stats::Response::ToJson() const {
  return {{"cpu_usage_usec", cpu_usage_usec},     {"mem_total_bytes", mem_total_bytes},
          {"mem_used_bytes", mem_used_bytes},     {"block_read_bytes", block_read_bytes},
          {"block_write_bytes", block_write_bytes}, {"net_rx_bytes", net_rx_bytes},
          {"net_tx_bytes", net_tx_bytes}};
}
Result<Stats::Response> Stats::Response::FromJson(const json& j) {
  Response r;
  Fields f(kName, j);
  f.U64("cpu_usage_usec", r.cpu_usage_usec)
      .U64("mem_total_bytes", r.mem_total_bytes)
      .U64("mem_used_bytes", r.mem_used_bytes)
      .U64("block_read_bytes", r.block_read_bytes)
      .U64("block_write_bytes", r.block_write_bytes)
      .U64("net_rx_bytes", r.net_rx_bytes)
      .U64("net_tx_bytes", r.net_tx_bytes);
  return Done(f, r);
}

json Update::Request::ToJson() const {
  json j{{"id", id}};
  if (memory_bytes) j["memory_bytes"] = *memory_bytes;
  if (cpus) j["cpus"] = *cpus;
  return j;
}
Result<Update::Request> Update::Request::FromJson(const json& j) {
  Request r;
  Fields f(kName, j);
  f.Str("id", r.id, true, kIdMax)
      .OptInt("memory_bytes", r.memory_bytes, int64_t{4} << 20, INT64_MAX)
      .OptDouble("cpus", r.cpus, 0.001, 1024);
  return Done(f, r);
}

json Freeze::Request::ToJson() const { return {{"id", id}, {"frozen", frozen}}; }
Result<Freeze::Request> Freeze::Request::FromJson(const json& j) {
  Request r;
  Fields f(kName, j);
  f.Str("id", r.id, true, kIdMax);
  if (f.status().ok() && (!j.contains("frozen") || !j["frozen"].is_boolean())) {
    return Err(Status::Invalid("freeze: frozen must be a boolean"));
  }
  f.Bool("frozen", r.frozen);
  return Done(f, r);
}

json Identity::Request::ToJson() const {
  return {{"entropy", entropy_hex}, {"realtime_ns", realtime_ns}, {"boot_id", boot_id}};
}
Result<Identity::Request> Identity::Request::FromJson(const json& j) {
  Request r;
  Fields f(kName, j);
  f.Str("entropy", r.entropy_hex, true, 1024)
      .Int("realtime_ns", r.realtime_ns, 1, std::numeric_limits<int64_t>::max(), true)
      .Str("boot_id", r.boot_id, true, 64);
  if (f.status().ok()) {
    bool hex = r.entropy_hex.size() >= 64 && r.entropy_hex.size() % 2 == 0;
    for (char c : r.entropy_hex) hex = hex && std::isxdigit(static_cast<unsigned char>(c));
    if (!hex) return Err(Status::Invalid("identity: entropy must be 32..512 bytes in hex"));
    if (r.boot_id.empty()) return Err(Status::Invalid("identity: boot_id must not be empty"));
  }
  return Done(f, r);
}

// ---- files --------------------------------------------------------------------------------------

json BlobPut::Request::ToJson() const { return {{"blob", blob}, {"offset", offset}}; }
Result<BlobPut::Request> BlobPut::Request::FromJson(const json& j) {
  Request r;
  Fields f(kName, j);
  f.Str("blob", r.blob, true, kIdMax).U64("offset", r.offset, true);
  return Done(f, r);
}
json BlobPut::Response::ToJson() const { return {{"size", size}}; }
Result<BlobPut::Response> BlobPut::Response::FromJson(const json& j) {
  Response r;
  Fields f(kName, j);
  f.U64("size", r.size, true);
  return Done(f, r);
}

json BlobGet::Request::ToJson() const { return {{"blob", blob}, {"offset", offset}, {"length", length}}; }
Result<BlobGet::Request> BlobGet::Request::FromJson(const json& j) {
  Request r;
  Fields f(kName, j);
  f.Str("blob", r.blob, true, kIdMax).U64("offset", r.offset).U64("length", r.length);
  return Done(f, r);
}
json BlobGet::Response::ToJson() const { return {{"size", size}, {"eof", eof}}; }
Result<BlobGet::Response> BlobGet::Response::FromJson(const json& j) {
  Response r;
  Fields f(kName, j);
  f.U64("size", r.size, true).Bool("eof", r.eof);
  return Done(f, r);
}

json BlobDrop::Request::ToJson() const { return {{"blob", blob}}; }
Result<BlobDrop::Request> BlobDrop::Request::FromJson(const json& j) {
  Request r;
  Fields f(kName, j);
  f.Str("blob", r.blob, true, kIdMax);
  return Done(f, r);
}

json CopyOut::Request::ToJson() const { return {{"container", container}, {"path", path}, {"blob", blob}}; }
Result<CopyOut::Request> CopyOut::Request::FromJson(const json& j) {
  Request r;
  Fields f("copy", j);
  f.Str("container", r.container, true, kIdMax).Str("path", r.path, true, kPathMax).Str("blob", r.blob, true, kIdMax);
  return Done(f, r);
}
json CopyOut::Response::ToJson() const {
  return {{"size", size},
          {"stat",
           {{"name", stat.name}, {"size", stat.size}, {"mode", stat.mode}, {"mtime", stat.mtime},
            {"link_target", stat.link_target}}}};
}
Result<CopyOut::Response> CopyOut::Response::FromJson(const json& j) {
  Response r;
  Fields f(kName, j);
  bool has_stat = false;
  f.U64("size", r.size, true).Object("stat", has_stat, [&](const json& s) {
    int64_t mode = 0;
    Fields sf("stat", s);
    sf.Str("name", r.stat.name, false, kPathMax)
        .Int("size", r.stat.size, 0, INT64_MAX)
        .Int("mode", mode, 0, UINT32_MAX)
        .Int("mtime", r.stat.mtime, INT64_MIN, INT64_MAX)
        .Str("link_target", r.stat.link_target, false, kPathMax);
    r.stat.mode = static_cast<uint32_t>(mode);
    return sf.status();
  });
  return Done(f, r);
}

// ---- the guest ---------------------------------------------------------------------------------

json ConfigureNetwork::Request::ToJson() const {
  json list = json::array();
  for (const auto& n : nics) {
    json nic{{"mac", n.mac}, {"cidr", n.cidr}};
    if (n.mtu) nic["mtu"] = n.mtu;
    list.push_back(nic);
  }
  json j{{"nics", list}};
  if (!gateway.empty()) j["gateway"] = gateway;
  return j;
}
Result<ConfigureNetwork::Request> ConfigureNetwork::Request::FromJson(const json& j) {
  Request r;
  Fields f(kName, j);
  if (!j.contains("nics")) return Err(Status::Invalid("configure_network: nics is required"));
  f.List("nics", 16, [&](const json& n) {
    Nic nic;
    Fields nf("nics", n);
    nf.Str("mac", nic.mac, true, 17).Str("cidr", nic.cidr, true, 18).Int("mtu", nic.mtu, 68, 65535);
    if (nf.status().ok()) r.nics.push_back(nic);
    return nf.status();
  }).Str("gateway", r.gateway, false, 15);
  return Done(f, r);
}
json ConfigureNetwork::Response::ToJson() const { return {{"interfaces", interfaces}}; }
Result<ConfigureNetwork::Response> ConfigureNetwork::Response::FromJson(const json& j) {
  Response r;
  Fields f(kName, j);
  f.Strings("interfaces", r.interfaces);
  return Done(f, r);
}

json GuestDetails::Response::ToJson() const { return {{"kernel", kernel}, {"agent_version", agent_version}}; }
Result<GuestDetails::Response> GuestDetails::Response::FromJson(const json& j) {
  Response r;
  Fields f(kName, j);
  f.Str("kernel", r.kernel, false, 256).Str("agent_version", r.agent_version, false, 256);
  return Done(f, r);
}

// ---- events -------------------------------------------------------------------------------------

json OutputEvent::ToJson() const {
  return {{"exec_id", exec_id}, {"stream", stream == 2 ? "stderr" : "stdout"}, {"boot", boot}, {"seq", seq}};
}
Result<OutputEvent> OutputEvent::FromJson(const json& j) {
  OutputEvent e;
  std::string stream;
  Fields f(kName, j);
  f.Str("exec_id", e.exec_id, true, kIdMax).Str("stream", stream, true, 8).Str("boot", e.boot, false, 128).U64("seq", e.seq);
  if (f.status().ok() && stream != "stdout" && stream != "stderr") {
    return Err(Status::Invalid("output: stream must be stdout or stderr"));
  }
  e.stream = stream == "stderr" ? 2 : 1;
  return Done(f, e);
}

json ExitEvent::ToJson() const {
  json j = status.ToJson();
  j["seq"] = seq;
  return j;
}
Result<ExitEvent> ExitEvent::FromJson(const json& j) {
  auto st = ExitStatus::FromJson(j);
  if (!st) return Err(st.error());
  ExitEvent e{*st, 0};
  Fields f(kName, j);
  f.U64("seq", e.seq);
  return Done(f, e);
}

json OomEvent::ToJson() const { return {{"container", container}, {"oom_kills", oom_kills}, {"seq", seq}}; }
Result<OomEvent> OomEvent::FromJson(const json& j) {
  OomEvent e;
  Fields f(kName, j);
  f.Str("container", e.container, true, kIdMax).U64("oom_kills", e.oom_kills).U64("seq", e.seq);
  return Done(f, e);
}

}  // namespace zunvm::agent::op
