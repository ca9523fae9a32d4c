// zunvmd-fake: zunvmd that also offers the fake driver ([DEFAULT] container_driver or --driver
// `fake`), for the API tests, the Zun driver's API-level tests and the API bench. A test build
// only: never installed.
#include "app/zunvmd_main.h"
#include "tests/fakes/test_drivers.h"

int main(int argc, char** argv) { return zunvm::ZunvmdMain(argc, argv, zunvm::MakeTestDriver, zunvm::CheckHostBasics); }
