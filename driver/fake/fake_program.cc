#include "driver/fake/fake_program.h"

#include <algorithm>

#include "common/shlex.h"
#include "common/strings.h"

namespace zunvm {

namespace {

constexpr const char* kFakeKernel = "6.1.0-zunvm-fake";

// Runs one simple command (no operators); appends to `r`, returns its exit code.
int RunSimple(std::vector<std::string> words, TarFs& fs, const FakeEnv& env, FakeRun& r) {
  // Redirections: > FILE, >> FILE, >&2, 2>&1 (ignored).
  std::string redirect_file;
  bool append = false, to_err = false;
  std::vector<std::string> args;
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    if ((w == ">" || w == ">>") && i + 1 < words.size()) {
      redirect_file = words[++i];
      append = w == ">>";
    } else if (w == ">&2" || w == "1>&2") {
      to_err = true;
    } else if (w == "2>&1") {
      continue;
    } else {
      args.push_back(w);
    }
  }
  if (args.empty()) return 0;
  std::string out, err;
  int code = 0;
  const std::string cmd = args[0].substr(args[0].rfind('/') == std::string::npos ? 0 : args[0].rfind('/') + 1);
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (cmd == "echo") {
    bool newline = true;
    if (!rest.empty() && rest[0] == "-n") {
      newline = false;
      rest.erase(rest.begin());
    }
    out = Join(rest, " ") + (newline ? "\n" : "");
  } else if (cmd == "printf") {
    if (!rest.empty()) {
      std::string f = rest[0];
      std::string s;
      for (size_t i = 0; i < f.size(); ++i) {
        if (f[i] == '\\' && i + 1 < f.size() && f[i + 1] == 'n') {
          s += '\n';
          ++i;
        } else if (f[i] == '%' && i + 1 < f.size() && f[i + 1] == 's') {
          s += rest.size() > 1 ? rest[1] : "";
          ++i;
        } else {
          s += f[i];
        }
      }
      out = s;
    }
  } else if (cmd == "true" || cmd == ":") {
  } else if (cmd == "false") {
    code = 1;
  } else if (cmd == "sleep") {
    std::string v = rest.empty() ? "0" : rest[0];
    if (v == "inf" || v == "infinity") {
      r.forever = true;
    } else if (auto d = ParseDouble(v); d && *d >= 0) {
      r.seconds += *d;
    } else {
      err = "sleep: invalid time interval '" + v + "'\n";
      code = 1;
    }
  } else if (cmd == "cat") {
    if (rest.empty()) r.forever = true;
    for (const auto& f : rest) {
      auto data = fs.ReadFile(f.front() == '/' ? f : env.workdir + "/" + f);
      if (data) {
        out += *data;
      } else {
        err += "cat: " + f + ": No such file or directory\n";
        code = 1;
      }
    }
  } else if (cmd == "uname") {
    if (rest.empty() || rest[0] == "-s") out = "Linux\n";
    else if (rest[0] == "-r") out = std::string(kFakeKernel) + "\n";
    else out = "Linux " + env.hostname + " " + kFakeKernel + " #1 SMP x86_64 GNU/Linux\n";
  } else if (cmd == "hostname") {
    out = env.hostname + "\n";
  } else if (cmd == "env" || cmd == "printenv") {
    for (const auto& [k, v] : env.env) out += k + "=" + v + "\n";
  } else if (cmd == "pwd") {
    out = env.workdir + "\n";
  } else if (cmd == "id") {
    out = "uid=0(root) gid=0(root) groups=0(root)\n";
  } else if (cmd == "ls") {
    std::string dir = rest.empty() ? env.workdir : rest.back();
    if (!fs.IsDir(dir)) {
      if (fs.Exists(dir)) {
        out = dir + "\n";
      } else {
        err = "ls: " + dir + ": No such file or directory\n";
        code = 1;
      }
    } else {
      for (const auto& n : fs.List(dir)) out += n + "\n";
    }
  } else if (cmd == "touch") {
    for (const auto& f : rest) {
      if (!fs.Exists(f) && !fs.WriteFile(f, "", true).ok()) {
        err += "touch: " + f + ": No such file or directory\n";
        code = 1;
      }
    }
  } else if (cmd == "exit") {
    auto n = rest.empty() ? std::optional<long long>(0) : ParseInt(rest[0]);
    code = n ? static_cast<int>(*n & 255) : 2;
  } else if (cmd == "sh" || cmd == "bash" || cmd == "ash") {
    r.forever = true;  // an idle interactive shell
  } else if (cmd == "tail" || cmd == "top") {
    r.forever = true;
  } else {
    err = "sh: " + args[0] + ": not found\n";
    code = 127;
  }
  if (!redirect_file.empty()) {
    std::string path = redirect_file.front() == '/' ? redirect_file : env.workdir + "/" + redirect_file;
    Status st = fs.WriteFile(path, out, append);
    if (!st.ok()) {
      err += "sh: can't create " + redirect_file + ": " + st.message() + "\n";
      code = 1;
    }
    out.clear();
  }
  if (to_err) {
    err += out;
    out.clear();
  }
  r.out += out;
  r.err += err;
  return code;
}

// Splits a script on ; && || (outside quotes) and runs it. `exit` stops the script.
void RunScript(const std::string& script, TarFs& fs, const FakeEnv& env, FakeRun& r) {
  struct Part {
    std::string text;
    std::string op;  // operator before this part: "", ";", "&&", "||"
  };
  std::vector<Part> parts{{"", ""}};
  char quote = 0;
  for (size_t i = 0; i < script.size(); ++i) {
    char c = script[i];
    if (quote) {
      if (c == quote) quote = 0;
      parts.back().text += c;
    } else if (c == '\'' || c == '"') {
      quote = c;
      parts.back().text += c;
    } else if (c == ';' || c == '\n') {
      parts.push_back({"", ";"});
    } else if ((c == '&' || c == '|') && i + 1 < script.size() && script[i + 1] == c) {
      parts.push_back({"", std::string(2, c)});
      ++i;
    } else {
      parts.back().text += c;
    }
  }
  int last = 0;
  for (const auto& p : parts) {
    if (p.op == "&&" && last != 0) continue;
    if (p.op == "||" && last == 0) continue;
    auto words = ShellSplit(p.text);
    if (!words) {
      r.err += "sh: syntax error: " + words.error().message() + "\n";
      r.exit_code = 2;
      return;
    }
    if (!words->empty() && (*words)[0] == "exit") {
      RunSimple(*words, fs, env, r);
      auto n = words->size() > 1 ? ParseInt((*words)[1]) : std::optional<long long>(last);
      r.exit_code = n ? static_cast<int>(*n & 255) : 2;
      return;
    }
    last = RunSimple(*words, fs, env, r);
    if (r.forever) break;
  }
  r.exit_code = last;
}

}  // namespace

FakeRun RunFakeProgram(const std::vector<std::string>& argv, TarFs& fs, const FakeEnv& env) {
  FakeRun r;
  if (argv.empty()) {
    r.forever = true;
    return r;
  }
  std::string cmd = argv[0].substr(argv[0].rfind('/') == std::string::npos ? 0 : argv[0].rfind('/') + 1);
  if ((cmd == "sh" || cmd == "bash" || cmd == "ash") && argv.size() >= 3 && argv[1] == "-c") {
    RunScript(argv[2], fs, env, r);
    return r;
  }
  r.exit_code = RunSimple(argv, fs, env, r);
  return r;
}

}  // namespace zunvm
