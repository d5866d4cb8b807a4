// Fixture of test_module_cycles_detects.
#include "a/x.h"
