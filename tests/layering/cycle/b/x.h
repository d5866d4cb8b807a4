// Fixture of test_module_cycles_detects.
#include "c/x.h"
