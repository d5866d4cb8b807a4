// A view that breaks the layering through a core header that includes
// LibTorch: test_layering_detects expects check_layering.cmake to fail on it.
#include "train/trainer.h"
