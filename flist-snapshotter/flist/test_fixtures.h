// Locates the shared flist fixtures; FLINT_FLIST_FIXTURES overrides the
// configured directory.
#pragma once

#include <cstdlib>
#include <string>

namespace flint::flist::testing {

inline std::string FixturePath(const std::string& name) {
  const char* env = std::getenv("FLINT_FLIST_FIXTURES");
  return std::string(env != nullptr ? env : FLINT_FLIST_FIXTURES_DIR) + "/" + name;
}

}  // namespace flint::flist::testing
