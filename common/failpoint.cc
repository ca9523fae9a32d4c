#include "common/failpoint.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace zunvm {

void Failpoint(const char* name) {
  static const std::string armed = [] {
    const char* v = std::getenv("ZUNVM_FAILPOINT");
    return std::string(v != nullptr ? v : "");
  }();
  if (armed.empty() || armed != name) return;
  static const char msg[] = "zunvmd: failpoint reached, SIGKILL\n";
  (void)!::write(2, msg, sizeof msg - 1);
  ::kill(::getpid(), SIGKILL);
}

}  // namespace zunvm
