// What a fake container process "does": a tiny interpreter for the commands tests and demos
// run. It is a test double, not a shell.
//
// Commands: echo [-n] [-e], printf, true, :, false, exit N, sleep N[smhd] (inf/infinity: for
// ever), cat [FILE...] (no file: waits on stdin for ever), tail [-n N] [-f] FILE, uname
// [-asnrm], hostname, env/printenv, pwd, cd, id, whoami, ls [DIR...], touch, mkdir [-p],
// top (for ever), sh/bash/ash (alone: an idle shell, for ever; `-c SCRIPT`; `FILE`: runs a
// script from the container filesystem). Anything else prints "sh: CMD: not found" to stderr
// and exits 127.
//
// Scripts (`sh -c`): commands joined by ; && || & (run in order) or newlines; single and
// double quotes, backslash escapes, $NAME ${NAME} $? expansion (no word splitting of values),
// NAME=value assignments, # comments, and redirections > >> 2> 2>> &> >&2 2>&1 to files of the
// container filesystem (/dev/null discards). Pipes and input redirection are refused as a
// syntax error (exit 2).
//
// Timing: everything is computed at once. `sleep` advances a simulated clock; each output
// chunk carries the time it is produced at, and the process exits at `seconds` (unless it runs
// for ever). File side effects are applied immediately, whatever their simulated time.
//
// Thread safety: a pure function of its arguments apart from writes into `fs`; the caller
// serialises access to `fs`.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "driver/driver.h"
#include "tests/fakes/tar_fs.h"

namespace zunvm {

inline constexpr const char* kFakeKernelRelease = "6.1.0-zunvm-fake";

struct FakeChunk {
  double at = 0;  // seconds after the process started
  Stream stream = Stream::kStdout;
  std::string data;
};

struct FakeRun {
  std::vector<FakeChunk> output;  // in production order; `at` never decreases
  int exit_code = 0;              // meaningless when `forever`
  double seconds = 0;             // when the process exits (>= every chunk's `at`)
  bool forever = false;           // never exits by itself (output still arrives)

  // The output as one string, optionally of one stream only.
  std::string Text(std::optional<Stream> only = std::nullopt) const;
};

struct FakeEnv {
  std::map<std::string, std::string> env;
  std::string hostname = "fake";
  std::string workdir = "/";
  std::string user;  // empty: root
};

FakeRun RunFakeProgram(const std::vector<std::string>& argv, TarFs& fs, const FakeEnv& env);

}  // namespace zunvm
