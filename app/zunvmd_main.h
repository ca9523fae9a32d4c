// zunvmd's command line: flags, the config, the image commands, and the Daemon run until
// SIGINT/SIGTERM. Returns the process exit code.
#pragma once

#include "app/driver_factory.h"

namespace zunvm {

int ZunvmdMain(int argc, char** argv, const DriverFactory& drivers);

}  // namespace zunvm
