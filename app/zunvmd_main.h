// zunvmd's command line: flags, the config, the image commands, `check`, and the Daemon run
// until SIGINT/SIGTERM, after `checks` found nothing fatal. Returns the process exit code.
#pragma once

#include "app/driver_factory.h"
#include "app/host_check.h"

namespace zunvm {

int ZunvmdMain(int argc, char** argv, const DriverFactory& drivers, const HostCheck& checks);

}  // namespace zunvm
