#include "tests/fakes/fake_program.h"

#include <cctype>
#include <cmath>

#include "common/strings.h"

namespace zunvm {

namespace {

std::string BaseName(const std::string& s) {
  auto slash = s.rfind('/');
  return slash == std::string::npos ? s : s.substr(slash + 1);
}

bool IsShell(const std::string& name) {
  return name == "sh" || name == "bash" || name == "ash" || name == "dash";
}

bool IsName(char c, bool first) {
  return c == '_' || std::isalpha(static_cast<unsigned char>(c)) ||
         (!first && std::isdigit(static_cast<unsigned char>(c)));
}

// "\n" "\t" "\\" ... as in printf formats and `echo -e`.
std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    char c = s[++i];
    out += c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c == '0' ? '\0' : c;
  }
  return out;
}

// printf with %s %d %i %c %%; the format is reused while arguments remain.
std::string Printf(const std::string& format, const std::vector<std::string>& args) {
  std::string fmt = Unescape(format), out;
  size_t next = 0;
  do {
    for (size_t i = 0; i < fmt.size(); ++i) {
      if (fmt[i] != '%' || i + 1 == fmt.size()) {
        out += fmt[i];
        continue;
      }
      char d = fmt[++i];
      if (d == '%') {
        out += '%';
      } else if (d == 's' || d == 'c' || d == 'd' || d == 'i') {
        std::string a = next < args.size() ? args[next] : "";
        ++next;
        if (d == 'c') a = a.substr(0, 1);
        if (d == 'd' || d == 'i') a = std::to_string(ParseInt(a).value_or(0));
        out += a;
      } else {
        out += '%';
        out += d;
      }
    }
  } while (next > 0 && next < args.size());
  return out;
}

// Seconds of `sleep` arguments (GNU sums them; s/m/h/d suffixes); nullopt when invalid,
// +inf for inf/infinity.
std::optional<double> SleepSeconds(const std::vector<std::string>& args) {
  if (args.empty()) return std::nullopt;
  double total = 0;
  for (std::string a : args) {
    if (a == "inf" || a == "infinity") return HUGE_VAL;
    double unit = 1;
    if (!a.empty() && std::string("smhd").find(a.back()) != std::string::npos) {
      unit = a.back() == 'm' ? 60 : a.back() == 'h' ? 3600 : a.back() == 'd' ? 86400 : 1;
      a.pop_back();
    }
    auto v = ParseDouble(a);
    if (!v || !std::isfinite(*v) || *v < 0) return std::nullopt;
    total += *v * unit;
  }
  return total;
}

// A script cut at its operators: each command with the operator joining it to the previous.
struct Command {
  std::string op;  // "", ";", "&&", "||"
  std::string text;
};

Result<std::vector<Command>> SplitScript(const std::string& s) {
  std::vector<Command> out{{"", ""}};
  char quote = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    std::string& cur = out.back().text;
    if (quote) {
      if (c == '\\' && quote == '"' && i + 1 < s.size()) {
        cur += c;
        c = s[++i];
      } else if (c == quote) {
        quote = 0;
      }
      cur += c;
      continue;
    }
    char next = i + 1 < s.size() ? s[i + 1] : 0;
    char prev = i > 0 ? s[i - 1] : 0;
    if (c == '\\' && next) {
      cur += c;
      cur += s[++i];
    } else if (c == '\'' || c == '"') {
      quote = c;
      cur += c;
    } else if (c == '#' && (cur.empty() || std::isspace(static_cast<unsigned char>(prev)))) {
      while (i + 1 < s.size() && s[i + 1] != '\n') ++i;
    } else if ((c == '&' || c == '|') && next == c) {
      out.push_back({std::string(2, c), ""});
      ++i;
    } else if (c == '|') {
      return Err(Status::Invalid("pipes are not supported by the fake shell"));
    } else if (c == '<') {
      return Err(Status::Invalid("input redirection is not supported by the fake shell"));
    } else if (c == ';' || c == '\n' || (c == '&' && prev != '>' && next != '>')) {
      out.push_back({";", ""});
    } else {
      cur += c;
    }
  }
  if (quote) return Err(Status::Invalid("unterminated quoted string"));
  return out;
}

// One word of a command; `redir` marks a redirection operator such as ">>", "2>" or ">&2".
struct Word {
  std::string text;
  bool redir = false;
};

class Interp {
 public:
  Interp(TarFs& fs, const FakeEnv& env) : fs_(fs), vars_(env.env), env_(env), cwd_(env.workdir) {}

  FakeRun run;

