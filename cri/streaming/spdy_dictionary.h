#pragma once

#include <cstddef>

namespace flint::streaming {

extern const unsigned char kSpdy3HeaderDictionary[];
extern const size_t kSpdy3HeaderDictionarySize;

}  // namespace flint::streaming
