// flist-tool: the `flist` subcommands as a standalone binary, for testing
// until they are reachable as `flintctl flist`.
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "flist-snapshotter/cli/flist_cli.h"

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  std::vector<std::string> args(argv + 1, argv + argc);
  flint::flist::FlistCliConfig config;
  if (const char* store = std::getenv("FLINT_FLIST_DEFAULT_STORE")) config.default_store = store;
  return flint::flist::RunFlistCommand(args, std::cout, std::cerr, config);
}