  // Runs one command given as an argv (no expansion); returns its exit code.
  int Run(const std::vector<std::string>& argv);

 private:
  // Where a stream currently goes.
  struct Target {
    enum Kind { kStdout, kStderr, kFile, kNull } kind;
    std::string path;
  };

  int Script(const std::string& text);
  int Simple(const std::string& text, int last);
  Result<std::vector<Word>> Tokenize(const std::string& s, int last) const;
  size_t Expand(const std::string& s, size_t i, int last, std::string& out) const;
  // Applies one redirection; false (with a message already written) when it fails.
  bool Redirect(const std::string& op, const std::string& file);

  void Emit(Stream stream, const std::string& data);
  void Out(const std::string& s) { Emit(Stream::kStdout, s); }
  void Error(const std::string& s) { Emit(Stream::kStderr, s); }
  std::string Abs(const std::string& p) const { return p.starts_with('/') ? p : cwd_ + "/" + p; }
  std::string User() const { return env_.user.empty() ? "root" : env_.user; }

  int Echo(std::vector<std::string> args);
  int Cat(const std::vector<std::string>& args);
  int Tail(const std::vector<std::string>& args);
  int Uname(const std::vector<std::string>& args);
  int Ls(const std::vector<std::string>& args);
  int Id();
  int Shell(const std::vector<std::string>& args);

  TarFs& fs_;
  std::map<std::string, std::string> vars_;
  const FakeEnv& env_;
  std::string cwd_;
  Target route_[2] = {{Target::kStdout, ""}, {Target::kStderr, ""}};  // stdout, stderr
  bool exiting_ = false;  // `exit` ran: the current script ends
};

void Interp::Emit(Stream stream, const std::string& data) {
  if (data.empty()) return;
  const Target& t = route_[stream == Stream::kStdout ? 0 : 1];
  if (t.kind == Target::kNull) return;
  if (t.kind == Target::kFile) {
    (void)fs_.WriteFile(t.path, data, true);  // opened (checked) by Redirect
    return;
  }
  Stream s = t.kind == Target::kStdout ? Stream::kStdout : Stream::kStderr;
  if (!run.output.empty() && run.output.back().stream == s && run.output.back().at == run.seconds) {
    run.output.back().data += data;
  } else {
    run.output.push_back({run.seconds, s, data});
  }
}

size_t Interp::Expand(const std::string& s, size_t i, int last, std::string& out) const {
  // s[i] == '$'
  size_t j = i + 1;
  if (j < s.size() && (s[j] == '?' || s[j] == '$' || s[j] == '0')) {
    out += s[j] == '?' ? std::to_string(last) : s[j] == '$' ? "1" : "sh";
    return j + 1;
  }
  std::string name;
  if (j < s.size() && s[j] == '{') {
    size_t end = s.find('}', j);
    if (end == std::string::npos) {
      out += '$';
      return j;
    }
    name = s.substr(j + 1, end - j - 1);
    j = end + 1;
  } else {
    while (j < s.size() && IsName(s[j], name.empty())) name += s[j++];
    if (name.empty()) {
      out += '$';
      return j;
    }
  }
  auto it = vars_.find(name);
  if (it != vars_.end()) out += it->second;
  return j;
}

Result<std::vector<Word>> Interp::Tokenize(const std::string& s, int last) const {
  std::vector<Word> out;
  std::string cur;
  bool in_word = false, quoted = false;
  auto flush = [&] {
    if (in_word) out.push_back({cur, false});
    cur.clear();
    in_word = quoted = false;
  };
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      flush();
      ++i;
    } else if (c == '\'') {
      size_t end = s.find('\'', i + 1);
      if (end == std::string::npos) return Err(Status::Invalid("unterminated quoted string"));
      cur.append(s, i + 1, end - i - 1);
      in_word = quoted = true;
      i = end + 1;
    } else if (c == '"') {
      in_word = quoted = true;
      for (++i; i < s.size() && s[i] != '"';) {
        if (s[i] == '\\' && i + 1 < s.size() &&
            std::string("\"\\$`").find(s[i + 1]) != std::string::npos) {
          cur += s[i + 1];
          i += 2;
        } else if (s[i] == '$') {
          i = Expand(s, i, last, cur);
        } else {
          cur += s[i++];
        }
      }
      if (i >= s.size()) return Err(Status::Invalid("unterminated quoted string"));
      ++i;
    } else if (c == '\\') {
      if (i + 1 < s.size()) cur += s[i + 1];
      in_word = quoted = true;
      i += 2;
    } else if (c == '$') {
      i = Expand(s, i, last, cur);
      in_word = true;
    } else if (c == '>' || (c == '&' && i + 1 < s.size() && s[i + 1] == '>')) {
      std::string op;
      if (in_word && !quoted && (cur == "1" || cur == "2")) {
        op = cur;
        cur.clear();
        in_word = false;
      }
      flush();
      if (c == '&') op += s[i++];
      op += s[i++];
      if (i < s.size() && s[i] == '>') op += s[i++];
      if (i < s.size() && s[i] == '&') {
        op += s[i++];
        while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) op += s[i++];
      }
      out.push_back({op, true});
    } else {
      cur += c;
      in_word = true;
      ++i;
    }
  }
  flush();
  return out;
}

