// zunvmd: the product, with the drivers it ships.
#include "app/driver_factory.h"
#include "app/zunvmd_main.h"

int main(int argc, char** argv) { return zunvm::ZunvmdMain(argc, argv, zunvm::MakeDriver, zunvm::CheckHost); }
