// Precompiled header of the LibTorch-heavy sources (see core/CMakeLists.txt).
#pragma once
#include "torch_compat.h"
