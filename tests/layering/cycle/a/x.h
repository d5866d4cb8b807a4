// Fixture of test_module_cycles_detects: a → b → c → a.
#include "b/x.h"
