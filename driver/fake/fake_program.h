// What a fake container process "does": a tiny interpreter for the commands tests and demos
// run (echo, true, false, exit, sleep, cat, uname, hostname, env, pwd, id, ls, printf, touch,
// and `sh -c` scripts of those joined by ; && || with > >> and >&2 redirections). It is a test
// double, not a shell: output is produced at once and the process then lives for the summed
// `sleep` time (or forever for `sleep inf`, a bare shell, `cat` without a file, `tail -f`,
// `top`). Unknown commands print "sh: X: not found" and exit 127.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "driver/fake/tar_fs.h"

namespace zunvm {

struct FakeRun {
  std::string out, err;
  int exit_code = 0;
  double seconds = 0;     // how long the process lives after its output
  bool forever = false;   // never exits by itself
};

struct FakeEnv {
  std::map<std::string, std::string> env;
  std::string hostname;
  std::string workdir = "/";
};

FakeRun RunFakeProgram(const std::vector<std::string>& argv, TarFs& fs, const FakeEnv& env);

}  // namespace zunvm
