// /v1/containers/{id}/<action>: lifecycle actions (202), logs, execute, top, stats, archives,
// commit, rename, resize, network and security-group actions, and the action history.
#include <csignal>

#include "common/base64.h"
#include "common/shlex.h"
#include "common/strings.h"
#include "rest/api.h"
#include "rest/create_schema.h"
#include "rest/pagination.h"
#include "rest/views.h"
#include "service/console_service.h"

namespace zunvm {

using nlohmann::json;

namespace {

const std::string& Id(ApiRequest& req) { return req.path.at("id"); }

Result<int> ParseTimeout(const std::optional<std::string>& v, int def) {
  if (!v || *v == "None") return def;
  auto n = ParseInt(*v);
  if (!n || *n < 0 || *n > 86400) {
    return Err(Status::Invalid("Invalid timeout value " + *v + ": must be a non-negative integer.",
                               "InvalidValue"));
  }
  return static_cast<int>(*n);
}

// Names or numbers, any case, with or without SIG: SIGTERM, TERM, sigterm, 15. None: SIGKILL.
Result<int> ParseSignal(const std::optional<std::string>& v) {
  if (!v || *v == "None" || v->empty()) return SIGKILL;
  if (auto n = ParseInt(*v)) {
    if (*n >= 1 && *n <= 64) return static_cast<int>(*n);
  }
  static const std::map<std::string, int> names = {
      {"HUP", SIGHUP},   {"INT", SIGINT},     {"QUIT", SIGQUIT}, {"ILL", SIGILL},
      {"TRAP", SIGTRAP}, {"ABRT", SIGABRT},   {"BUS", SIGBUS},   {"FPE", SIGFPE},
      {"KILL", SIGKILL}, {"USR1", SIGUSR1},   {"SEGV", SIGSEGV}, {"USR2", SIGUSR2},
      {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},   {"TERM", SIGTERM}, {"CHLD", SIGCHLD},
      {"CONT", SIGCONT}, {"STOP", SIGSTOP},   {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN},
      {"TTOU", SIGTTOU}, {"URG", SIGURG},     {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},
      {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO},
      {"PWR", SIGPWR},   {"SYS", SIGSYS}};
  std::string s = *v;
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (StartsWith(s, "SIG")) s = s.substr(3);
  auto it = names.find(s);
  if (it == names.end()) {
    return Err(Status::Invalid("Bad signal: " + *v + ".", "InvalidValue"));
  }
  return it->second;
}

Result<int> PositiveInt(const std::optional<std::string>& v, const std::string& name) {
  if (!v) return Err(Status::Invalid("Missing required parameter " + name + ".", "InvalidValue"));
  auto n = ParseInt(*v);
  if (!n || *n <= 0 || *n > 65535) {
    return Err(Status::Invalid("Invalid " + name + " value " + *v + ": must be a positive integer.",
                               "InvalidValue"));
  }
  return static_cast<int>(*n);
}

Result<ApiResponse> Accepted(const Status& st) {
  if (!st.ok()) return Err(st);
  return ApiResponse::Empty(202);
}

// <1.25 archives travel as "bytes as a string": one code point per byte.
std::string BytesToLatin1Utf8(const std::string& raw) {
  std::string out;
  for (unsigned char c : raw) {
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

std::optional<std::string> Latin1Utf8ToBytes(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if ((c & 0xFE) == 0xC2 && i + 1 < s.size()) {
      out.push_back(static_cast<char>(((c & 0x03) << 6) | (static_cast<unsigned char>(s[++i]) & 0x3F)));
    } else {
      return std::nullopt;
    }
  }
  return out;
}

Result<ApiResponse> Logs(const ApiDeps& d, ApiRequest& req) {
  LogQuery q;
  auto out = ParseBoolParam(req.Param("stdout"), "stdout", true);
  if (!out) return Err(out.error());
  auto err = ParseBoolParam(req.Param("stderr"), "stderr", true);
  if (!err) return Err(err.error());
  auto ts = ParseBoolParam(req.Param("timestamps"), "timestamps", false);
  if (!ts) return Err(ts.error());
  q.stdout_ = *out;
  q.stderr_ = *err;
  if (!q.stdout_ && !q.stderr_) q.stdout_ = q.stderr_ = true;
  q.timestamps = *ts;
  if (auto tail = req.Param("tail")) {
    if (auto n = ParseInt(*tail); n && *n >= 0) q.tail = *n;  // anything else: all
  }
  if (auto since = req.Param("since"); since && *since != "None" && !since->empty()) {
    auto t = ParseSince(*since);
    if (!t) {
      return Err(Status::Invalid("Invalid since value " + *since +
                                 ": expected epoch seconds or YYYY-MM-DD HH:MM:SS,fff.",
                                 "InvalidValue"));
    }
    q.since = *t;
  }
  auto text = d.containers->Logs(req.ctx, Id(req), q);
  if (!text) return Err(text.error());
  return ApiResponse::Json(200, json(*text));
}

// Where a console grant is redeemed: the console listener's websocket for it.
std::string ConsoleUrl(const ApiDeps& d, const ConsoleGrant& g) {
  std::string base = d.console_url ? *d.console_url : "";
  std::string path = "/v1/console/containers/" + g.uuid + (g.exec_id.empty() ? "/attach" : "/exec/" + g.exec_id);
  return base + path + "?ticket=" + g.ticket;
}

Result<ApiResponse> Execute(const ApiDeps& d, ApiRequest& req) {
  auto cmd = req.Param("command");
  if (!cmd || cmd->empty()) {
    return Err(Status::Invalid("Missing required parameter command.", "InvalidValue"));
  }
  bool run = true, interactive = false;
  if (auto r = req.Param("run")) {
    auto b = ParseBoolStrict(*r);
    if (!b) return Err(Status::Invalid("Invalid value for run: " + *r + ".", "InvalidValue"));
    run = *b;
  }
  if (auto i = req.Param("interactive")) {
    auto b = ParseBoolStrict(*i);
    if (!b) return Err(Status::Invalid("Invalid value for interactive: " + *i + ".", "InvalidValue"));
    interactive = *b;
  }
  auto argv = ShellSplit(*cmd);
  if (!argv) return Err(argv.error());
  if (argv->empty()) return Err(Status::Invalid("The command is empty.", "InvalidValue"));
  if (!run || interactive) {
    // Zun: an exec instance for a console (with a tty when interactive), started by the
    // websocket at proxy_url or by Docker's exec start on the console listener.
    if (!d.consoles) {
      auto c = d.containers->Lookup(req.ctx, Id(req));
      if (!c) return Err(c.error());
      return Err(Status::NotImplemented("This zunvmd serves no consoles ([console] enabled = false)."));
    }
    auto g = d.consoles->CreateExec(req.ctx, Id(req), *argv);
    if (!g) return Err(g.error());
    return ApiResponse::Json(200, {{"output", nullptr},
                                   {"exit_code", nullptr},
                                   {"exec_id", g->exec_id},
                                   {"proxy_url", ConsoleUrl(d, *g)}});
  }
  auto r = d.containers->Execute(req.ctx, Id(req), *argv, *cmd);
  if (!r) return Err(r.error());
  return ApiResponse::Json(200, {{"output", r->output},
                                 {"exit_code", r->exit_code},
                                 {"exec_id", nullptr},
                                 {"proxy_url", nullptr}});
}

Result<ApiResponse> ExecuteResize(const ApiDeps& d, ApiRequest& req) {
  auto exec_id = req.Param("exec_id");
  if (!exec_id || exec_id->empty()) return Err(Status::Invalid("Missing required parameter exec_id."));
  auto w = PositiveInt(req.Param("w"), "w");
  if (!w) return Err(w.error());
  auto h = PositiveInt(req.Param("h"), "h");
  if (!h) return Err(h.error());
  if (!d.consoles) {
    auto c = d.containers->Lookup(req.ctx, Id(req));
    if (!c) return Err(c.error());
    return Err(Status::Invalid("No exec instance " + *exec_id + ": this zunvmd serves no consoles."));
  }
  Status st = d.consoles->ResizeExec(req.ctx, Id(req), *exec_id, *w, *h);
  if (!st.ok()) return Err(st);
  return ApiResponse::Json(200, nullptr);
}

Result<ApiResponse> Attach(const ApiDeps& d, ApiRequest& req) {
  if (!d.consoles) {
    auto c = d.containers->Lookup(req.ctx, Id(req));
    if (!c) return Err(c.error());
    return Err(Status::NotImplemented("This zunvmd serves no consoles ([console] enabled = false)."));
  }
  auto g = d.consoles->AttachTicket(req.ctx, Id(req));
  if (!g) return Err(g.error());
  return ApiResponse::Json(200, json(ConsoleUrl(d, *g)));
}

Result<ApiResponse> Resize(const ApiDeps& d, ApiRequest& req) {
  auto w = PositiveInt(req.Param("w"), "w");
  if (!w) return Err(w.error());
  auto h = PositiveInt(req.Param("h"), "h");
  if (!h) return Err(h.error());
  Status st = d.containers->Resize(req.ctx, Id(req), *w, *h);
  if (!st.ok()) return Err(st);
  return ApiResponse::Json(200, nullptr);
}

Result<ApiResponse> Top(const ApiDeps& d, ApiRequest& req) {
  std::string args = req.Param("ps_args").value_or("");
  if (args == "None") args.clear();
  auto t = d.containers->Top(req.ctx, Id(req), args);
  if (!t) return Err(t.error());
  return ApiResponse::Json(200, {{"Titles", t->titles}, {"Processes", t->processes}});
}

Result<ApiResponse> Stats(const ApiDeps& d, ApiRequest& req) {
  auto s = d.containers->Stats(req.ctx, Id(req));
  if (!s) return Err(s.error());
  const auto& [c, st] = *s;
  double mem_pct = st.mem_limit_mib > 0 ? st.mem_usage_mib / st.mem_limit_mib * 100.0 : 0.0;
  return ApiResponse::Json(
      200, {{"CONTAINER", c.name},
            {"CPU %", st.cpu_percent},
            {"MEM USAGE(MiB)", st.mem_usage_mib},
            {"MEM LIMIT(MiB)", st.mem_limit_mib},
            {"MEM %", mem_pct},
            {"BLOCK I/O(B)", std::to_string(st.block_read) + "/" + std::to_string(st.block_write)},
            {"NET I/O(B)", std::to_string(st.net_rx) + "/" + std::to_string(st.net_tx)}});
}

Result<std::string> RequiredPath(ApiRequest& req) {
  auto p = req.Param("path");
  if (!p || p->empty()) return Err(Status::Invalid("Missing required parameter path.", "InvalidValue"));
  if (p->front() != '/') return Err(Status::Invalid("The path must be absolute.", "InvalidValue"));
  return *p;
}

Result<ApiResponse> GetArchive(const ApiDeps& d, ApiRequest& req) {
  auto path = RequiredPath(req);
  if (!path) return Err(path.error());
  auto a = d.containers->GetArchive(req.ctx, Id(req), *path);
  if (!a) return Err(a.error());
  json stat = {{"name", a->stat.name},
               {"size", a->stat.size},
               {"mode", a->stat.mode},
               {"mtime", a->stat.mtime},
               {"linkTarget", a->stat.link_target}};
  std::string data = req.version.AtLeast(25) ? Base64Encode(a->tar) : BytesToLatin1Utf8(a->tar);
  return ApiResponse::Json(200, {{"data", data}, {"stat", stat}});
}

Result<ApiResponse> PutArchive(const ApiDeps& d, ApiRequest& req) {
  auto path = RequiredPath(req);
  if (!path) return Err(path.error());
  if (!req.body.is_object() || !req.body.contains("data") || !req.body["data"].is_string()) {
    return Err(Status::Invalid("The body must be a JSON object with a string 'data'.",
                               "InvalidValue"));
  }
  std::string text = req.body["data"].get<std::string>();
  std::optional<std::string> tar =
      req.version.AtLeast(25) ? Base64Decode(text) : Latin1Utf8ToBytes(text);
  if (!tar) return Err(Status::Invalid("'data' is not valid base64.", "InvalidValue"));
  Status st = d.containers->PutArchive(req.ctx, Id(req), *path, *tar);
  if (!st.ok()) return Err(st);
  return ApiResponse::Json(200, nullptr);
}

Result<ApiResponse> Commit(const ApiDeps& d, ApiRequest& req) {
  auto repo = req.Param("repository");
  if (!repo || repo->empty()) {
    return Err(Status::Invalid("Missing required parameter repository.", "InvalidValue"));
  }
  std::string tag = req.Param("tag").value_or("latest");
  if (tag == "None" || tag.empty()) tag = "latest";
  auto id = d.containers->Commit(req.ctx, Id(req), *repo, tag);
  if (!id) return Err(id.error());
  return ApiResponse::Json(202, {{"uuid", *id}});
}

Result<ApiResponse> Rename(const ApiDeps& d, ApiRequest& req) {
  auto name = req.Param("name");
  if (!name) return Err(Status::Invalid("Missing required parameter name.", "InvalidValue"));
  ZUNVM_RETURN_IF_ERROR(ValidateContainerName(*name));
  auto c = d.containers->Rename(req.ctx, Id(req), *name);
  if (!c) return Err(c.error());
  return ApiResponse::Json(200, ContainerView(*c, req.base_url, d.containers->Now(), req.ctx.is_admin));
}

Result<ApiResponse> ResizeContainer(const ApiDeps& d, ApiRequest& req) {
  auto patch = ParseResizeParams(req.Param("cpu"), req.Param("memory"), *d.cfg);
  if (!patch) return Err(patch.error());
  auto c = d.containers->ResizeContainer(req.ctx, Id(req), *patch);
  if (!c) return Err(c.error());
  return ApiResponse::Json(202, ContainerView(*c, req.base_url, d.containers->Now(), req.ctx.is_admin));
}

Result<ApiResponse> NetworkList(const ApiDeps& d, ApiRequest& req) {
  auto c = d.containers->Lookup(req.ctx, Id(req));
  if (!c) return Err(c.error());
  json nets = json::array();
  json flat = json::array();
  for (auto it = c->addresses.begin(); it != c->addresses.end(); ++it) {
    json fixed = json::array();
    std::string port;
    for (const auto& a : it.value()) {
      port = a.value("port", "");
      fixed.push_back({{"ip_address", a.value("addr", "")},
                       {"version", a.value("version", 4)},
                       {"subnet_id", a.value("subnet_id", "")}});
      flat.push_back({{"net_id", it.key()}, {"subnet_id", a.value("subnet_id", "")},
                      {"port_id", port}, {"version", a.value("version", 4)},
                      {"ip_address", a.value("addr", "")}});
    }
    nets.push_back({{"net_id", it.key()}, {"port_id", port}, {"fixed_ips", fixed}});
  }
  if (req.version.AtLeast(18)) return ApiResponse::Json(200, {{"networks", nets}});
  return ApiResponse::Json(200, flat);
}

// network_attach?network=N[&fixed_ip=IP]: 200 (as the real zun-api answers). The zunvm
// extension {"net": <a Neutron port as in a create's nets>} plugs a port the Zun driver made.
Result<ApiResponse> NetworkAttach(const ApiDeps& d, ApiRequest& req) {
  json net;
  if (req.body.is_object() && req.body.contains("net")) {
    net = req.body["net"];
    if (!net.is_object()) return Err(Status::Invalid("net must be an object.", "InvalidValue"));
  } else {
    auto network = req.Param("network");
    auto port = req.Param("port");
    if (network && port) return Err(Status::Invalid("Specify either network or port, not both.", "InvalidValue"));
    if (port) return Err(Status::Invalid("A Neutron port is attached with its details in the body's net.", "InvalidValue"));
    if (!network || network->empty()) return Err(Status::Invalid("Missing required parameter network.", "InvalidValue"));
    net = {{"network", *network}};
    auto fixed = req.Param("fixed_ip");
    if (fixed && !fixed->empty()) net["v4-fixed-ip"] = *fixed;
  }
  auto c = d.containers->NetworkAttach(req.ctx, Id(req), net);
  if (!c) return Err(c.error());
  return ApiResponse::Empty(200);
}

// network_detach?network=N | port=P: 202.
Result<ApiResponse> NetworkDetach(const ApiDeps& d, ApiRequest& req) {
  auto network = req.Param("network");
  auto port = req.Param("port");
  if (network && port) return Err(Status::Invalid("Specify either network or port, not both.", "InvalidValue"));
  auto which = network ? network : port;
  if (!which || which->empty()) return Err(Status::Invalid("Missing required parameter network or port.", "InvalidValue"));
  auto c = d.containers->NetworkDetach(req.ctx, Id(req), *which);
  if (!c) return Err(c.error());
  return ApiResponse::Empty(202);
}

Result<ApiResponse> NeedsNeutron(const ApiDeps& d, ApiRequest& req, const std::string& what) {
  auto c = d.containers->Lookup(req.ctx, Id(req));
  if (!c) return Err(c.error());
  return Err(Status::NotImplemented(what + " needs Neutron, which this zunvmd does not use."));
}

Result<ApiResponse> ActionsList(const ApiDeps& d, ApiRequest& req) {
  auto list = d.containers->Actions(req.ctx, Id(req));
  if (!list) return Err(list.error());
  json items = json::array();
  for (const auto& a : *list) items.push_back(ActionView(a, false, req.version.AtLeast(33)));
  return ApiResponse::Json(200, {{"containerActions", items}});
}

Result<ApiResponse> ActionShow(const ApiDeps& d, ApiRequest& req) {
  auto a = d.containers->Action(req.ctx, Id(req), req.path.at("request_id"));
  if (!a) return Err(a.error());
  return ApiResponse::Json(200, ActionView(*a, true, req.version.AtLeast(33)));
}

}  // namespace

void AddContainerActionRoutes(Router& r, const ApiDeps& d) {
  const std::string base = "/v1/containers/{id}/";
  auto& svc = *d.containers;
  r.Add("POST", base + "start", [&svc](ApiRequest& q) { return Accepted(svc.Start(q.ctx, Id(q))); });
  r.Add("POST", base + "stop", [&svc](ApiRequest& q) -> Result<ApiResponse> {
    auto t = ParseTimeout(q.Param("timeout"), 10);
    if (!t) return Err(t.error());
    return Accepted(svc.Stop(q.ctx, Id(q), *t));
  });
  r.Add("POST", base + "reboot", [&svc](ApiRequest& q) -> Result<ApiResponse> {
    auto t = ParseTimeout(q.Param("timeout"), 10);
    if (!t) return Err(t.error());
    return Accepted(svc.Reboot(q.ctx, Id(q), *t));
  });
  r.Add("POST", base + "pause", [&svc](ApiRequest& q) { return Accepted(svc.Pause(q.ctx, Id(q))); });
  r.Add("POST", base + "unpause",
        [&svc](ApiRequest& q) { return Accepted(svc.Unpause(q.ctx, Id(q))); });
  r.Add("POST", base + "kill", [&svc](ApiRequest& q) -> Result<ApiResponse> {
    auto s = ParseSignal(q.Param("signal"));
    if (!s) return Err(s.error());
    return Accepted(svc.Kill(q.ctx, Id(q), *s));
  });
  r.Add("POST", base + "rebuild", [&svc](ApiRequest& q) -> Result<ApiResponse> {
    auto image = q.Param("image");
    if (image && (image->size() < 2 || image->size() > 255)) {
      return Err(Status::Invalid("Invalid image name.", "InvalidValue"));
    }
    auto driver = q.Param("image_driver");
    if (driver && *driver != "docker" && *driver != "None") {
      return Err(Status::Invalid("image_driver must be docker.", "InvalidValue"));
    }
    return Accepted(svc.Rebuild(q.ctx, Id(q), image));
  });
  r.Add("GET", base + "logs", [d](ApiRequest& q) { return Logs(d, q); });
  r.Add("POST", base + "execute", [d](ApiRequest& q) { return Execute(d, q); });
  r.Add("POST", base + "execute_resize", [d](ApiRequest& q) { return ExecuteResize(d, q); });
  r.Add("GET", base + "attach", [d](ApiRequest& q) { return Attach(d, q); });
  r.Add("POST", base + "resize", [d](ApiRequest& q) { return Resize(d, q); });
  r.Add("GET", base + "top", [d](ApiRequest& q) { return Top(d, q); });
  r.Add("GET", base + "stats", [d](ApiRequest& q) { return Stats(d, q); });
  r.Add("GET", base + "get_archive", [d](ApiRequest& q) { return GetArchive(d, q); });
  r.Add("POST", base + "put_archive", [d](ApiRequest& q) { return PutArchive(d, q); });
  r.Add("POST", base + "commit", [d](ApiRequest& q) { return Commit(d, q); });
  r.Add("POST", base + "rename", [d](ApiRequest& q) { return Rename(d, q); }, {1, 1}, {1, 13});
  r.Add("POST", base + "resize_container", [d](ApiRequest& q) { return ResizeContainer(d, q); },
        {1, 19});
  r.Add("GET", base + "network_list", [d](ApiRequest& q) { return NetworkList(d, q); }, {1, 13});
  r.Add("POST", base + "network_attach",
        [d](ApiRequest& q) { return NetworkAttach(d, q); }, {1, 8});
  r.Add("POST", base + "network_detach",
        [d](ApiRequest& q) { return NetworkDetach(d, q); }, {1, 6});
  r.Add("POST", base + "add_security_group",
        [d](ApiRequest& q) { return NeedsNeutron(d, q, "add_security_group"); }, {1, 1}, {1, 14});
  r.Add("POST", base + "remove_security_group",
        [d](ApiRequest& q) { return NeedsNeutron(d, q, "remove_security_group"); }, {1, 1},
        {1, 14});
  r.Add("GET", base + "container_actions", [d](ApiRequest& q) { return ActionsList(d, q); });
  r.Add("GET", base + "container_actions/{request_id}",
        [d](ApiRequest& q) { return ActionShow(d, q); });
}

}  // namespace zunvm