bool Interp::Redirect(const std::string& op, const std::string& file) {
  Target& out = route_[0];
  Target& err = route_[1];
  if (op == ">&2" || op == "1>&2") {
    out = err;
    return true;
  }
  if (op == "2>&1") {
    err = out;
    return true;
  }
  if (op.find('&') != std::string::npos && !op.starts_with("&>")) {
    Error("sh: unsupported redirection " + op + "\n");
    return false;
  }
  Target t{Target::kFile, Abs(file)};
  if (TarFs::Normalize(t.path) == "/dev/null") {
    t.kind = Target::kNull;
  } else {
    Status st = fs_.WriteFile(t.path, "", /*append=*/op.ends_with(">>"));
    if (!st.ok()) {
      Error("sh: can't create " + file + ": " +
            (st.code() == Code::kNotFound ? "nonexistent directory" : "Is a directory") + "\n");
      return false;
    }
  }
  if (op.starts_with("2"))
    err = t;
  else if (op.starts_with("&"))
    out = err = t;
  else
    out = t;
  return true;
}

int Interp::Script(const std::string& text) {
  auto commands = SplitScript(text);
  if (!commands) {
    Error("sh: syntax error: " + commands.error().message() + "\n");
    return 2;
  }
  int last = 0;
  for (const auto& c : *commands) {
    if ((c.op == "&&" && last != 0) || (c.op == "||" && last == 0)) continue;
    last = Simple(c.text, last);
    if (exiting_ || run.forever) break;
  }
  return last;
}

int Interp::Simple(const std::string& text, int last) {
  auto words = Tokenize(text, last);
  if (!words) {
    Error("sh: syntax error: " + words.error().message() + "\n");
    return 2;
  }
  std::vector<std::string> argv;
  Target saved[2] = {route_[0], route_[1]};
  int code = 0;
  bool ok = true;
  for (size_t i = 0; i < words->size() && ok; ++i) {
    const Word& w = (*words)[i];
    if (!w.redir) {
      argv.push_back(w.text);
    } else if (w.text.find('&') != std::string::npos && !w.text.starts_with("&>")) {
      ok = Redirect(w.text, "");
    } else if (i + 1 < words->size() && !(*words)[i + 1].redir) {
      ok = Redirect(w.text, (*words)[++i].text);
    } else {
      Error("sh: syntax error: redirection without a file\n");
      return 2;
    }
  }
  // Leading NAME=value words are assignments (the shell's own variables here).
  size_t assigns = 0;
  while (assigns < argv.size()) {
    auto eq = argv[assigns].find('=');
    if (eq == std::string::npos || eq == 0 || !IsName(argv[assigns][0], true)) break;
    ++assigns;
  }
  // Assignments before a command would apply to it alone; the fake drops those.
  bool sets_vars = assigns == argv.size() || argv[assigns] == "export";
  if (!ok) {
    code = 1;
  } else if (sets_vars) {
    code = argv.empty() ? last : 0;
  } else if (argv[assigns] == "exit") {
    code = argv.size() > assigns + 1
               ? static_cast<int>(ParseInt(argv[assigns + 1]).value_or(2) & 255)
               : last;
    exiting_ = true;
  } else {
    code = Run(std::vector<std::string>(argv.begin() + static_cast<long>(assigns), argv.end()));
  }
  for (size_t i = 0; ok && sets_vars && i < argv.size(); ++i) {
    auto eq = argv[i].find('=');
    if (eq != std::string::npos && eq > 0) vars_[argv[i].substr(0, eq)] = argv[i].substr(eq + 1);
  }
  route_[0] = saved[0];
  route_[1] = saved[1];
  return code;
}

int Interp::Run(const std::vector<std::string>& argv) {
  const std::string name = BaseName(argv.at(0));
  const std::vector<std::string> args(argv.begin() + 1, argv.end());
  if (name == "echo") return Echo(args);
  if (name == "printf") {
    if (args.empty()) {
      Error("printf: usage: printf FORMAT [ARGUMENT]...\n");
      return 1;
    }
    Out(Printf(args[0], std::vector<std::string>(args.begin() + 1, args.end())));
    return 0;
  }
  if (name == "true" || name == ":") return 0;
  if (name == "false") return 1;
  if (name == "exit")
    return args.empty() ? 0 : static_cast<int>(ParseInt(args[0]).value_or(2) & 255);
  if (name == "sleep") {
    auto s = SleepSeconds(args);
    if (!s) {
      Error("sleep: invalid time interval '" + (args.empty() ? "" : args[0]) + "'\n");
      return 1;
    }
    if (std::isinf(*s))
      run.forever = true;
    else
      run.seconds += *s;
    return 0;
  }
  if (name == "cat") return Cat(args);
  if (name == "tail") return Tail(args);
  if (name == "uname") return Uname(args);
  if (name == "hostname") {
    Out(env_.hostname + "\n");
    return 0;
  }
  if (name == "env" || name == "printenv") {
    if (!args.empty()) {
      auto it = vars_.find(args[0]);
      if (it == vars_.end()) return 1;
      Out(it->second + "\n");
      return 0;
    }
    for (const auto& [k, v] : vars_) Out(k + "=" + v + "\n");
    return 0;
  }
  if (name == "pwd") {
    Out(cwd_ + "\n");
    return 0;
  }
  if (name == "cd") {
    std::string dir = TarFs::Normalize(Abs(args.empty() ? "/root" : args[0]));
    if (!fs_.IsDir(dir)) {
      Error("sh: cd: can't cd to " + (args.empty() ? dir : args[0]) + "\n");
      return 2;
    }
    cwd_ = dir;
    return 0;
  }
  if (name == "id") return Id();
  if (name == "whoami") {
    Out(User() + "\n");
    return 0;
  }
  if (name == "ls") return Ls(args);
  if (name == "touch" || name == "mkdir") {
    bool parents = false;
    int code = 0;
    for (const auto& a : args) {
      if (a == "-p") {
        parents = true;
        continue;
      }
      if (name == "touch") {
        if (fs_.WriteFile(Abs(a), "", true).ok()) continue;
        Error("touch: " + a + ": No such file or directory\n");
      } else if (fs_.Lookup(Abs(a)) && !parents) {
        Error("mkdir: can't create directory '" + a + "': File exists\n");
      } else if (!parents && !fs_.IsDir(Abs(a) + "/..")) {
        Error("mkdir: can't create directory '" + a + "': No such file or directory\n");
      } else if (fs_.MakeDirs(Abs(a)).ok()) {
        continue;
      } else {
        Error("mkdir: can't create directory '" + a + "': Not a directory\n");
      }
      code = 1;
    }
    return code;
  }
  if (name == "top") {
    run.forever = true;
    return 0;
  }
  if (IsShell(name)) return Shell(args);
  Error("sh: " + argv[0] + ": not found\n");
  return 127;
}

int Interp::Echo(std::vector<std::string> args) {
  bool newline = true, escapes = false;
  while (!args.empty() &&
         (args[0] == "-n" || args[0] == "-e" || args[0] == "-ne" || args[0] == "-en")) {
    if (args[0].find('n') != std::string::npos) newline = false;
    if (args[0].find('e') != std::string::npos) escapes = true;
    args.erase(args.begin());
  }
  std::string text = Join(args, " ");
  Out((escapes ? Unescape(text) : text) + (newline ? "\n" : ""));
  return 0;
}

int Interp::Cat(const std::vector<std::string>& args) {
  if (args.empty() || (args.size() == 1 && args[0] == "-")) {
    run.forever = true;  // reads a stdin that never ends
    return 0;
  }
  int code = 0;
  for (const auto& f : args) {
    auto data = fs_.ReadFile(Abs(f));
    if (data) {
      Out(*data);
      continue;
    }
    Error("cat: " + f +
          (data.error().code() == Code::kNotFound ? ": No such file or directory\n"
                                                  : ": Is a directory\n"));
    code = 1;
  }
  return code;
}

int Interp::Tail(const std::vector<std::string>& args) {
  size_t lines = 10;
  bool follow = false;
  std::vector<std::string> files;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "-f" || args[i] == "-F" || args[i] == "--follow") {
      follow = true;
    } else if (args[i] == "-n" && i + 1 < args.size()) {
      lines = static_cast<size_t>(std::max(0LL, ParseInt(args[++i]).value_or(10)));
    } else {
      files.push_back(args[i]);
    }
  }
  int code = 0;
  for (const auto& f : files) {
    auto data = fs_.ReadFile(Abs(f));
    if (!data) {
      Error("tail: can't open '" + f + "': No such file or directory\n");
      code = 1;
      continue;
    }
    size_t start = data->size(), seen = 0;
    if (start > 0 && (*data)[start - 1] == '\n') --start;
    while (start > 0 && seen < lines) {
      if ((*data)[--start] == '\n' && ++seen == lines) ++start;
    }
    Out(data->substr(lines == 0 ? data->size() : start));
  }
  if (follow || files.empty()) run.forever = true;
  return code;
}

int Interp::Uname(const std::vector<std::string>& args) {
  std::string flags;
  for (const auto& a : args) {
    if (a.size() < 2 || a[0] != '-') {
      Error("uname: extra operand '" + a + "'\n");
      return 1;
    }
    flags += a.substr(1);
  }
  if (flags.empty()) flags = "s";
  if (flags.find('a') != std::string::npos) flags = "snrvmo";
  std::vector<std::string> parts;
  for (char f : std::string("snrvmo")) {
    if (flags.find(f) == std::string::npos) continue;
    parts.push_back(f == 's'   ? "Linux"
                    : f == 'n' ? env_.hostname
                    : f == 'r' ? kFakeKernelRelease
                    : f == 'v' ? "#1 SMP PREEMPT_DYNAMIC"
                    : f == 'm' ? "x86_64"
                               : "GNU/Linux");
  }
  Out(Join(parts, " ") + "\n");
  return 0;
}

int Interp::Ls(const std::vector<std::string>& args) {
  std::vector<std::string> paths;
  for (const auto& a : args) {
    if (!a.starts_with('-')) paths.push_back(a);
  }
  if (paths.empty()) paths.push_back(".");
  int code = 0;
  for (size_t i = 0; i < paths.size(); ++i) {
    const TarFs::Node* n = fs_.Lookup(Abs(paths[i]));
    if (!n) {
      Error("ls: " + paths[i] + ": No such file or directory\n");
      code = 1;
      continue;
    }
    if (n->type != TarFs::Type::kDir) {
      Out(paths[i] + "\n");
      continue;
    }
    if (paths.size() > 1) Out((i > 0 ? "\n" : "") + paths[i] + ":\n");
    auto names = fs_.List(Abs(paths[i]));
    for (const auto& name : names.value_or(std::vector<std::string>{})) Out(name + "\n");
  }
  return code;
}

int Interp::Id() {
  std::string user = User();
  std::string uid = user == "root" ? "0" : "1000", gid = uid;
  if (!user.empty() && std::isdigit(static_cast<unsigned char>(user[0]))) {
    auto colon = user.find(':');
    uid = user.substr(0, colon);
    gid = colon == std::string::npos ? uid : user.substr(colon + 1);
    Out("uid=" + uid + " gid=" + gid + " groups=" + gid + "\n");
    return 0;
  }
  Out("uid=" + uid + "(" + user + ") gid=" + gid + "(" + user + ") groups=" + gid + "(" + user +
      ")\n");
  return 0;
}

int Interp::Shell(const std::vector<std::string>& args) {
  if (args.empty() || (args[0].starts_with('-') && args[0] != "-c")) {
    run.forever = true;  // an idle interactive shell
    return 0;
  }
  std::string script;
  if (args[0] == "-c") {
    if (args.size() < 2) {
      Error("sh: -c requires an argument\n");
      return 2;
    }
    script = args[1];
  } else {
    auto data = fs_.ReadFile(Abs(args[0]));
    if (!data) {
      Error("sh: can't open '" + args[0] + "': No such file or directory\n");
      return 2;
    }
    script = *data;
  }
  // A nested shell: `exit` ends only it, and its variables and directory are its own.
  auto saved_vars = vars_;
  auto saved_cwd = cwd_;
  int code = Script(script);
  exiting_ = false;
  vars_ = std::move(saved_vars);
  cwd_ = std::move(saved_cwd);
  return code;
}

}  // namespace

std::string FakeRun::Text(std::optional<Stream> only) const {
  std::string out;
  for (const auto& c : output) {
    if (!only || c.stream == *only) out += c.data;
  }
  return out;
}

FakeRun RunFakeProgram(const std::vector<std::string>& argv, TarFs& fs, const FakeEnv& env) {
  Interp interp(fs, env);
  if (argv.empty()) {
    interp.run.forever = true;  // like an image whose default command is a shell
    return interp.run;
  }
  interp.run.exit_code = interp.Run(argv);
  return std::move(interp.run);
}

}  // namespace zunvm
